/**
 * The supervisor of `sigflow run`: opens the outbox (one process per data directory: its lock) with the sinks,
 * runs every pipeline as a unit in a child process of its own, enqueues what the units hand over and acknowledges it
 * once durable, prints a stats line per unit every `stats_interval`, serves /metrics /healthz /readyz, applies a
 * reloaded config to the units it changes, and stops in order: units first (their last records acknowledged),
 * then the sinks get `drain_timeout` to take what is pending (the rest stays in the outbox for the next start).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { httpAuthOf, type PipelineEntry, type SigflowConfig } from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import { isLoopbackHost } from '../io/index.js';
import { lockDataDir, Outbox, type OutboxStatus, outboxOptionsFromConfig } from '../outbox/index.js';
import type { TelemetryRecord } from '../records/index.js';
import { createSink, filterSink, type Sink } from '../sinks/index.js';
import { type EmbeddedBroker, startBroker } from './broker.js';
import { type HttpFallback, type MetricsServer, startMetricsServer } from './http.js';
import { parseListen } from './listen.js';
import { RejectArchive } from './rejects.js';
import type { RemoteConfig } from './remote-config.js';
import { Unit, type UnitStatus } from './unit.js';

export interface SupervisorOptions {
  logger: Logger;
  /** Where the units' own pino lines go (the main logger's destination). */
  writeLogLine: (line: string) => void;
  /** Stats and final lines (default: the logger at info). */
  print?: (line: string) => void;
  /** Requests the HTTP endpoint's own routes do not handle (the Grafana routes; see http.ts). */
  httpFallback?: HttpFallback;
  /** The running sigflow's version (shown by /status). */
  version?: string;
}

export interface RunStatus {
  /** The running sigflow's version. */
  version: string;
  uptimeMs: number;
  units: UnitStatus[];
  outbox: OutboxStatus;
  /** The last remote config revision processed, when remote_config is on. */
  remoteConfig: { revision: number } | null;
}

/** Counters shown in stats lines, in this order (others are in /metrics). */
const STAT_KEYS = ['frames_seen', 'decoded', 'unknown_ids', 'decode_errors', 'records'] as const;

export class Supervisor {
  readonly units = new Map<string, Unit>();
  private readonly startMs = Date.now();
  private statsTimer: NodeJS.Timeout | null = null;
  private server: MetricsServer | null = null;
  private broker: EmbeddedBroker | null = null;
  private releaseLock: () => void = () => {};
  private stopping = false;
  private lastStats = new Map<string, { ms: number; counters: Record<string, number> }>();

  /** The sinks, closed after the outbox on stop. */
  private sinks: Sink[] = [];

  /** Messages the units could not read, archived beside the outbox. */
  private readonly rejects: RejectArchive;

  private constructor(
    private config: SigflowConfig,
    readonly outbox: Outbox,
    private readonly o: SupervisorOptions,
  ) {
    this.rejects = new RejectArchive(join(config.outbox.data_dir, 'rejected'));
  }

  /** Opens the outbox and the HTTP endpoint, starts every unit. */
  static async start(config: SigflowConfig, o: SupervisorOptions): Promise<Supervisor> {
    // (the sinks are made before the supervisor: a push they receive reaches it once it exists)
    let sup: Supervisor | undefined;
    // the data directory's lock first: a second instance must not touch the first one's sinks (a store file)
    const release = lockDataDir(config.outbox.data_dir);
    let outbox: Outbox;
    let sinks: { sink: Sink; delivery: unknown }[] = [];
    try {
      sinks = config.sinks.map(({ delivery, measurements, ...sink }, i) => {
        // (the entry's `delivery` section is the outbox's, not the sink's; `measurements` filters what it is given)
        const s = createSink(sink, `sinks[${i}]`, {
          info: (m) => o.logger.info({ sink: sink.name }, m),
          // only with remote_config on: a receiver makes ThingsBoard/Tenta subscribe and ask for the config on
          // every connect (rate-limit quota), which the READMEs promise not to do without it
          ...(config.remote_config?.enabled
            ? { remoteConfig: (source: string, payload: unknown) => sup?.remoteConfig(source, payload) }
            : {}),
          // one folder per sink name, any name a safe file name ('..' → '%2E.')
          stateDir: join(config.outbox.data_dir, 'state', 'sinks', encodeURIComponent(sink.name).replace(/^\./, '%2E')),
        });
        return { sink: measurements ? filterSink(s, measurements) : s, delivery };
      });
      outbox = Outbox.open({ ...outboxOptionsFromConfig(config.outbox, sinks, o.logger), lock: false });
    } catch (e) {
      release();
      throw e;
    }
    sup = new Supervisor(config, outbox, o);
    sup.sinks = sinks.map((x) => x.sink);
    sup.releaseLock = release;
    try {
      if (config.server !== false) {
        sup.server = await startMetricsServer(
          config.server.listen,
          sup,
          o.httpFallback,
          httpAuthOf(config.server.auth),
        );
        if (!config.server.auth && !isLoopbackHost(parseListen(config.server.listen).host))
          o.logger.warn(
            `the HTTP endpoint listens on ${config.server.listen} without server.auth: anyone who can reach it sees the status and the console, and can replay or purge dead letters`,
          );
      }
      if (config.broker) {
        sup.broker = await startBroker(config.broker.listen);
        o.logger.info(`embedded MQTT broker on mqtt://${sup.broker.address}`);
      }
    } catch (e) {
      await sup.server?.close();
      await outbox.close();
      release();
      throw e;
    }
    outbox.start();
    for (const p of config.pipelines) sup.add(p);
    sup.scheduleStats();
    return sup;
  }

