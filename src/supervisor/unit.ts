/**
 * One unit as the supervisor sees it: a pipeline running in a child process of its own (or inline, in the
 * supervisor's: inline.ts), restarted with exponential backoff when it crashes and marked failed (an alarm) after
 * `crash_loop_count` crashes within `crash_loop_window`. Its counters add up across restarts.
 *
 * Why a process and not a worker thread: serialport's native poller cannot run in a worker thread (it aborts the
 * whole process: serialport/node-serialport#2748, #1938), and a native crash of any driver addon (a segfault, an
 * abort) should end one unit — in a thread it takes the process with it.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PipelineEntry, RuntimeConfig } from '../config/index.js';
import type { TelemetryRecord } from '../records/index.js';
import { sourcePlugin } from '../sources/index.js';
import { InlineWorker, type UnitWorker } from './inline.js';
import type { SupervisorMessage, UnitMessage } from './protocol.js';

export type UnitState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped' | 'failed';

/** What a unit needs from its supervisor. */
export interface UnitHost {
  /** Stores records durably (the outbox); rejects with the reason when it cannot. */
  enqueue(records: TelemetryRecord[]): Promise<void>;
  /** Archives a message the unit could not read, with the reason. */
  archive(unit: string, topic: string, reason: string, payload: Uint8Array): Promise<void>;
  /** A pino JSON line of the unit's logger, and the supervisor's own messages about the unit. */
  logLine(line: string): void;
  info(unit: string, msg: string, fields?: Record<string, unknown>): void;
  warn(unit: string, msg: string, fields?: Record<string, unknown>): void;
  error(unit: string, msg: string, fields?: Record<string, unknown>): void;
  runtime: RuntimeConfig;
  /** The log level for a unit starting now. */
  logLevel: () => string;
}

/** The input watch (watchInput): its window, how often it may warn, and the bytes of a typical frame on the wire. */
const INPUT_WINDOW_MS = 10_000;
const INPUT_WARN_MS = 10 * 60_000;
const RECORD_BYTES_TYPICAL = 21;

/** The unit's module: the compiled .js next to this file, or the .ts when running from sources (tsx). */
const UNIT_MODULE = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './unit-process.ts' : './unit-process.js', import.meta.url),
);

export class Unit {
  state: UnitState = 'stopped';
  connected = false;
  detail = '';
  restarts = 0;
  lastError: string | null = null;
  /** Times (ms) of recent crashes, for the crash-loop cap. */
  private crashes: number[] = [];
  /** Counters of the processes that ended, and of the current one. */
  private totals: Record<string, number> = {};
  private current: Record<string, number> = {};
  /** Records of this unit durable in the outbox (counted by the supervisor: the `records` counter). */
  private stored = 0;
  private worker: UnitWorker | null = null;
  private timer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();
  startedMs = 0;

  constructor(
    public entry: PipelineEntry,
    private readonly host: UnitHost,
  ) {}

  get name(): string {
    return this.entry.name;
  }

  /** Where it runs: its own process, or inside the supervisor (the pipeline's `isolation`, else its source's). */
  get isolation(): 'process' | 'inline' {
    return this.entry.isolation ?? sourcePlugin(this.entry.source.type)?.isolation ?? 'process';
  }

