/**
 * Remote configuration: a config pushed by an uplink's server (a ThingsBoard shared attribute, a Tenta
 * `configurations/<sensor>` message) becomes the running configuration — or is refused, with the reason — and is
 * acknowledged through the outbox like any record, so the acknowledgement reaches the server even across outages.
 *
 * A push is `{revision, config}` (the uplink sinks unwrap their servers' envelopes). A revision not above the last
 * one processed is ignored (processed revisions are kept in `<data_dir>/state/remote-config.json`, outside any
 * version directory, so a restart or an update does not apply an old push again). The config is written to a
 * temporary file beside the running one and checked exactly as `sigflow check` would (schema, `${VAR}`s from the
 * environment and .env, DBC files): invalid → `rejected` with the problems, the running config untouched; valid →
 * renamed over the config file (atomic; the previous one kept as `<file>.previous`) and applied as SIGHUP applies
 * a file — only the units it changes restart. Secrets never leave: the acknowledgement and the log carry the
 * problems and changes with every secret value of the pushed config and the environment replaced by
 * `<redacted>`.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { REDACTED } from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import { replaceKeepingPrevious, writeFileAtomicSync } from '../io/index.js';
import type { TelemetryRecord } from '../records/index.js';

/** What came of a push. */
export interface RemoteConfigOutcome {
  readonly revision: number;
  readonly status: 'accepted' | 'rejected' | 'ignored';
  /** Problems (rejected), or what changed (accepted), secrets redacted. */
  readonly detail: readonly string[];
}

export interface RemoteConfigOptions {
  /** The config file `sigflow run -c` reads. */
  readonly path: string;
  /** Where the processed revision is kept (`<outbox.data_dir>/state`). */
  readonly stateDir: string;
  /** The measurement of the acknowledgement records. */
  readonly ackMeasurement: string;
  /** Checks a config file as `sigflow check` does; throws with the problems. Returns the secrets it substituted. */
  readonly check: (file: string) => { secrets: readonly string[] };
  /** Applies the (valid, written) config file: what changed, one line each. */
  readonly apply: () => Promise<string[]>;
  /** Hands the acknowledgement to the outbox. */
  readonly enqueue: (records: TelemetryRecord[]) => Promise<void>;
  readonly logger: Logger;
  /** The running sigflow's version: a push whose `updates.version` differs installs that version. */
  readonly version?: string;
  /**
   * Installs `version` with the pushed config waiting in `next` (`<path>.next`): stage, self-test with that
   * config, switch, start the guard, then stop this process in order (the service manager starts the new one).
   * Throws with the reason when it cannot (the push is then rejected and this version keeps running).
   * Absent: updates are refused.
   */
  readonly update?: (version: string, next: string) => Promise<void>;
}

/** Keys whose values are secrets wherever they appear in a config (as redactSecrets in src/config). */
const SECRET_KEY = /pass(word)?|secret|token|credential|private|api_?key|access_?key|^key$/i;

/** Every string value under a secret-looking key. */
function secretValues(value: unknown, out: string[] = [], secretKey = false): string[] {
  if (typeof value === 'string') {
    if (secretKey && value.length > 0) out.push(value);
  } else if (Array.isArray(value)) for (const v of value) secretValues(v, out, secretKey);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) secretValues(v, out, secretKey || SECRET_KEY.test(k));
  return out;
}

/** The text with every secret replaced (longest first, so a secret containing another is replaced whole). */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...new Set(secrets)].filter((x) => x.length >= 3).sort((a, b) => b.length - a.length))
    out = out.split(s).join(REDACTED);
  return out;
}

/** `{revision, config}` from a push as the uplinks hand it over (or a reason it is not one). */
export function parsePush(payload: unknown): { revision: number; config: Record<string, unknown> } | string {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return 'not an object';
  const p = payload as Record<string, unknown>;
  const revision = p.revision;
  const config = p.config ?? p.configuration;
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0)
    return 'no "revision" (a whole number ≥ 0)';
  if (!config || typeof config !== 'object' || Array.isArray(config)) return 'no "config" object';
  return { revision, config: config as Record<string, unknown> };
}

export class RemoteConfig {
  private lastRevision: number;
  /** The last revision's status, and whether its acknowledgement was handed to the outbox. */
  private lastStatus = '';
  private lastAcked = true;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly stateFile: string;