  /** The address /metrics is served on (null without a server). */
  get address(): string | null {
    return this.server?.address ?? null;
  }

  private add(entry: PipelineEntry): void {
    const unit = new Unit(entry, {
      enqueue: (records) => this.enqueue(records),
      archive: (unit, topic, reason, payload) => this.rejects.write(unit, topic, reason, payload),
      logLine: this.o.writeLogLine,
      info: (unit, msg, fields) => this.o.logger.info({ unit, ...fields }, msg),
      warn: (unit, msg, fields) => this.o.logger.warn({ unit, ...fields }, msg),
      error: (unit, msg, fields) => this.o.logger.error({ unit, ...fields }, msg),
      runtime: this.config.runtime,
      logLevel: () => this.config.logging.level,
    });
    this.units.set(entry.name, unit);
    unit.start();
  }

  private async enqueue(records: TelemetryRecord[]): Promise<void> {
    const r = await this.outbox.enqueue(records);
    // a drop policy (drop_newest) refused this batch: counted per sink by the outbox; the source may ack it
    if (!r.accepted && !r.droppedNewest)
      throw new SigflowError('SF_ERR_RUN_ENQUEUE', 'the outbox did not accept the batch', { where: 'outbox' });
  }

  status(): RunStatus {
    return {
      version: this.version,
      uptimeMs: Date.now() - this.startMs,
      units: [...this.units.values()].map((u) => u.status()),
      outbox: this.outbox.status(),
      remoteConfig: this.remote ? { revision: this.remote.revision } : null,
    };
  }

  /** Handles remote configs (set by runService when `remote_config` is on). */
  remote: RemoteConfig | undefined;

  /**
   * Connects the uplinks that bring pushed configs (ThingsBoard, Tenta) now, not at their first record: a device
   * whose pipelines all fail (or write rarely) must still get the config that fixes it (a link then reconnects by
   * itself). Called once `remote` is set, so that the config answered on connect finds its handler.
   */
  connectConfigUplinks(): void {
    for (const [i, sink] of this.sinks.entries())
      if (sink.probe && (this.config.sinks[i].type === 'thingsboard' || this.config.sinks[i].type === 'tenta'))
        sink.probe().then(
          (why) => {
            if (why) this.o.logger.info({ sink: sink.name }, `${sink.name}: not connected yet (${why}); retrying`);
          },
          () => {},
        );
  }

  /** A config pushed by an uplink's server: handed to the remote-config handler, or said and ignored. */
  remoteConfig(source: string, payload: unknown): void {
    if (!this.remote) {
      this.o.logger.warn(
        { sink: source },
        `a configuration pushed through ${source} is ignored: remote_config is not enabled`,
      );
      return;
    }
    this.remote
      .push(source, payload)
      .catch((e: Error) =>
        this.o.logger.error(
          { sink: source, err: { message: e.message } },
          `applying a configuration pushed through ${source} failed`,
        ),
      );
  }

  /** Adds records the supervisor makes itself (config acknowledgements) to the outbox. */
  record(records: TelemetryRecord[]): Promise<void> {
    return this.enqueue(records);
  }

  /** Ready: every unit running with its source connected, and no sink alarmed. Else the reasons. */
  readiness(): string[] {
    const why: string[] = [];
    for (const u of this.units.values()) {
      if (u.state !== 'running') why.push(`unit ${u.name} is ${u.state}${u.lastError ? `: ${u.lastError}` : ''}`);
      else if (!u.connected) why.push(`unit ${u.name}: source not connected${u.detail ? ` (${u.detail})` : ''}`);
    }
    for (const s of this.outbox.status().sinks)
      if (s.active && s.alarm) why.push(`sink ${s.name}: alarm: ${s.alarmReason ?? 'see the log'}`);
    return why;
  }

  /** The running sigflow's version. */
  get version(): string {
    return this.o.version ?? 'unknown';
  }

  /** Healthy unless a unit hit its crash-loop cap (a restart of the process may help) — else the reasons. */
  health(): string[] {
    return [...this.units.values()]
      .filter((u) => u.state === 'failed')
      .map((u) => `unit ${u.name} failed: ${u.lastError ?? 'crash loop'}`);
  }

