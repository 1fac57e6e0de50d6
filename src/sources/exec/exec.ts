/**
 * The `exec` source — external procedures: any program that writes JSON lines on stdout in Ivy's message shapes
 * (lines.ts), run by the unit either once per wall-clock tick (`schedule`) or for good (`long_running`). Data lines
 * become records, log lines become records of `log_measurement` (so they reach the uplinks through the outbox)
 * and are logged; anything else is archived as rejected, with the reason, and counted. A line's records are
 * durable before the next line is read. The program runs in a process group of its own, so a stop, a timeout or
 * a crash of the unit ends what it started too (child.ts).
 *
 * long_running: the program's exit ends run() with SF_ERR_PROCEDURE_EXIT, so the supervisor restarts the unit with
 * its backoff and marks it failed at the crash-loop cap — one crash-looping program never disturbs another unit.
 */
import { constants, promises as fsp } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { SigflowError } from '../../errors/index.js';
import { systemReason } from '../../io/index.js';
import { AlignedSchedule, type LiveSource, type SourceContext, sleep } from '../../pipelines/live/index.js';
import { type FieldValue, type TelemetryRecord, validateRecord } from '../../records/index.js';
import { formatDuration } from '../../units/index.js';
import { type Ended, LONG_LINE_HEAD, Procedure, type ProcedureHooks } from './child.js';
import type { ExecSourceOptions } from './config.js';
import { LogLimiter } from './limiter.js';
import { parseLine } from './lines.js';

/**
 * After a long-running program exited, run() waits this long before it fails: the unit reports its counters once
 * a second, and a unit process that fails sends no last report — so `exits` and the last lines' counts would be lost.
 */
const REPORT_WAIT_MS = 1100;

const encoder = new TextEncoder();

const human = (ms: number) => formatDuration(BigInt(ms) * 1_000_000n);

export class ExecSource implements LiveSource {
  private readonly name: string;
  private readonly measurement: string;
  private readonly stderrLimit: LogLimiter;
  private readonly logLimit: LogLimiter;
  /** The last read time given to a line without a timestamp (µs): each gets a later one. */
  private lastUs = 0;

  constructor(
    private readonly o: ExecSourceOptions,
    private readonly pipeline: string,
  ) {
    this.name = o.command[0];
    this.measurement = o.measurement ?? pipeline;
    this.stderrLimit = new LogLimiter(`stderr lines of ${this.name}`);
    this.logLimit = new LogLimiter(`log lines of ${this.name}`);
  }

  async run(ctx: SourceContext): Promise<void> {
    await this.preflight();
    try {
      if (this.o.mode === 'long_running') await this.runLong(ctx);
      else await this.runScheduled(ctx);
    } finally {
      this.stderrLimit.flush(ctx.logger);
      this.logLimit.flush(ctx.logger);
    }
  }

  // ---- modes ---------------------------------------------------------------------------------------------------

  private async runLong(ctx: SourceContext): Promise<void> {
    const p = await Procedure.start(this.options(ctx, {}), this.hooks(ctx));
    ctx.state(true, `${this.name} running (pid ${p.pid})`);
    const stop = () => p.terminate();
    ctx.signal.addEventListener('abort', stop, { once: true });
    if (ctx.signal.aborted) stop();
    const end = await p.ended;
    ctx.signal.removeEventListener('abort', stop);
    this.saidKilled(end, ctx);
    if (end.error) throw end.error;
    if (ctx.signal.aborted) return;
    ctx.count('exits');
    const how = exitText(end);
    ctx.logger.warn({ pid: p.pid, code: end.code, signal: end.signal }, `${this.name} ${how}`);
    await sleep(REPORT_WAIT_MS, ctx.signal);
    if (ctx.signal.aborted) return;
    throw new SigflowError('SF_ERR_PROCEDURE_EXIT', `${this.name} ${how}`, { where: this.pipeline });
  }