  constructor(private readonly o: RemoteConfigOptions) {
    this.stateFile = join(o.stateDir, 'remote-config.json');
    this.lastRevision = this.readState();
  }

  /** The last revision processed (accepted or rejected), -1 before any. */
  get revision(): number {
    return this.lastRevision;
  }

  private readState(): number {
    try {
      const s = JSON.parse(readFileSync(this.stateFile, 'utf8')) as {
        revision?: unknown;
        status?: unknown;
        acked?: unknown;
      };
      this.lastStatus = typeof s.status === 'string' ? s.status : '';
      this.lastAcked = s.acked !== false; // (a state written before acks were recorded: taken as acknowledged)
      return typeof s.revision === 'number' ? s.revision : -1;
    } catch {
      return -1;
    }
  }

  private writeState(revision: number, status: string, to?: string, acked = false): void {
    // synced before and after the rename: after a power loss the state names the last revision applied, never an
    // empty file (which would read as "none" and apply an older push again)
    writeFileAtomicSync(
      this.stateFile,
      `${JSON.stringify({ revision, status, ...(to ? { to } : {}), acked, at: new Date().toISOString() })}\n`,
    );
    this.lastRevision = revision;
    this.lastStatus = status;
    this.lastAcked = acked;
  }

  /** Acknowledges an outcome (hands it to the outbox), then records that it was. */
  private async ackAndRecord(o: RemoteConfigOutcome): Promise<void> {
    await this.ack(o);
    if (o.revision === this.lastRevision) this.writeState(o.revision, this.lastStatus, undefined, true);
  }

  /** A push from `source` (an uplink's name); pushes are handled one at a time, in arrival order. */
  push(source: string, payload: unknown): Promise<RemoteConfigOutcome | undefined> {
    const next = this.chain.then(() => this.handle(source, payload));
    this.chain = next.catch(() => {});
    return next;
  }

  private async handle(source: string, payload: unknown): Promise<RemoteConfigOutcome | undefined> {
    const log = this.o.logger;
    const push = parsePush(payload);
    if (typeof push === 'string') {
      log.warn({ source }, `remote config from ${source} ignored: ${push}`);
      return undefined;
    }
    const secrets = secretValues(push.config);
    // the revision processed last, whose acknowledgement a crash kept from the outbox (during apply): the server
    // sends it again (ThingsBoard on every connect), and gets its answer now — it was ignored without one
    if (
      push.revision === this.lastRevision &&
      !this.lastAcked &&
      (this.lastStatus === 'accepted' || this.lastStatus === 'rejected')
    ) {
      const outcome: RemoteConfigOutcome = {
        revision: push.revision,
        status: this.lastStatus,
        detail: [`revision ${push.revision} was ${this.lastStatus} before a restart`],
      };
      log.info(
        { source, revision: push.revision },
        `remote config revision ${push.revision}: acknowledged after a restart`,
      );
      await this.ackAndRecord(outcome);
      return outcome;
    }
    if (push.revision <= this.lastRevision) {
      log.info(
        { source, revision: push.revision },
        `remote config revision ${push.revision} from ${source} ignored: revision ${this.lastRevision} was processed already`,
      );
      return {
        revision: push.revision,
        status: 'ignored',
        detail: [`revision ${this.lastRevision} was processed already`],
      };
    }
    const target = (push.config.updates as { version?: unknown } | undefined)?.version;
    if (typeof target === 'string' && target !== this.o.version) return this.updateTo(source, push, target, secrets);
    const dir = dirname(this.o.path);
    const tmp = join(dir, `.${basename(this.o.path)}.remote-${push.revision}`);
    let outcome: RemoteConfigOutcome;
    try {
      writeFileSync(
        tmp,
        `# revision ${push.revision}, pushed by ${source} at ${new Date().toISOString()}\n${stringify(push.config)}`,
        {
          mode: 0o600,
        },
      );
      let checked: { secrets: readonly string[] };
      try {
        checked = this.o.check(tmp);
      } catch (e) {
        const problems = ((e as { problems?: readonly string[] }).problems ?? [(e as Error).message]).map((l) =>
          redactText(l.split(tmp).join('config'), secrets),
        );
        outcome = { revision: push.revision, status: 'rejected', detail: problems };
        this.writeState(push.revision, 'rejected');
        log.warn(
          { source, revision: push.revision, problems },
          `remote config revision ${push.revision} from ${source} rejected; the running config is kept`,
        );
        await this.ackAndRecord(outcome);
        return outcome;
      }
      replaceKeepingPrevious(this.o.path, tmp, `${this.o.path}.previous`);
      this.writeState(push.revision, 'accepted');
      const changes = (await this.o.apply()).map((l) => redactText(l, [...secrets, ...checked.secrets]));
      outcome = { revision: push.revision, status: 'accepted', detail: changes };
      log.info(
        { source, revision: push.revision, changes },
        `remote config revision ${push.revision} from ${source} accepted: ${changes.length ? changes.join('; ') : 'nothing changed'}`,
      );
    } finally {
      rmSync(tmp, { force: true });
    }
    await this.ackAndRecord(outcome);
    return outcome;
  }