  /**
   * Applies a new (valid) config to the units it changes: added pipelines start, removed ones stop, changed ones
   * restart with it (a failed one gets a fresh start). Outbox, sinks, server and runtime changes need a restart of
   * the process: they are reported and not applied. Returns what it did, one line each.
   */
  async reload(next: SigflowConfig): Promise<string[]> {
    const done: string[] = [];
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    for (const key of ['outbox', 'sinks', 'server', 'runtime', 'broker'] as const)
      if (!same(this.config[key], next[key])) done.push(`${key}: changed; applies when sigflow is restarted`);
    const wanted = new Map(next.pipelines.map((p) => [p.name, p]));
    for (const [name, unit] of this.units) {
      const p = wanted.get(name);
      if (!p) {
        await unit.stop(this.config.runtime.stop_timeout);
        this.units.delete(name);
        done.push(`pipeline ${name}: removed (stopped)`);
      } else if (!same(unit.entry, p)) {
        // the same unit (its counters and restarts carry on), stopped and started with the new entry
        await unit.replace(p, this.config.runtime.stop_timeout);
        done.push(`pipeline ${name}: changed (restarted)`);
      }
    }
    const logging = this.config.logging;
    this.config = {
      ...next,
      outbox: this.config.outbox,
      sinks: this.config.sinks,
      server: this.config.server,
      runtime: this.config.runtime,
      broker: this.config.broker,
    };
    for (const p of next.pipelines)
      if (!this.units.has(p.name)) {
        this.add(p);
        if (!done.some((d) => d.startsWith(`pipeline ${p.name}:`))) done.push(`pipeline ${p.name}: added (started)`);
      }
    if (logging.stats_interval !== next.logging.stats_interval) {
      this.scheduleStats();
      done.push('logging.stats_interval: applied');
    }
    if (logging.level !== next.logging.level) {
      this.o.logger.level = next.logging.level;
      done.push('logging.level: applied to sigflow and to units started from now on');
    }
    if (logging.format !== next.logging.format) done.push('logging.format: changed; applies when sigflow is restarted');
    return done;
  }

  private scheduleStats(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    const every = this.config.logging.stats_interval;
    if (every > 0) {
      this.statsTimer = setInterval(() => this.printStats(), every);
      this.statsTimer.unref();
    }
  }

  private print(line: string): void {
    if (this.o.print) this.o.print(line);
    else this.o.logger.info(line);
  }

  /** One line per unit: state, counters and their rate since the last line; one for the outbox. */
  printStats(): void {
    const now = Date.now();
    for (const u of this.units.values()) {
      const c = u.counters();
      const last = this.lastStats.get(u.name);
      const secs = last ? (now - last.ms) / 1000 : (now - u.startedMs) / 1000;
      // (a unit's counters are empty until its first report)
      const rate = secs > 0 ? ((c.decoded ?? 0) - (last?.counters.decoded ?? 0)) / secs : 0;
      this.lastStats.set(u.name, { ms: now, counters: c });
      const parts = STAT_KEYS.map((k) => `${k}=${c[k] ?? 0}`);
      this.print(
        `${u.name}: ${u.state}${u.connected ? ', connected' : ''}; ${parts.join(' ')}; ${rate.toFixed(1)} decoded/s`,
      );
    }
    this.print(outboxLine(this.outbox.status()));
  }

  /**
   * Stops everything in order and returns the final lines (uptime, per unit totals and average rate, the outbox).
   * Records still pending after drain_timeout stay in the outbox for the next start.
   */
  async stop(): Promise<string[]> {
    if (this.stopping) return [];
    this.stopping = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    const r = this.config.runtime;
    await Promise.all([...this.units.values()].map((u) => u.stop(r.stop_timeout)));
    let drained = true;
    try {
      if (r.drain_timeout > 0) await this.outbox.drain(r.drain_timeout);
    } catch {
      drained = false;
    }
    const uptimeMs = Date.now() - this.startMs;
    const lines = [`uptime ${(uptimeMs / 1000).toFixed(1)} s`];
    for (const u of this.units.values()) {
      const c = u.counters();
      const avg = uptimeMs > 0 ? (c.decoded ?? 0) / (uptimeMs / 1000) : 0;
      lines.push(
        `${u.name}: ${STAT_KEYS.map((k) => `${k}=${c[k] ?? 0}`).join(' ')}; ${avg.toFixed(1)} decoded/s on average; ${u.restarts} restart(s)${u.state === 'failed' ? `; FAILED: ${u.lastError}` : ''}`,
      );
    }
    const st = this.outbox.status();
    lines.push(
      outboxLine(st) + (drained ? '' : ` (drain_timeout ${r.drain_timeout} ms reached: kept for the next start)`),
    );
    await this.outbox.close();
    // the sinks' connections (an uplink's MQTT link, a database pool) end with them: nothing keeps the process
    await Promise.all(
      this.sinks.map((k) => Promise.race([k.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())])),
    );
    this.releaseLock();
    await this.broker?.close();
    await this.server?.close();
    return lines;
  }
}

function outboxLine(st: OutboxStatus): string {
  const sinks = st.sinks
    .filter((s) => s.active)
    .map(
      (s) =>
        `${s.name} delivered=${s.deliveredRecords} pending=${s.pendingRecords}${s.deadLetteredRecords ? ` dead=${s.deadLetteredRecords}` : ''}${s.alarm ? ' ALARM' : ''}`,
    );
  return `outbox: pending ${st.pendingRecords} records; ${sinks.join('; ')}`;
}
