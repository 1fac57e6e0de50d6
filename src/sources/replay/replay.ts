/**
 * The `replay` source: recorded logs played as a live stream — at real time, N× or as fast as the pipeline takes
 * them — for demos and for testing dashboards and pipelines without hardware. CANedge logs (MF4/MFC/MFE/MFM) come
 * through the MDF4 reader; SocketCAN candump `-L` logs through the candump framer. Frames keep their channel; with
 * `retime` they are stamped as if they happened now.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PasswordBook, walkTree } from '../../formats/canedge/index.js';
import { BUS_CAN, EV_CAN_DATA, EV_CAN_REMOTE, FLAG_BRS, FLAG_EDL, FLAG_EXT } from '../../formats/mdf4/index.js';
import {
  type CandumpFramer,
  CanFrameBatch,
  createCandumpFramer,
  FRAME_BRS,
  FRAME_ERROR,
  FRAME_FD,
  FRAME_RTR,
} from '../../framers/index.js';
import { systemReason } from '../../io/index.js';
import { type LiveSource, type SourceContext, sleep } from '../../pipelines/live/index.js';
import {
  type BatchView,
  expandInputs,
  type InputProblem,
  type LogInput,
  runLogPipeline,
} from '../../pipelines/logdecode/index.js';
import type { ReplaySourceOptions } from './config.js';

/** Thrown through the log pipeline to stop it when the unit stops (caught here). */
class Stopped extends Error {}

/** What a pass plays, in order: runs of CANedge logs (one log pipeline each) and candump logs. */
type Item = { kind: 'mdf4'; inputs: LogInput[] } | { kind: 'candump'; path: string };

