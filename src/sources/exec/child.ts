/**
 * One run of a procedure's program: spawned in a process group of its own (detached), so that SIGTERM and
 * SIGKILL reach what it started too; its stdout read as lines, one at a time — the next line is taken only after
 * the previous one was handled (the pipe is paused meanwhile: backpressure up to the program's writes); its
 * stderr handed over line by line. `ended` resolves once the program exited and every line it wrote was handled.
 *
 * Processes the program leaves behind (a background child still running when it exits) get SIGTERM, then
 * SIGKILL after the grace, like the program on a stop. If the unit's process itself ends while the program runs
 * (a crash), the group gets SIGTERM — SIGKILL if it had SIGTERM already — so no program outlives its unit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { SigflowError } from '../../errors/index.js';
import { systemReason } from '../../io/index.js';

/** The bytes of an over-long line that are archived. */
export const LONG_LINE_HEAD = 4096;
/** The longest stderr line logged (the rest is cut), and the most held without an LF. */
const STDERR_MAX = 500;
/** After the program exited, how long pipes still held open (by a process outside its group) are waited for. */
const PIPE_WAIT_MS = 1000;

export interface ProcedureHooks {
  /** A whole stdout line (without its LF or CR) and when it was read (µs since the epoch). */
  /** A line of stdout; `invalid`: why it is no text (not valid UTF-8) and its bytes, to be counted and archived. */
  line(text: string, readUs: number, invalid?: { reason: string; bytes: Uint8Array }): Promise<void>;
  /** A line longer than the limit: its first LONG_LINE_HEAD bytes (the rest is skipped). */
  tooLong(head: Uint8Array): Promise<void>;
  /** A non-blank stderr line (cut at STDERR_MAX characters). */
  stderr(line: string): void;
}

export interface ProcedureOptions {
  argv: readonly string[];
  cwd: string | undefined;
  env: NodeJS.ProcessEnv;
  graceMs: number;
  maxLineBytes: number;
  logger: Logger;
}

export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It (or what it left behind) had to be killed with SIGKILL after the grace. */
  killed: boolean;
  /** A hook failed (the records could not be stored): the program was stopped, its later lines not handled. */
  error: Error | null;
}

type Item =
  | { kind: 'line'; text: string; readUs: number; invalid?: { reason: string; bytes: Uint8Array } }
  | { kind: 'long'; head: Uint8Array };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A line's bytes as text (CR LF ends trimmed), or as much as can be shown and why it is not text. */
function lineOf(b: Buffer, readUs: number): Item {
  try {
    return { kind: 'line', text: trimCr(utf8.decode(b)), readUs };
  } catch {
    return {
      kind: 'line',
      text: trimCr(b.toString('utf8')),
      readUs,
      invalid: { reason: 'not valid UTF-8', bytes: Uint8Array.from(b) },
    };
  }
}

export class Procedure {
  readonly pid: number;
  readonly ended: Promise<Ended>;
  private resolveEnded!: (e: Ended) => void;
  private readonly out: Readable;
  private readonly err: Readable;
  private readonly queue: Item[] = [];
  private pumping = false;
  private partial: Buffer[] = [];
  private partialLen = 0;
  /** Inside an over-long line: skipping to its LF. */
  private skipping = false;
  private errText = '';
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private closed = false;
  private done = false;
  private termSent = false;
  private killed = false;
  private error: Error | null = null;
  private killTimer: NodeJS.Timeout | undefined;
  private pipeTimer: NodeJS.Timeout | undefined;
  private readonly onProcessExit = () => {
    if (this.groupAlive()) this.signalGroup(this.termSent ? 'SIGKILL' : 'SIGTERM');
  };

