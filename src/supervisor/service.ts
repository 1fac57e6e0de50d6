/**
 * `sigflow run` and `sigflow check` as library calls: read and validate a config file (with its .env files),
 * check what the units will need before starting any (DBC files load, sinks can be built), run the supervisor
 * until SIGINT/SIGTERM, re-read the file on SIGHUP (a valid config is applied to the units it changes, an invalid
 * one is reported and the running config kept).
 */
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Database } from '../codecs/dbc/index.js';
import {
  DEFAULT_SERVER_LISTEN,
  type LoadedConfig,
  loadAndValidateConfig,
  loadConfigFile,
  redactSecrets,
  type SigflowConfig,
} from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import { replaceKeepingPrevious, tempPath, writeFileAtomicSync } from '../io/index.js';
import { parseDuration } from '../units/index.js';
import {
  applyUpdate,
  installRootOf,
  markReported,
  pendingReport,
  readUpdateState,
  recordRunningPid,
  runningPackageDir,
  waitForOutcome,
} from '../update/index.js';
import type { HttpFallback } from './http.js';
import { parseListen } from './listen.js';
import { RemoteConfig } from './remote-config.js';
import { Supervisor } from './supervisor.js';

export interface CheckedConfig {
  config: SigflowConfig;
  loaded: LoadedConfig;
  /** The validated config (every default filled in; durations in ms, sizes in bytes), secrets `<redacted>`. */
  redacted: unknown;
  /** What was checked beyond the schema, one line each (DBC files and their messages, sinks). */
  notes: string[];
}

/**
 * Loads and validates the file, then checks what the schema cannot: every pipeline's DBC files load (with their
 * message count). Creates nothing. Throws the first problem (ConfigError, DbcSyntaxError … exit 2).
 */
export function checkConfigFile(path: string, env?: NodeJS.ProcessEnv): CheckedConfig {
  const { config, loaded } = loadAndValidateConfig(path, env ? { env } : {});
  const notes: string[] = [];
  config.pipelines.forEach((p, i) => {
    if (!p.decode) {
      notes.push(`pipeline ${p.name}: ${p.source.type} source`);
      return;
    }
    let db: Database;
    try {
      db = Database.load(p.decode.dbc);
    } catch (e) {
      const err = e as SigflowError;
      throw new SigflowError(err.code ?? 'SF_ERR_INTERNAL', `${path}: pipelines[${i}].decode.dbc: ${err.message}`, {
        where: `pipelines[${i}].decode.dbc`,
        cause: e,
      });
    }
    notes.push(
      `pipeline ${p.name}: ${p.source.type} source; ${p.decode.dbc.length} DBC file(s), ${db.messages.length} messages, mapping ${p.decode.mapping}`,
    );
  });
  // (sinks are not built here: a store sink would create its file)
  for (const s of config.sinks) notes.push(`sink ${s.name}: ${s.type}`);
  return { config, loaded, redacted: redactSecrets(config, loaded.secrets), notes };
}

export interface RunServiceOptions {
  logger: Logger;
  writeLogLine: (line: string) => void;
  /** Stats and final lines. */
  print: (line: string) => void;
  /** Called once everything started (tests, the CLI's "running" line). */
  onStarted?: (sup: Supervisor) => void;
  /** Stop when this aborts too (tests; the CLI uses signals). */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM/SIGHUP handlers (default true). */
  handleSignals?: boolean;
  /** The Grafana routes on the HTTP endpoint (the CLI builds them from `server.dashboards`; see http.ts). */
  httpFallback?: HttpFallback;
  /** The running sigflow's version (shown by /status). */
  version?: string;
}

/**
 * Runs until SIGINT/SIGTERM (or `signal`); resolves with the final stats lines after an orderly stop. `checked` is
 * the file already checked by the caller (its logging settings chose the logger), so it is not read twice.
 */