/** Names that make a file a candump log (in a folder, a `.log` must also look like one). */
const CANDUMP_EXT = /\.(log|candump)$/i;
/** A candump -L line's start: `(secs.frac) iface ID#` (the framer reads the rest). */
const CANDUMP_LINE = /^\(\d{1,10}\.\d{1,9}\)[ \t]+\S+[ \t]+(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#/;
/** Bytes read from a candump log at a time. */
const CHUNK = 64 * 1024;

export class ReplaySource implements LiveSource {
  /** The last retimed frame time (µs). */
  private lastUs = 0;
  /** Wall time (ms) and log time (µs) of the first frame of this pass, for pacing and retiming. */
  private wall0 = -1;
  private log0 = 0;
  /** Frames of a candump log as the framer gives them, before pacing. */
  private readonly dumped = new CanFrameBatch();

  constructor(private readonly o: ReplaySourceOptions) {}

  async run(ctx: SourceContext): Promise<void> {
    const { items, files, problems } = await listInputs(this.o.paths);
    for (const p of problems) ctx.logger.warn({ path: p.path }, `replay: ${p.path}: ${p.message}`);
    if (files === 0) {
      ctx.state(false, `replay: no log files in ${this.o.paths.join(', ')}`);
      await sleep(2 ** 31 - 1, ctx.signal); // nothing to play: idle until stopped (not a crash loop)
      return;
    }
    const passwords = new PasswordBook(this.o.passwords ?? {}, 'replay.passwords');
    const batch = new CanFrameBatch();
    /** One framer for every candump log of the unit: interfaces keep their channel across files and passes. */
    let framer: CandumpFramer | null = null;
    ctx.state(true, `replaying ${files} file(s) at ${this.o.speed === 0 ? 'full speed' : `${this.o.speed}×`}`);
    do {
      this.wall0 = -1;
      this.log0 = 0;
      const onBatch = async (view: BatchView) => {
        if (ctx.signal.aborted) throw new Stopped();
        const b = view.frames;
        for (let i = 0; i < b.count; i++) {
          if (b.bus[i] !== BUS_CAN || (b.type[i] !== EV_CAN_DATA && b.type[i] !== EV_CAN_REMOTE)) continue;
          const us = Number(b.startNs / 1000n) + b.offsetNs[i] / 1000;
          const wait = this.due(us);
          if (wait > 5 || batch.count >= 4096) {
            // hand over what is due before waiting (frames are not held back for the next one's time)
            await this.hand(batch, ctx);
            if (wait > 5) await sleep(wait, ctx.signal);
            if (ctx.signal.aborted) throw new Stopped();
          }
          const f = b.flags[i];
          const flags =
            (b.type[i] === EV_CAN_REMOTE ? FRAME_RTR : 0) |
            (f & FLAG_EDL ? FRAME_FD : 0) |
            (f & FLAG_BRS ? FRAME_BRS : 0);
          batch.push(
            this.stamp(us),
            b.id[i],
            (f & FLAG_EXT) !== 0,
            flags,
            b.channel[i],
            b.data,
            b.dataStart[i],
            b.length[i],
          );
        }
        await this.hand(batch, ctx);
      };
      try {
        for (const item of items) {
          if (item.kind === 'candump') {
            if (framer === null) {
              framer = createCandumpFramer({ channels: this.o.channels });
              ctx.track(framer.counters);
            }
            await this.playCandump(item.path, framer, batch, ctx);
            continue;
          }
          await runLogPipeline(item.inputs, {
            passwords,
            onBatch,
            onFileError: (input, e) => {
              if (e instanceof Stopped) throw e;
              ctx.count('file_errors');
              ctx.logger.warn({ path: input.path }, `replay: ${input.path}: ${e.message}`);
            },
            onWarning: (input, w) => {
              ctx.count('file_warnings');
              ctx.logger.warn({ path: input.path, code: w.code }, `replay: ${input.path}: ${w.message}`);
            },
          });
        }
      } catch (e) {
        if (!(e instanceof Stopped)) throw e;
      }
      if (!ctx.signal.aborted) ctx.count('passes'); // a pass cut short by a stop is not one
    } while (this.o.loop && !ctx.signal.aborted);
    await this.hand(batch, ctx);
    if (!ctx.signal.aborted) {
      ctx.state(false, 'replay finished');
      await sleep(2 ** 31 - 1, ctx.signal); // done: stay up (idle) until the unit is stopped
    }
  }

  /**
   * Milliseconds until a frame recorded at `us` is due: the first frame of a pass plays at once, one recorded Δ
   * later plays Δ / speed later (at full speed, 0: now).
   */
  private due(us: number): number {
    if (this.wall0 < 0) {
      this.wall0 = Date.now();
      this.log0 = us;
    }
    const speed = this.o.speed;
    const at = speed === 0 ? Date.now() : this.wall0 + (us - this.log0) / 1000 / speed;
    return at - Date.now();
  }

  /**
   * The time a frame recorded at `us` is stamped with: retimed, as if it happened now; at full speed (0) the time
   * it is handed over, kept strictly increasing (frames of a pass must not land on each other's timestamps).
   */
  private stamp(us: number): number {
    if (!this.o.retime) return us;
    const speed = this.o.speed;
    const t = speed === 0 ? Math.max(Date.now() * 1000, this.lastUs + 1) : this.wall0 * 1000 + (us - this.log0) / speed;
    this.lastUs = t;
    return t;
  }

  /** Plays a candump log: read in chunks, framed, its frames paced like a CANedge log's. */
  private async playCandump(path: string, framer: CandumpFramer, batch: CanFrameBatch, ctx: SourceContext) {
    if (ctx.signal.aborted) throw new Stopped();
    let fh: FileHandle;
    try {
      fh = await fsp.open(path, 'r');
    } catch (e) {
      ctx.count('file_errors');
      ctx.logger.warn({ path }, `replay: ${path}: cannot read: ${systemReason(e)}`);
      return;
    }
    const buf = Buffer.allocUnsafe(CHUNK);
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        const now = Date.now() * 1000;
        // a log's last line may lack its LF: what the framer holds is a line when the file ends
        if (bytesRead === 0) framer.flush(now, this.dumped);
        // (a plain Uint8Array: the framer's copy of the last interface name is a .slice(), a view of a Buffer)
        else framer.push(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead), now, this.dumped);
        await this.playFrames(batch, ctx);
        if (bytesRead === 0) return;
      }
    } catch (e) {
      if (e instanceof Stopped) throw e;
      // failed part way: the frames read so far were played; a line cut by the failure does not join the next file
      framer.flush(Date.now() * 1000, this.dumped);
      this.dumped.clear();
      ctx.count('file_errors');
      ctx.logger.warn({ path }, `replay: ${path}: ${systemReason(e)}`);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /** Paces the framed candump frames into `batch` (error frames are not played, as in CANedge logs). */
  private async playFrames(batch: CanFrameBatch, ctx: SourceContext): Promise<void> {
    const d = this.dumped;
    for (let i = 0; i < d.count; i++) {
      if ((d.flags[i] & FRAME_ERROR) !== 0) continue;
      const us = d.timeUs[i];
      const wait = this.due(us);
      if (wait > 5 || batch.count >= 4096) {
        await this.hand(batch, ctx);
        if (wait > 5) await sleep(wait, ctx.signal);
        if (ctx.signal.aborted) throw new Stopped();
      }
      batch.push(this.stamp(us), d.id[i], d.ext[i] === 1, d.flags[i], d.channel[i], d.data, d.offset[i], d.length[i]);
    }
    d.clear();
    await this.hand(batch, ctx);
  }

  private async hand(batch: CanFrameBatch, ctx: SourceContext): Promise<void> {
    if (batch.count === 0) return;
    await ctx.frames(batch, Date.now() * 1000);
    batch.clear();
  }
}

