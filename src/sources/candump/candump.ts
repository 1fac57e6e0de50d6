/**
 * The `candump` source: SocketCAN's `candump -L` lines, read from a file followed like `tail -F` (rotations and
 * truncations survived) or from a command's stdout (`candump -L can0`, restarted with backoff when it exits), and
 * framed by src/framers/candump. One framer for the unit's life: interfaces keep their channel numbers across
 * rotations and restarts. Outages are said once, not once per attempt.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { type CandumpFramer, CanFrameBatch, createCandumpFramer } from '../../framers/index.js';
import { systemReason } from '../../io/index.js';
import { Backoff, type LiveSource, type SourceContext, sleep } from '../../pipelines/live/index.js';
import type { CandumpSourceOptions } from './config.js';

/** Bytes read from a file at a time. */
const CHUNK = 64 * 1024;
/** A stopping unit's command gets SIGTERM, then SIGKILL after this long. */
export const KILL_AFTER_MS = 2000;
/** A restarted command counts as back (the outage is over, the backoff reset) once it wrote or ran this long. */
const UP_AFTER_MS = 1000;
/** The command's stderr lines logged: the first ones, then every Nth. */
const STDERR_FIRST = 10;
const STDERR_EVERY = 1000;
/** The longest stderr line logged (the rest is cut). */
const STDERR_MAX = 500;
const FOREVER = 2 ** 31 - 1;

export class CandumpSource implements LiveSource {
  constructor(private readonly o: CandumpSourceOptions) {}

  async run(ctx: SourceContext): Promise<void> {
    const framer = createCandumpFramer({ channels: this.o.channels, use_now_time: this.o.use_now_time });
    ctx.track(framer.counters);
    if (this.o.command) await this.runCommand(this.o.command, framer, ctx);
    else await this.followFile(this.o.file as string, framer, ctx);
  }

  // ---- file ----------------------------------------------------------------------------------------------------