  /** Cumulative counters across restarts (and reloads); `records` = durable in the outbox. */
  /**
   * Says (a warning, at most every INPUT_WARN_MS) when a unit's input is mostly not frames — a wrong baud rate,
   * framer or timestamp setting, a device clock far from wall time — or has malformed lines: counted in
   * framer_garbage_bytes / framer_malformed_lines, which nobody reads until the data is missed.
   */
  private watchInput(): void {
    const now = Date.now();
    const w = this.inputWatch;
    if (now - w.atMs < INPUT_WINDOW_MS) return;
    const c = this.counters();
    const garbage = (c.framer_garbage_bytes ?? 0) - w.garbage;
    const malformed = (c.framer_malformed_lines ?? 0) - w.malformed;
    const frames = (c.framer_frames ?? 0) - w.frames;
    const mostlyGarbage = garbage >= 4096 && garbage > RECORD_BYTES_TYPICAL * frames;
    if ((mostlyGarbage || malformed > 0) && now - w.warnedMs >= INPUT_WARN_MS) {
      w.warnedMs = now;
      const secs = Math.round((now - w.atMs) / 1000);
      if (mostlyGarbage)
        this.host.warn(
          this.name,
          `${garbage} bytes of input in ${secs} s were not frames (${frames} frames): check the baud rate, the framer and its timestamp settings (check_timestamps), and the device's clock (framer_garbage_bytes; said at most every ${INPUT_WARN_MS / 60_000} min)`,
          { garbage_bytes: garbage, frames },
        );
      if (malformed > 0)
        this.host.warn(
          this.name,
          `${malformed} malformed line(s) skipped in ${secs} s (framer_malformed_lines; said at most every ${INPUT_WARN_MS / 60_000} min)`,
          { malformed_lines: malformed },
        );
    }
    this.inputWatch = {
      ...w,
      atMs: now,
      garbage: c.framer_garbage_bytes ?? 0,
      malformed: c.framer_malformed_lines ?? 0,
      frames: c.framer_frames ?? 0,
    };
  }

  private inputWatch = { atMs: Date.now(), warnedMs: 0, garbage: 0, malformed: 0, frames: 0 };

  counters(): Record<string, number> {
    const out = { ...this.totals };
    for (const [k, v] of Object.entries(this.current)) out[k] = (out[k] ?? 0) + v;
    out.records = this.stored;
    return out;
  }

  /** A reloaded config: stops the unit and starts it with `entry` (counters and restarts carry on). */
  async replace(entry: PipelineEntry, timeoutMs: number): Promise<void> {
    await this.stop(timeoutMs);
    this.entry = entry;
    this.crashes = [];
    this.lastError = null;
    this.start();
  }