  /** Starts the program; rejects with SF_ERR_PROCEDURE_START when it cannot be (not found, not executable …). */
  static start(o: ProcedureOptions, hooks: ProcedureHooks): Promise<Procedure> {
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      const cannot = (e: unknown) =>
        new SigflowError('SF_ERR_PROCEDURE_START', `cannot start ${o.argv[0]}: ${systemReason(e)}`, {
          where: o.argv[0],
          cause: e,
        });
      try {
        child = spawn(o.argv[0], o.argv.slice(1), {
          cwd: o.cwd,
          env: o.env,
          detached: true, // a process group of its own: signals reach its children too
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (e) {
        reject(cannot(e));
        return;
      }
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        resolve(new Procedure(child, o, hooks));
      });
      child.on('error', (e) => {
        if (!spawned) reject(cannot(e));
        else o.logger.warn({ command: o.argv[0], err: systemReason(e) }, `${o.argv[0]}: ${systemReason(e)}`);
      });
    });
  }

  private constructor(
    child: ChildProcess,
    private readonly o: ProcedureOptions,
    private readonly hooks: ProcedureHooks,
  ) {
    this.pid = child.pid as number;
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    this.out = child.stdout as Readable;
    this.err = child.stderr as Readable;
    process.on('exit', this.onProcessExit);
    this.out.on('error', () => {});
    this.err.on('error', () => {});
    this.out.on('data', (chunk: Buffer) => this.onData(chunk));
    this.out.on('end', () => {
      // a last line without its LF is a line all the same
      if (this.partialLen > 0 && !this.skipping) this.push(Buffer.concat(this.partial));
      this.partial = [];
      this.partialLen = 0;
      void this.pump();
    });
    this.err.setEncoding('utf8');
    this.err.on('data', (s: string) => this.onStderr(s));
    child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      // what it left running in its group ends with it; pipes held open outside the group are not waited for long
      if (this.groupAlive()) {
        o.logger.debug({ command: o.argv[0] }, `${o.argv[0]} exited, leaving processes behind: SIGTERM`);
        this.terminate();
      }
      this.armPipeTimer(o.graceMs + PIPE_WAIT_MS);
    });
    child.on('close', () => {
      this.closed = true;
      if (this.errText) this.stderrLine(this.errText);
      this.errText = '';
      this.finish();
    });
  }

  /** SIGTERM to the program's process group; SIGKILL after the grace if any of it is left. */
  terminate(): void {
    if (this.termSent) return;
    this.termSent = true;
    this.signalGroup('SIGTERM');
    // kept after `ended` too: processes that let go of the pipes but not of SIGTERM are killed all the same
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      if (this.groupAlive()) {
        this.killed = true;
        this.signalGroup('SIGKILL');
      }
      if (this.done) process.removeListener('exit', this.onProcessExit);
    }, this.o.graceMs);
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: nothing left of it
    }
  }

  /** Is any process of the group still there. */
  private groupAlive(): boolean {
    try {
      process.kill(-this.pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  private armPipeTimer(ms: number): void {
    clearTimeout(this.pipeTimer);
    this.pipeTimer = setTimeout(() => {
      if (this.closed) return;
      // lines in hand are handled first; then stop waiting for an EOF that a stray process holds back
      if (this.pumping || this.queue.length > 0 || this.out.isPaused()) return this.armPipeTimer(PIPE_WAIT_MS);
      this.out.destroy();
      this.err.destroy();
    }, ms);
  }

  private onData(chunk: Buffer): void {
    const readUs = Date.now() * 1000;
    let start = 0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
      this.piece(chunk.subarray(start, i), true, readUs);
      start = i + 1;
    }
    if (start < chunk.length) this.piece(chunk.subarray(start), false, readUs);
    if (this.queue.length > 0) {
      this.out.pause(); // backpressure: nothing more is read until these lines are handled
      void this.pump();
    }
  }

  /** A piece of a line; `ends`: its LF follows. */
  private piece(b: Buffer, ends: boolean, readUs: number): void {
    if (this.skipping) {
      if (ends) this.skipping = false;
      return;
    }
    if (this.partialLen + b.length > this.o.maxLineBytes) {
      const all = Buffer.concat([...this.partial, b.subarray(0, LONG_LINE_HEAD)]);
      this.queue.push({ kind: 'long', head: Uint8Array.from(all.subarray(0, LONG_LINE_HEAD)) });
      this.partial = [];
      this.partialLen = 0;
      this.skipping = !ends;
      return;
    }
    if (!ends) {
      this.partial.push(b);
      this.partialLen += b.length;
      return;
    }
    const whole = this.partialLen > 0 ? Buffer.concat([...this.partial, b]) : b;
    this.partial = [];
    this.partialLen = 0;
    this.queue.push(lineOf(whole, readUs));
  }

  private push(whole: Buffer): void {
    this.queue.push(lineOf(whole, Date.now() * 1000));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    while (this.queue.length > 0) {
      const item = this.queue.shift() as Item;
      if (this.error) continue; // stopped: the rest is not handled
      try {
        if (item.kind === 'line') await this.hooks.line(item.text, item.readUs, item.invalid);
        else await this.hooks.tooLong(item.head);
      } catch (e) {
        this.error = e as Error;
        this.terminate();
      }
    }
    this.pumping = false;
    if (!this.out.destroyed) this.out.resume();
    this.finish();
  }

  private onStderr(s: string): void {
    this.errText += s;
    for (let i = this.errText.indexOf('\n'); i >= 0; i = this.errText.indexOf('\n')) {
      this.stderrLine(this.errText.slice(0, i));
      this.errText = this.errText.slice(i + 1);
    }
    if (this.errText.length > 4 * STDERR_MAX) {
      this.stderrLine(this.errText);
      this.errText = '';
    }
  }

  private stderrLine(raw: string): void {
    const line = trimCr(raw);
    if (line.trim() === '') return;
    this.hooks.stderr(line.length > STDERR_MAX ? `${line.slice(0, STDERR_MAX)}…` : line);
  }

  /** Resolves `ended` once the program exited, its pipes closed and every line was handled. */
  private finish(): void {
    if (this.done || !this.closed || this.pumping || this.queue.length > 0) return;
    this.done = true;
    clearTimeout(this.pipeTimer);
    if (this.killTimer === undefined || !this.groupAlive()) {
      clearTimeout(this.killTimer);
      process.removeListener('exit', this.onProcessExit);
    }
    const exit = this.exit ?? { code: null, signal: null };
    this.resolveEnded({ code: exit.code, signal: exit.signal, killed: this.killed, error: this.error });
  }
}

function trimCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}