  /**
   * A push naming another version: its config waits in `<path>.next` (the new version adopts it at start; checked
   * by the new version's self-test, not by this version's schema) and the update is made; the acknowledgement is
   * sent by whichever version learns the outcome (reportUpdate).
   */
  private async updateTo(
    source: string,
    push: { revision: number; config: Record<string, unknown> },
    version: string,
    secrets: readonly string[],
  ): Promise<RemoteConfigOutcome> {
    const next = `${this.o.path}.next`;
    writeFileAtomicSync(
      next,
      `# revision ${push.revision} (sigflow ${version}), pushed by ${source} at ${new Date().toISOString()}\n${stringify(push.config)}`,
      0o600,
    );
    try {
      if (!this.o.update)
        throw new SigflowError(
          'SF_ERR_UPDATE_LAYOUT',
          'this sigflow cannot update itself: its config has no updates section',
        );
      this.writeState(push.revision, 'updating', version);
      this.o.logger.info(
        { source, revision: push.revision, version },
        `remote config revision ${push.revision} from ${source}: updating to sigflow ${version}`,
      );
      await this.o.update(version, next);
      return { revision: push.revision, status: 'accepted', detail: [`updating to ${version}`] };
    } catch (e) {
      rmSync(next, { force: true });
      const reason = redactText((e as Error).message, secrets);
      const outcome: RemoteConfigOutcome = {
        revision: push.revision,
        status: 'rejected',
        detail: [`update to ${version} refused: ${reason}`],
      };
      this.writeState(push.revision, 'rejected');
      this.o.logger.warn(
        { source, revision: push.revision, version },
        `remote config revision ${push.revision}: ${outcome.detail[0]}`,
      );
      await this.ackAndRecord(outcome);
      return outcome;
    }
  }

  /**
   * The outcome of an update a push asked for, learnt at start (the new version: done; the old one after a
   * rollback: rolled_back): acknowledged for the revision that asked for it.
   */
  async reportUpdate(outcome: { status: 'done' | 'rolled_back'; to: string; reason?: string }): Promise<void> {
    let st: { revision?: number; status?: string; to?: string };
    try {
      st = JSON.parse(readFileSync(this.stateFile, 'utf8'));
    } catch {
      return;
    }
    if (st.status !== 'updating' || st.to !== outcome.to || typeof st.revision !== 'number') return;
    const ok = outcome.status === 'done';
    this.writeState(st.revision, ok ? 'accepted' : 'rejected');
    await this.ackAndRecord({
      revision: st.revision,
      status: ok ? 'accepted' : 'rejected',
      detail: [
        ok
          ? `running sigflow ${outcome.to}`
          : `update to ${outcome.to} rolled back: ${outcome.reason ?? 'not healthy in time'}`,
      ],
    });
  }

  private async ack(o: RemoteConfigOutcome): Promise<void> {
    await this.o.enqueue([
      {
        time: BigInt(Date.now()) * 1_000_000n,
        measurement: this.o.ackMeasurement,
        tags: {},
        fields: {
          revision: o.revision,
          success: o.status === 'accepted',
          status: o.status,
          ...(o.detail.length ? { detail: o.detail.join('; ').slice(0, 4000) } : {}),
        },
      },
    ]);
  }
}