  private async followFile(path: string, framer: CandumpFramer, ctx: SourceContext): Promise<void> {
    const o = this.o;
    const backoff = new Backoff(o.restart_initial, o.restart_max);
    const batch = new CanFrameBatch();
    const buf = Buffer.allocUnsafe(CHUNK);
    let fh: FileHandle | null = null;
    let ino = 0;
    let dev = 0;
    let pos = 0;
    /** `from: end` skips what the file holds only when it is there at the unit's start. */
    let firstAttempt = true;
    /** Where reading stopped when a read failed: a reopen of the same file goes on from there. */
    let resume: { ino: number; dev: number; pos: number } | null = null;
    /** What was said about the file being unreadable (said once until it changes). */
    let down: string | null = null;
    /** The path no longer names the file being read (moved or deleted; said once). */
    let gone = false;

    const drain = async (h: FileHandle) => {
      while (!ctx.signal.aborted) {
        const { bytesRead } = await h.read(buf, 0, CHUNK, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
        const now = Date.now() * 1000;
        framer.push(bytes(buf, bytesRead), now, batch);
        await hand(batch, now, ctx);
      }
    };
    const following = () =>
      o.follow ? `following ${path} from ${pos === 0 ? 'its start' : `byte ${pos}`}` : `reading ${path}`;

    try {
      while (!ctx.signal.aborted) {
        if (fh === null) {
          const opened = await openRegular(path);
          if (typeof opened === 'string') {
            firstAttempt = false;
            ctx.count('open_failures');
            const why = `cannot open ${path}: ${opened}`;
            if (down !== why) ctx.state(false, `${why}; retrying with backoff (said once until it changes)`);
            down = why;
            await sleep(backoff.next(), ctx.signal);
            continue;
          }
          const st = opened.st;
          fh = opened.fh;
          if (resume && resume.ino === st.ino && resume.dev === st.dev && st.size >= resume.pos) pos = resume.pos;
          else pos = firstAttempt && o.from === 'end' ? st.size : 0;
          ino = st.ino;
          dev = st.dev;
          firstAttempt = false;
          resume = null;
          down = null;
          gone = false;
          backoff.reset();
          ctx.state(true, following());
        }
        try {
          await drain(fh);
          if (ctx.signal.aborted) break;
          if (!o.follow) {
            // a finished log: its last line may lack the LF
            const now = Date.now() * 1000;
            framer.flush(now, batch);
            await hand(batch, now, ctx);
            ctx.state(false, `${path} read to its end`);
            await sleep(FOREVER, ctx.signal); // done: idle until the unit stops (not a crash loop)
            break;
          }
          const st = await fsp.stat(path).catch(() => null);
          if (st === null) {
            // moved away or deleted: what the writer still adds to the old file is read until a new one appears
            if (!gone) ctx.state(false, `${path} is gone (moved or deleted); waiting for it to come back`);
            gone = true;
          } else if (st.ino !== ino || st.dev !== dev) {
            // replaced (rotated): the rest of the old file first, then the new one from its start
            await drain(fh);
            await endStream(framer, batch, ctx);
            await fh.close();
            fh = null;
            ctx.count('rotations');
            ctx.logger.info({ path }, `${path} was replaced (rotated): reading the new file from its start`);
            continue;
          } else if (st.size < pos) {
            // truncated in place (copytruncate): read again from the start. An unfinished line is kept: a writer
            // that appends (O_APPEND) writes its rest at the start of the emptied file.
            ctx.count('rotations');
            ctx.logger.info(
              { path, size: st.size, read: pos },
              `${path} was truncated (${st.size} bytes, ${pos} read): reading it again from its start`,
            );
            pos = 0;
            continue;
          } else if (gone) {
            gone = false;
            ctx.state(true, following());
          }
          if (st !== null && st.size > pos) continue;
          await sleep(o.poll_interval, ctx.signal);
        } catch (e) {
          if (ctx.signal.aborted) break;
          // a read that failed (EIO …): reopen with backoff, going on where reading stopped if it is the same file
          resume = { ino, dev, pos };
          await fh?.close().catch(() => {});
          fh = null;
          down = `cannot read ${path}: ${systemReason(e)}`;
          ctx.count('read_errors');
          ctx.state(false, `${down}; reopening with backoff`);
          await sleep(backoff.next(), ctx.signal);
        }
      }
    } finally {
      // on a stop an unfinished line is not guessed at: it is probably being written
      await hand(batch, Date.now() * 1000, ctx);
      await fh?.close().catch(() => {});
    }
  }

  // ---- command -------------------------------------------------------------------------------------------------

  private async runCommand(argv: string[], framer: CandumpFramer, ctx: SourceContext): Promise<void> {
    const cmd = argv.join(' ');
    const backoff = new Backoff(this.o.restart_initial, this.o.restart_max);
    /** Why the command went down, while it is down (said once per outage). */
    let outage: string | null = null;
    let starts = 0;
    const stderr = { lines: 0 };
    while (!ctx.signal.aborted) {
      if (starts++ > 0) ctx.count('restarts');
      const first = starts === 1;
      const why = await this.once(argv, framer, ctx, stderr, {
        spawned: (pid) => {
          if (first) ctx.state(true, `${cmd} started (pid ${pid})`);
          else ctx.logger.debug({ command: argv, pid }, `${cmd} restarted (pid ${pid})`);
        },
        up: (pid) => {
          backoff.reset();
          if (outage === null) return;
          outage = null;
          ctx.state(true, `${cmd} running again (pid ${pid})`);
        },
      });
      if (ctx.signal.aborted) break;
      if (outage === null) ctx.state(false, `${cmd}: ${why}; restarting with backoff (said once per outage)`);
      else ctx.logger.debug({ command: argv }, `${cmd}: ${why}`);
      outage = why;
      await sleep(backoff.next(), ctx.signal);
    }
  }

  /** Runs the command once: its stdout framed and handed over until it ends; resolves with why it ended. */
  private once(
    argv: string[],
    framer: CandumpFramer,
    ctx: SourceContext,
    stderr: { lines: number },
    on: { spawned(pid: number): void; up(pid: number): void },
  ): Promise<string> {
    return new Promise<string>((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        resolve(`cannot start: ${systemReason(e)}`);
        return;
      }
      const out = child.stdout as NonNullable<ChildProcess['stdout']>;
      const err = child.stderr as NonNullable<ChildProcess['stderr']>;
      const batch = new CanFrameBatch();
      let busy: Promise<void> | null = null;
      let spawned = false;
      let isUp = false;
      let ended = false;
      let upTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      let errText = '';

      const running = () => child.exitCode === null && child.signalCode === null;
      const markUp = () => {
        if (isUp || ended || !spawned) return;
        isUp = true;
        clearTimeout(upTimer);
        on.up(child.pid as number);
      };
      const errLine = (raw: string) => {
        const line = raw.replace(/\r$/, '');
        if (line.trim() === '') return;
        const n = ++stderr.lines;
        ctx.count('stderr_lines');
        if (n > STDERR_FIRST && n % STDERR_EVERY !== 0) return;
        const text = line.length > STDERR_MAX ? `${line.slice(0, STDERR_MAX)}…` : line;
        const more = n === STDERR_FIRST ? ` (further stderr lines: every ${STDERR_EVERY}th only)` : '';
        ctx.logger.warn({ command: argv[0], stderr_line: n }, `${argv[0]}: ${text}${more}`);
      };
      const onAbort = () => {
        if (!running()) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => {
          if (!running()) return;
          ctx.logger.warn({ command: argv, pid: child.pid }, `${argv[0]} did not end on SIGTERM: killed`);
          child.kill('SIGKILL');
        }, KILL_AFTER_MS);
      };
      const finish = async (why: string) => {
        if (ended) return;
        ended = true;
        clearTimeout(upTimer);
        clearTimeout(killTimer);
        clearTimeout(closeTimer);
        ctx.signal.removeEventListener('abort', onAbort);
        if (errText) errLine(errText);
        errText = '';
        // (each batch taken may start another from the chunks queued meanwhile)
        while (busy) await busy;
        await endStream(framer, batch, ctx);
        resolve(why);
      };

      child.on('spawn', () => {
        spawned = true;
        on.spawned(child.pid as number);
        upTimer = setTimeout(markUp, UP_AFTER_MS);
      });
      child.on('error', (e) => {
        if (!spawned) void finish(`cannot start: ${systemReason(e)}`);
        else ctx.logger.warn({ command: argv, err: systemReason(e) }, `${argv[0]}: ${systemReason(e)}`);
      });
      // a child that left a process of its own holding the pipes open: stop waiting for them after its exit
      child.on('exit', () => {
        closeTimer = setTimeout(() => {
          out.destroy();
          err.destroy();
        }, 1000);
      });
      child.on('close', (code, signal) => void finish(signal ? `killed by ${signal}` : `exited with code ${code}`));
      out.on('error', () => {});
      err.on('error', () => {});
      // chunks that arrive while the pipeline still holds the batch: a paused stdout is resumed by Node when the
      // child exits, to drain the pipe (bounded: the child is gone) — pushed into the held batch they were handed
      // over again with it (duplicates); they wait here for the batch to be taken
      const queued: Buffer[] = [];
      const take = (chunk: Buffer) => {
        if (busy) {
          queued.push(chunk);
          return;
        }
        markUp();
        const now = Date.now() * 1000;
        framer.push(bytes(chunk, chunk.length), now, batch);
        if (batch.count === 0) return;
        const r = ctx.frames(batch, now);
        if (r instanceof Promise) {
          // backpressure: the pipe fills, then the command blocks on its writes (candump: the socket's buffer
          // fills and the kernel drops frames)
          out.pause();
          const done = () => {
            batch.clear();
            busy = null;
            while (!busy && queued.length > 0) take(queued.shift() as Buffer);
            if (!busy && !out.destroyed) out.resume();
          };
          busy = r.then(done, done);
        } else batch.clear();
      };
      out.on('data', take);
      err.setEncoding('utf8');
      err.on('data', (s: string) => {
        errText += s;
        for (let i = errText.indexOf('\n'); i >= 0; i = errText.indexOf('\n')) {
          errLine(errText.slice(0, i));
          errText = errText.slice(i + 1);
        }
        if (errText.length > 4 * STDERR_MAX) {
          errLine(errText);
          errText = '';
        }
      });
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      if (ctx.signal.aborted) onAbort();
    });
  }
}