  start(): void {
    if (this.worker) return;
    this.state = 'starting';
    this.startedMs = Date.now();
    const w: UnitWorker =
      this.isolation === 'inline'
        ? new InlineWorker()
        : fork(UNIT_MODULE, [], {
            serialization: 'advanced',
            // a unit that allocates without bound ends alone, not the supervisor; stdout/stderr are the supervisor's
            execArgv: [...process.execArgv, '--max-old-space-size=512'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
    this.worker = w;
    w.send({ type: 'start', pipeline: this.entry, logLevel: this.host.logLevel() } satisfies SupervisorMessage);
    let fatal = false;
    let stopped = false;
    /** Why this process ended, if it failed: its fatal message, its last error log, a signal or its code. */
    let cause: string | null = null;
    this.exited = new Promise<void>((resolve) => {
      w.on('message', (m: UnitMessage) => {
        switch (m.type) {
          case 'records':
            this.host.enqueue(m.records).then(
              () => {
                // counted here, once durable: what the unit counted after its last report is not lost with it
                this.stored += m.records.length;
                this.post(w, { type: 'ack', seq: m.seq, error: null });
              },
              (e: Error) =>
                this.post(w, { type: 'ack', seq: m.seq, error: e.message, code: (e as { code?: string }).code }),
            );
            break;
          case 'reject':
            this.host.archive(this.name, m.topic, m.reason, m.payload).then(
              () => this.post(w, { type: 'ack', seq: m.seq, error: null }),
              (e: Error) => this.post(w, { type: 'ack', seq: m.seq, error: e.message }),
            );
            break;
          case 'state':
            if (this.state === 'starting') this.state = 'running';
            if (m.connected !== this.connected || m.detail !== this.detail)
              this.host.info(this.name, m.detail, { connected: m.connected });
            this.connected = m.connected;
            this.detail = m.detail;
            break;
          case 'counters':
            this.current = m.counters;
            this.watchInput();
            if (this.state === 'starting') this.state = 'running';
            break;
          case 'log':
            this.host.logLine(m.line);
            if (m.line.includes('"msg":"unit failed"')) cause = errorOf(m.line) ?? cause;
            break;
          case 'stopped':
            this.current = m.counters;
            stopped = true;
            break;
          case 'fatal':
            fatal = true;
            cause = `${m.message} (${m.code})`;
            break;
        }
      });
      // (fork failed, or a message could not be sent: an ack to a unit that just died — its signal says more)
      let channelError: string | null = null;
      w.on('error', (e) => {
        channelError ??= e.message;
      });
      w.on('exit', (code, signal) => {
        this.worker = null;
        this.connected = false;
        this.fold();
        resolve();
        if (this.state === 'stopping') {
          this.state = 'stopped';
          if (!stopped && code !== 0) this.host.error(this.name, 'unit ended badly while stopping', { code });
          return;
        }
        // what the unit said (fatal, its last error) first, then the signal, then a failed send, then the code
        this.lastError = cause ?? (signal ? `killed by ${signal}` : (channelError ?? `exit code ${code}`));
        if (fatal) {
          this.state = 'failed';
          this.host.error(this.name, `unit cannot run: ${this.lastError}; not restarted until its config changes`);
          return;
        }
        this.crashed();
      });
    });
  }

  private post(w: UnitWorker, m: SupervisorMessage): void {
    // a unit that already ended cannot take its ack: its batches were enqueued or refused all the same
    if (this.worker === w && w.connected) w.send(m);
  }

  private fold(): void {
    for (const [k, v] of Object.entries(this.current)) this.totals[k] = (this.totals[k] ?? 0) + v;
    this.current = {};
  }

  private crashed(): void {
    const now = Date.now();
    const r = this.host.runtime;
    this.crashes = this.crashes.filter((t) => now - t < r.crash_loop_window);
    this.crashes.push(now);
    const why = this.lastError;
    if (this.crashes.length >= r.crash_loop_count) {
      this.state = 'failed';
      this.host.error(
        this.name,
        `unit crashed ${this.crashes.length} times within ${Math.round(r.crash_loop_window / 1000)} s: marked failed (alarm), not restarted; the other units keep running`,
        { lastError: why },
      );
      return;
    }
    const delay = Math.min(r.restart_max, r.restart_initial * 2 ** (this.crashes.length - 1));
    this.state = 'backoff';
    this.host.error(this.name, `unit crashed (${why}); restarting in ${delay} ms`, {
      crashes: this.crashes.length,
    });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state !== 'backoff') return;
      this.restarts++;
      this.start();
    }, delay);
  }

  /** Stops the unit: its source ends, its last records are acknowledged; terminated after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.worker;
    if (!w) {
      if (this.state !== 'failed') this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    if (w.connected) w.send({ type: 'stop' } satisfies SupervisorMessage);
    const t = setTimeout(() => {
      this.host.error(this.name, `unit did not stop within ${timeoutMs} ms: killed`);
      w.kill('SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(t);
  }

  /** Snapshot for status, stats and metrics. */
  status() {
    return {
      name: this.name,
      state: this.state,
      connected: this.connected,
      detail: this.detail,
      restarts: this.restarts,
      lastError: this.lastError,
      source: this.entry.source.type,
      isolation: this.isolation,
      /** The unit's process id while it runs in a process of its own. */
      pid: this.worker?.pid ?? null,
      counters: this.counters(),
    };
  }
}

export type UnitStatus = ReturnType<Unit['status']>;

/** The error message of a pino JSON line (`err.message`), if any. */
function errorOf(line: string): string | null {
  try {
    const o = JSON.parse(line) as { err?: { message?: unknown } };
    return typeof o.err?.message === 'string' ? o.err.message : null;
  } catch {
    return null;
  }
}