/**
 * Is this a candump -L log: is its first line that is neither blank nor a `#` comment a candump line (read from
 * its first 4 KiB)? False when it cannot be read (the MDF4 reader then says why).
 */
export async function looksLikeCandump(path: string): Promise<boolean> {
  let fh: FileHandle | null = null;
  try {
    fh = await fsp.open(path, 'r');
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    for (const raw of buf.subarray(0, bytesRead).toString('latin1').split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      return CANDUMP_LINE.test(line);
    }
    return false;
  } catch {
    return false;
  } finally {
    await fh?.close().catch(() => {});
  }
}

/**
 * The files a pass plays, in the order given: a file argument is a candump log when its name ends in `.log` or
 * `.candump` or its first line is a candump line, else a CANedge log (the bytes decide, as in `sigflow frames`); a
 * folder gives its CANedge logs in log-tree order, then its candump logs (`*.candump`, and `*.log` files that look
 * like candump logs) by path.
 */
export async function listInputs(paths: string[]): Promise<{ items: Item[]; files: number; problems: InputProblem[] }> {
  const items: Item[] = [];
  const problems: InputProblem[] = [];
  const said = new Set<string>();
  const problem = (p: InputProblem) => {
    const key = `${p.path}\0${p.message}`;
    if (said.has(key)) return;
    said.add(key);
    problems.push(p);
  };
  const seen = new Set<string>();
  let files = 0;
  const addMdf4 = (inputs: LogInput[]) => {
    for (const input of inputs) {
      const key = resolve(input.path);
      if (seen.has(key)) continue;
      seen.add(key);
      files++;
      const last = items.at(-1);
      if (last?.kind === 'mdf4') last.inputs.push(input);
      else items.push({ kind: 'mdf4', inputs: [input] });
    }
  };
  const addCandump = (path: string) => {
    const key = resolve(path);
    if (seen.has(key)) return;
    seen.add(key);
    files++;
    items.push({ kind: 'candump', path });
  };
  for (const p of paths) {
    let st: Awaited<ReturnType<typeof fsp.stat>> | null = null;
    try {
      st = await fsp.stat(p);
    } catch {
      // expandInputs says why
    }
    if (st?.isFile() && (CANDUMP_EXT.test(p) || (await looksLikeCandump(p)))) {
      addCandump(p);
      continue;
    }
    const found = await expandInputs([p]);
    if (!st?.isDirectory()) {
      for (const q of found.problems) problem(q);
      addMdf4(found.files);
      continue;
    }
    // a folder: its CANedge logs, then its candump logs
    const dumps: string[] = [];
    const before = problems.length;
    try {
      for await (const f of walkTree(p, { accept: (name) => CANDUMP_EXT.test(name), onProblem: problem })) {
        if (/\.candump$/i.test(f.path) || (await looksLikeCandump(f.path))) dumps.push(f.path);
      }
    } catch {
      // the folder cannot be listed: expandInputs says so
    }
    const empty = found.files.length === 0 && dumps.length === 0;
    for (const q of found.problems) {
      if (q.path === p && q.message.startsWith('no log files')) continue; // said below, with candump logs named
      problem(q);
    }
    if (empty && problems.length === before)
      problem({
        path: p,
        message: 'no log files (*.MF4, *.MFC, *.MFE, *.MFM, candump *.log, *.candump) in this folder',
      });
    addMdf4(found.files);
    for (const d of dumps) addCandump(d);
  }
  return { items, files, problems };
}