/** Opens a regular file for reading, or says why it cannot. */
async function openRegular(path: string): Promise<{ fh: FileHandle; st: Stats } | string> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    return systemReason(e);
  }
  try {
    const st = await fh.stat();
    if (st.isFile()) return { fh, st };
    await fh.close();
    return 'not a regular file';
  } catch (e) {
    await fh.close().catch(() => {});
    return systemReason(e);
  }
}

/** Hands the batch over (waiting when the pipeline asks to) and empties it. */
async function hand(batch: CanFrameBatch, nowUs: number, ctx: SourceContext): Promise<void> {
  if (batch.count === 0) return;
  const r = ctx.frames(batch, nowUs);
  if (r instanceof Promise) await r;
  batch.clear();
}

/**
 * A stream ended: candump ends every line with LF, so a line still unfinished (the command exited, the file was
 * replaced) was cut — dropped as malformed (framer.cut), the last frames handed over.
 */
async function endStream(framer: CandumpFramer, batch: CanFrameBatch, ctx: SourceContext): Promise<void> {
  framer.cut();
  await hand(batch, Date.now() * 1000, ctx);
}

/**
 * The first `n` bytes of a Buffer as a plain Uint8Array over the same memory. The framer keeps a copy of the last
 * interface name with `.slice()`, which copies a Uint8Array but only views a Buffer: with a Buffer that is read
 * into again, the name it compares with would change under it.
 */
function bytes(b: Buffer, n: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, n);
}