  private async runScheduled(ctx: SourceContext): Promise<void> {
    const o = this.o;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
    const running = `${this.name}: runs every ${human(o.every)} on wall-clock multiples`;
    ctx.state(true, running);
    const schedule = new AlignedSchedule(o.every);
    let current: Procedure | null = null;
    let run: Promise<void> | null = null;
    let failure: Error | null = null;
    /** The run being waited for already made a tick be skipped (said once per run). */
    let overrunSaid = false;
    /** Why the last run failed, while runs fail (said once until it changes). */
    let failing: string | null = null;
    const terminate = () => current?.terminate();
    stop.signal.addEventListener('abort', terminate, { once: true });

    const runOnce = async (tickMs: number): Promise<void> => {
      ctx.count('runs');
      let p: Procedure;
      try {
        p = await Procedure.start(
          this.options(ctx, { SIGFLOW_TICK: String(tickMs / 1000), SIGFLOW_TICK_MS: String(tickMs) }),
          this.hooks(ctx),
        );
      } catch (e) {
        ctx.count('start_failures');
        const why = (e as Error).message;
        if (failing !== why) ctx.state(false, `${why} (said once until it changes)`);
        failing = why;
        return;
      }
      current = p;
      if (stop.signal.aborted) p.terminate();
      let timedOut = false;
      const timer =
        o.timeout === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              ctx.count('timeouts');
              ctx.logger.warn(
                { pid: p.pid },
                `${this.name} still running after timeout ${human(o.timeout as number)}: SIGTERM (SIGKILL after ${human(o.grace)})`,
              );
              p.terminate();
            }, o.timeout);
      const end = await p.ended;
      clearTimeout(timer);
      current = null;
      this.saidKilled(end, ctx);
      if (end.error) {
        failure ??= end.error;
        stop.abort();
        return;
      }
      if (stop.signal.aborted) return; // stopped by us: not the program's failure
      const why = timedOut
        ? `timed out after ${human(o.timeout as number)}`
        : end.code === 0 && end.signal === null
          ? null
          : exitText(end);
      if (why === null) {
        if (failing !== null) ctx.state(true, running);
        failing = null;
        return;
      }
      ctx.count('failures');
      if (failing !== why) ctx.state(false, `${this.name} ${why} (said once until it changes)`);
      failing = why;
    };

    for (;;) {
      const tick = await schedule.wait(stop.signal);
      if (tick === null) break;
      if (tick.missed > 0) {
        ctx.count('missed_ticks', tick.missed);
        ctx.logger.warn({ missed: tick.missed }, `${tick.missed} tick(s) skipped: reached too late`);
      }
      if (run !== null) {
        ctx.count('overruns');
        if (!overrunSaid)
          ctx.logger.warn(
            { pid: current === null ? undefined : (current as Procedure).pid },
            `${this.name} is still running at the next tick: tick skipped (said once per run; counted in overruns)`,
          );
        overrunSaid = true;
        continue;
      }
      overrunSaid = false;
      run = runOnce(tick.time).finally(() => {
        run = null;
      });
    }
    await run;
    ctx.signal.removeEventListener('abort', onAbort);
    if (failure) throw failure;
  }

  // ---- the program's output -------------------------------------------------------------------------------------

  private hooks(ctx: SourceContext): ProcedureHooks {
    return {
      line: (text, readUs, invalid) =>
        invalid ? this.bad(text, invalid.reason, ctx, invalid.bytes) : this.onLine(text, readUs, ctx),
      tooLong: async (head) => {
        ctx.count('bad_lines');
        await ctx.reject(
          this.name,
          head,
          `a line longer than max_line_bytes (${this.o.max_line_bytes}): its first ${LONG_LINE_HEAD} bytes kept, the rest skipped`,
        );
      },
      stderr: (line) => {
        ctx.count('stderr_lines');
        const t = this.stderrLimit.take(ctx.logger);
        if (t.log)
          ctx.logger.warn({ command: this.name }, `${this.name}: ${line}${t.last ? this.stderrLimit.note : ''}`);
      },
    };
  }

  private async onLine(text: string, readUs: number, ctx: SourceContext): Promise<void> {
    const l = parseLine(text);
    if (l.kind === 'blank') return;
    if (l.kind === 'bad') return this.bad(text, l.reason, ctx);
    const time = l.time ?? this.readTime(readUs);
    let record: TelemetryRecord;
    if (l.kind === 'data') {
      record = { time, measurement: l.measurement ?? this.measurement, tags: this.o.tags, fields: l.fields };
    } else {
      const fields: Record<string, FieldValue> = { level: l.level, subject: l.subject };
      if (l.body !== null) fields.body = l.body;
      record = {
        time,
        measurement: this.o.log_measurement,
        tags: { ...this.o.tags, procedure: this.pipeline },
        fields,
      };
    }
    const invalid = validateRecord(record);
    if (invalid !== null) return this.bad(text, invalid, ctx);
    if (l.kind === 'log') {
      ctx.count('log_lines');
      const t = this.logLimit.take(ctx.logger);
      if (t.log)
        ctx.logger[l.logLevel](
          { command: this.name, level_name: l.level, ...(l.body !== null ? { body: cut(l.body, 2000) } : {}) },
          `${this.name}: ${cut(l.subject, 500)}${t.last ? this.logLimit.note : ''}`,
        );
    } else ctx.count('data_lines');
    await ctx.records([record]);
  }

  /** A bad line, archived as it was read (`raw`: its bytes when they are no text). */
  private async bad(text: string, reason: string, ctx: SourceContext, raw?: Uint8Array): Promise<void> {
    ctx.count('bad_lines');
    await ctx.reject(this.name, raw ?? encoder.encode(text), reason);
  }

  /** The time a line without a timestamp gets: when it was read, each one later than the one before. */
  private readTime(readUs: number): bigint {
    const us = Math.max(readUs, this.lastUs + 1);
    this.lastUs = us;
    return BigInt(us) * 1000n;
  }

  private saidKilled(end: Ended, ctx: SourceContext): void {
    if (!end.killed) return;
    ctx.count('kills');
    ctx.logger.warn(`${this.name} did not end within grace ${human(this.o.grace)} of SIGTERM: killed (SIGKILL)`);
  }

  // ---- starting ---------------------------------------------------------------------------------------------------

  private options(ctx: SourceContext, extra: Record<string, string>) {
    return {
      argv: this.o.command,
      cwd: this.o.cwd,
      env: { ...process.env, ...this.o.env, SIGFLOW_PIPELINE: this.pipeline, ...extra },
      graceMs: this.o.grace,
      maxLineBytes: this.o.max_line_bytes,
      logger: ctx.logger,
    };
  }

  /** The folder and the program exist and can be run: else SF_ERR_PROCEDURE_START at once, not at the first tick. */
  private async preflight(): Promise<void> {
    const o = this.o;
    const fail = (why: string): never => {
      throw new SigflowError('SF_ERR_PROCEDURE_START', `cannot start ${this.name}: ${why}`, { where: this.pipeline });
    };
    if (o.cwd !== undefined) {
      const st = await fsp.stat(o.cwd).catch((e: unknown) => systemReason(e));
      if (typeof st === 'string') fail(`cwd ${o.cwd}: ${st}`);
      else if (!st.isDirectory()) fail(`cwd ${o.cwd}: not a directory`);
    }
    const prog = this.name;
    if (prog.includes('/')) {
      const why = await notExecutable(resolve(o.cwd ?? process.cwd(), prog));
      if (why !== null) fail(why);
      return;
    }
    const path = o.env.PATH ?? process.env.PATH ?? '';
    for (const dir of path.split(delimiter)) {
      if ((await notExecutable(resolve(o.cwd ?? process.cwd(), join(dir || '.', prog)))) === null) return;
    }
    fail(`not found on PATH (${path})`);
  }
}

/** Null when `path` is a file this user may execute; else why not. */
async function notExecutable(path: string): Promise<string | null> {
  try {
    const st = await fsp.stat(path);
    if (!st.isFile()) return `${path} is not a file`;
    await fsp.access(path, constants.X_OK);
    return null;
  } catch (e) {
    return `${path}: ${systemReason(e)}`;
  }
}

function exitText(end: Ended): string {
  return end.signal ? `was killed by ${end.signal}` : `exited with code ${end.code}`;
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