export async function runService(
  path: string,
  o: RunServiceOptions,
  checked: CheckedConfig = checkConfigFile(path),
): Promise<string[]> {
  const { config } = checked;
  if (config.pipelines.length === 0)
    throw new SigflowError('SF_ERR_RUN_NO_PIPELINES', `${path}: no pipelines to run`, { where: path });
  const sup = await Supervisor.start(config, {
    logger: o.logger,
    writeLogLine: o.writeLogLine,
    print: o.print,
    httpFallback: o.httpFallback,
    version: o.version,
  });
  // SIGHUP and pushed configs apply one at a time, in order
  let reloading = Promise.resolve();
  // an update stops this process in order once the new version is switched in (the service manager starts it)
  let requestStop: (why: string) => void = () => {};
  const packageDir = runningPackageDir();
  const installRoot = installRootOf(packageDir);
  if (installRoot && o.version) recordRunningPid(installRoot, o.version);
  const updates = config.updates;
  // configs pushed by the uplinks' servers: checked as this file is, written over it, applied as SIGHUP applies it
  if (config.remote_config?.enabled)
    sup.remote = new RemoteConfig({
      path,
      stateDir: join(config.outbox.data_dir, 'state'),
      ackMeasurement: config.remote_config.ack_measurement,
      check: (file) => ({ secrets: checkConfigFile(file).loaded.secrets }),
      apply: () => {
        const done = reloading.then(() => sup.reload(checkConfigFile(path).config));
        reloading = done.then(
          () => {},
          () => {},
        );
        return done;
      },
      enqueue: (records) => sup.record(records),
      logger: o.logger,
      version: o.version,
      update:
        updates && installRoot
          ? async (version, next) => {
              const u = parsePushedUpdate(next);
              await applyUpdate({
                root: installRoot,
                version,
                url: u.url ?? updates.url,
                sha256: u.sha256 ?? '',
                currentDir: packageDir,
                spool: [config.outbox.data_dir],
                configPath: next,
                healthUrl: u.healthUrl,
                deadlineMs: u.health_deadline ?? updates.health_deadline,
              });
              requestStop(`updating to sigflow ${version}`);
            }
          : undefined,
    });
  // (after the handler is set: the config a server answers on connect must find it)
  if (config.remote_config?.enabled) sup.connectConfigUplinks();
  // the outcome of an update, told by the version that learns it (new: done; old, after a rollback: rolled_back)
  // (abandoned when sigflow stops: a guard that never decides must not keep the process alive)
  const ended = new AbortController();
  if (installRoot && o.version) void reportUpdateOutcome(installRoot, o.version, sup, o.logger, ended.signal);
  o.logger.info(
    { pipelines: config.pipelines.map((p) => p.name), http: sup.address },
    `running ${config.pipelines.length} pipeline(s)${sup.address ? `; metrics and health on http://${sup.address}` : ''}`,
  );
  o.onStarted?.(sup);
  return new Promise<string[]>((resolve, reject) => {
    const handlers: [NodeJS.Signals, () => void][] = [];
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      o.logger.info(`${why}: stopping the units, then draining the sinks`);
      for (const [s, h] of handlers) process.off(s, h);
      ended.abort();
      reloading.then(() => sup.stop()).then(resolve, reject);
    };
    requestStop = stop;
    const reload = () => {
      reloading = reloading
        .then(async () => {
          let next: SigflowConfig;
          try {
            next = checkConfigFile(path).config;
          } catch (e) {
            o.logger.error(
              { err: { message: (e as Error).message, code: (e as SigflowError).code } },
              `SIGHUP: ${path} is not valid; the running config is kept`,
            );
            return;
          }
          const done = await sup.reload(next);
          o.logger.info(
            { changes: done },
            `SIGHUP: ${path} re-read; ${done.length ? done.join('; ') : 'nothing changed'}`,
          );
        })
        .catch((e: Error) => {
          // a reload that failed half-way (a unit that would not stop): said, and the next signal still works
          o.logger.error({ err: { message: e.message } }, `SIGHUP: applying ${path} failed`);
        });
    };
    if (o.handleSignals !== false) {
      handlers.push(['SIGINT', () => stop('SIGINT')], ['SIGTERM', () => stop('SIGTERM')], ['SIGHUP', reload]);
      for (const [s, h] of handlers) process.on(s, h);
    }
    o.signal?.addEventListener('abort', () => stop('stopped'), { once: true });
  });
}

/**
 * What a pushed config waiting in `<config>.next` says about its update: its `updates` section (url, sha256,
 * deadline) and where the new version will answer /healthz — its own `server.listen` (the running config's
 * address would be asked while the new version listens elsewhere: a healthy update rolled back). A pushed config
 * without the endpoint (`server: false`) or on a port chosen at start (0) cannot be guarded: SF_ERR_UPDATE_LAYOUT.
 */
