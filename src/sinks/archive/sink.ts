/**
 * The `archive` sink: the raw message archive kept by the edge agent and the IoF backend — one NDJSON file per UTC
 * date (`<dir>/<prefix>-YYYY-MM-DD.ndjson`), records appended in batch order.
 *
 * - Atomic append: a batch is encoded first, then each day file gets one append (O_APPEND; short writes are
 *   continued) and, with `fsync: 'batch'`, an fsync before the write is acknowledged. If any append of the batch
 *   fails, every file it touched is truncated back to its previous size, so a failed write leaves nothing behind
 *   and the outbox's retry does not duplicate lines.
 * - Torn tail: after a crash mid-append the file may end in a partial line. The first time a day file is opened
 *   by a process its tail is checked; bytes after the last newline are cut off (they belong to a write that was
 *   never acknowledged, so the outbox still holds that batch) and counted in `repairedBytes`.
 * - Gzip rotation (optional): day files whose UTC date ended more than `close_after` ago are compressed to
 *   `<prefix>-YYYY-MM-DD.ndjson.gz` (written to a temp file, fsynced, renamed, then the plain file removed). A
 *   late record for a rotated day starts a new plain file, later rotated to `…YYYY-MM-DD.1.ndjson.gz` and so on.
 * - Not idempotent: an append log cannot recognise a record it already holds. A batch retried after a crash that
 *   happened between the fsync and the acknowledgement is appended twice (at-least-once); readers that need
 *   exactly-once de-duplicate on (measurement, tags, time).
 *
 * The line format and reading files back: format.ts.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeDirectory } from '../../io/index.js';
import type { Sink, WriteResult } from '../../outbox/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { type ArchiveSinkConfig, type ArchiveSinkOptions, archiveSinkConfigSchema } from './config.js';
import { DAY_RE, encodeArchiveLine, utcDate } from './format.js';

type Config = ArchiveSinkOptions;

interface DayFile {
  fd: number;
  size: number;
}

export class ArchiveSink implements Sink {
  readonly name: string;
  readonly config: Config;
  private readonly open = new Map<string, DayFile>();
  private readonly now: () => number;
  /** Bytes of torn tails cut off at open (diagnostics). */
  repairedBytes = 0;
  private lastRotationDay = '';

  constructor(config: ArchiveSinkConfig, opts: { now?: () => number } = {}) {
    this.config = archiveSinkConfigSchema.parse(config);
    this.name = this.config.name;
    this.now = opts.now ?? Date.now;
    makeDirectory(this.config.dir, 'archive folder'); // not mkdir -p: Node's loops forever under /proc
  }

  fileFor(date: string): string {
    return join(this.config.dir, `${this.config.prefix}-${date}.ndjson`);
  }

  /** Opens (append) a day file, cutting a torn tail left by a crash. */
  private dayFile(date: string): DayFile {
    let d = this.open.get(date);
    if (d) return d;
    const file = this.fileFor(date);
    const created = !existsSync(file);
    const fd = openSync(file, 'a+');
    try {
      if (created && this.config.fsync === 'batch') this.fsyncDir(); // the new directory entry must survive too
      let size = fstatSync(fd).size;
      if (size > 0) {
        // find the last newline, reading backwards in 64 KiB steps
        const chunk = Buffer.allocUnsafe(65536);
        let pos = size;
        let keep = 0;
        while (pos > 0) {
          const len = Math.min(chunk.length, pos);
          pos -= len;
          readSync(fd, chunk, 0, len, pos);
          const nl = chunk.subarray(0, len).lastIndexOf(10);
          if (nl >= 0) {
            keep = pos + nl + 1;
            break;
          }
        }
        if (keep < size) {
          ftruncateSync(fd, keep);
          if (this.config.fsync === 'batch') fsyncSync(fd);
          this.repairedBytes += size - keep;
          size = keep;
        }
      }
      d = { fd, size };
      this.open.set(date, d);
      return d;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    if (signal?.aborted) return { kind: 'retry', reason: `${this.name}: aborted before writing` };
    const byDay = new Map<string, string[]>();
    for (const r of batch) {
      const date = utcDate(r.time);
      let a = byDay.get(date);
      if (!a) byDay.set(date, (a = []));
      a.push(encodeArchiveLine(r));
    }
    const touched: [DayFile, number][] = [];
    try {
      this.maybeRotate();
      for (const [date, lines] of byDay) {
        const d = this.dayFile(date);
        touched.push([d, d.size]);
        const buf = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
        let off = 0;
        while (off < buf.length) off += writeSync(d.fd, buf, off, buf.length - off);
        d.size += buf.length;
      }
      if (this.config.fsync === 'batch') for (const [d] of touched) fsyncSync(d.fd);
      return { kind: 'ok' };
    } catch (e) {
      // undo: nothing of a failed batch stays, so its retry does not duplicate lines
      for (const [d, size] of touched) {
        try {
          ftruncateSync(d.fd, size);
          d.size = size;
        } catch {
          this.forget(d);
        }
      }
      return { kind: 'retry', reason: `${this.name}: ${(e as Error).message}` };
    }
  }

  private fsyncDir(): void {
    const dfd = openSync(this.config.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  private forget(d: DayFile): void {
    for (const [k, v] of this.open)
      if (v === d) {
        this.open.delete(k);
        try {
          closeSync(v.fd);
        } catch {
          /* already closed */
        }
      }
  }

  private maybeRotate(): void {
    if (!this.config.gzip_closed_days) return;
    const today = new Date(this.now()).toISOString().slice(0, 13); // at most once an hour
    if (today === this.lastRotationDay) return;
    this.lastRotationDay = today;
    this.rotateClosedDays();
  }

  /**
   * Gzips every plain day file whose UTC date ended more than close_after ago. Returns the files written.
   * Crash-safe in the sense that no data is lost: the .gz is complete (fsynced, renamed) before the plain file is
   * removed; a crash between the two leaves both, and the plain file is rotated again (as a numbered part).
   */
  rotateClosedDays(): string[] {
    const written: string[] = [];
    const cutoff = this.now() - this.config.close_after;
    for (const f of readdirSync(this.config.dir)) {
      const m = DAY_RE.exec(f);
      if (!m || m[1] !== this.config.prefix || m[4] || m[3]) continue;
      const date = m[2];
      if (Date.parse(`${date}T00:00:00Z`) + 86_400_000 > cutoff) continue;
      const src = join(this.config.dir, f);
      // close it, repairing a torn tail first
      closeSync(this.dayFile(date).fd);
      this.open.delete(date);
      let target = join(this.config.dir, `${this.config.prefix}-${date}.ndjson.gz`);
      for (let n = 1; existsSync(target); n++)
        target = join(this.config.dir, `${this.config.prefix}-${date}.${n}.ndjson.gz`);
      const tmp = `${target}.tmp`;
      const gz = gzipSync(readFileSync(src));
      const fd = openSync(tmp, 'w');
      try {
        let off = 0;
        while (off < gz.length) off += writeSync(fd, gz, off, gz.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, target);
      this.fsyncDir();
      unlinkSync(src);
      written.push(target);
    }
    return written;
  }

  async close(): Promise<void> {
    for (const d of this.open.values()) {
      try {
        closeSync(d.fd);
      } catch {
        /* ignore */
      }
    }
    this.open.clear();
  }
}

export function createArchiveSink(config: ArchiveSinkConfig): ArchiveSink {
  return new ArchiveSink(config);
}