export function parsePushedUpdate(file: string): {
  url?: string;
  sha256?: string;
  health_deadline?: number;
  healthUrl: string;
} {
  // as the new version will read it: `${VAR}`s substituted from the environment (and .env beside it)
  const doc = loadConfigFile(file).value as {
    updates?: Record<string, unknown>;
    server?: false | { listen?: unknown };
  } | null;
  const u = doc?.updates ?? {};
  const deadline = u.health_deadline;
  const server = doc?.server;
  if (server === false)
    throw new SigflowError(
      'SF_ERR_UPDATE_LAYOUT',
      'the config pushed with the update has server: false — the update is guarded through the new version’s /healthz',
    );
  const listen = typeof server?.listen === 'string' ? server.listen : DEFAULT_SERVER_LISTEN;
  const { host, port } = parseListen(listen);
  if (!(port > 0 && port < 65536))
    throw new SigflowError(
      'SF_ERR_UPDATE_LAYOUT',
      `the config pushed with the update listens on ${listen}: the guard needs a fixed port to ask the new version’s /healthz`,
    );
  const reach = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return {
    url: typeof u.url === 'string' ? u.url : undefined,
    sha256: typeof u.sha256 === 'string' ? u.sha256 : undefined,
    health_deadline:
      typeof deadline === 'number'
        ? deadline
        : typeof deadline === 'string'
          ? Number(parseDuration(deadline, 'updates.health_deadline') / 1_000_000n)
          : undefined,
    healthUrl: `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}/healthz`,
  };
}

/**
 * Reports the last update's outcome if this version is the one to tell it: an `update` record (from, to, status,
 * reason) and the acknowledgement of the push that asked for it. The new version waits for its guard's decision.
 */
async function reportUpdateOutcome(
  root: string,
  version: string,
  sup: Supervisor,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  try {
    let s = pendingReport(root, version);
    if (!s) return;
    if (s.status === 'switching') s = await waitForOutcome(root, { signal });
    if (!s || (s.status !== 'done' && s.status !== 'rolled_back') || s.reported) return;
    await sup.record([
      {
        time: BigInt(Date.now()) * 1_000_000n,
        measurement: 'update',
        tags: {},
        fields: { from: s.from ?? '', to: s.to, status: s.status, ...(s.reason ? { reason: s.reason } : {}) },
      },
    ]);
    await sup.remote?.reportUpdate({ status: s.status, to: s.to, reason: s.reason });
    markReported(root, version);
    logger.info(
      { from: s.from, to: s.to, status: s.status },
      `update ${s.from} → ${s.to}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`,
    );
  } catch (e) {
    if (signal.aborted) return;
    logger.error({ err: { message: (e as Error).message } }, 'reporting the last update failed');
  }
}

/**
 * At start, before the config is read:
 * - a pushed config waiting in `<path>.next` becomes the config when this is the version it was pushed for (the
 *   update switched to it) — the config it replaces kept as `<path>.previous` and `<path>.before-update`, and
 *   `<path>.adopted` noting for which version; else it is set aside (`.next.rejected`);
 * - when this version runs again because the version a config was adopted for was rolled back,
 *   `<path>.before-update` is put back (the adopted config kept as `<path>.rolled-back`): the new version's config
 *   may hold keys this version refuses, and with it this version would never start again — nor take another push.
 * Returns what it did, or null.
 */
export function adoptPendingConfig(
  path: string,
  version: string,
  root: string | null = installRootOf(runningPackageDir()),
): string | null {
  const next = `${path}.next`;
  const marker = `${path}.adopted`;
  const done: string[] = [];
  const adoptedFor = readAdopted(marker);
  // the config from before the update, kept apart from `.previous` (which a push to the new version would replace)
  const beforeUpdate = `${path}.before-update`;
  if (adoptedFor !== null && adoptedFor !== version && root) {
    const s = readUpdateState(root);
    const from = existsSync(beforeUpdate) ? beforeUpdate : `${path}.previous`;
    if (s?.status === 'rolled_back' && s.to === adoptedFor && s.from === version && existsSync(from)) {
      const back = tempPath(path);
      copyFileSync(from, back);
      replaceKeepingPrevious(path, back, `${path}.rolled-back`);
      done.push(
        `${path} restored from ${from} (the config pushed with ${adoptedFor}, rolled back, is ${path}.rolled-back)`,
      );
    }
    rmSync(marker, { force: true });
  }
  if (existsSync(next)) {
    const s = root ? pendingReport(root, version) : null;
    if (s && s.to === version && (s.status === 'switching' || s.status === 'done')) {
      if (existsSync(path)) writeFileAtomicSync(beforeUpdate, readFileSync(path));
      writeFileAtomicSync(marker, `${JSON.stringify({ version, at: new Date().toISOString() })}\n`);
      replaceKeepingPrevious(path, next, `${path}.previous`);
      done.push(`${next} adopted as ${path} (pushed with the update to ${version})`);
    } else {
      renameSync(next, `${next}.rejected`);
      done.push(`${next} set aside as ${next}.rejected (not for sigflow ${version})`);
    }
  }
  return done.length ? done.join('; ') : null;
}

/** The version `<path>.adopted` names, or null (none, or unreadable: then nothing is restored). */
function readAdopted(marker: string): string | null {
  try {
    const v = (JSON.parse(readFileSync(marker, 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}
