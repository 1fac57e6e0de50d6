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
 * - Gzip rotation (optional): day files whose UTC date ended more than `closeAfterMs` ago are compressed to
 *   `<prefix>-YYYY-MM-DD.ndjson.gz` (written to a temp file, fsynced, renamed, then the plain file removed). A
 *   late record for a rotated day starts a new plain file, later rotated to `…YYYY-MM-DD.1.ndjson.gz` and so on.
 * - Not idempotent: an append log cannot recognise a record it already holds. A batch retried after a crash that
 *   happened between the fsync and the acknowledgement is appended twice (at-least-once); readers that need
 *   exactly-once de-duplicate on (measurement, tags, time).
 *
 * Line format (lossless for the record model):
 *   {"time":"<ns>","measurement":"m","tags":{…},"fields":{"f":1.5,"i":{"int":"42"},"b":true,"s":"x","n":{"float":"NaN"}}}
 * Floats are JSON numbers, except NaN/±Infinity/-0 which are {"float":"NaN"|"Infinity"|"-Infinity"|"-0"};
 * integers are {"int":"<decimal>"}.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { FieldValue, TelemetryRecord } from '../../records/record.js';
import type { Sink, WriteResult } from '../sink.js';

export const archiveSinkConfigSchema = z
  .object({
    type: z.literal('archive'),
    name: z.string().min(1).default('archive'),
    dir: z.string().min(1),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -')
      .default('sigflow'),
    /** 'batch': fsync each day file before acknowledging a write (default); 'none': leave it to the OS. */
    fsync: z.enum(['batch', 'none']).default('batch'),
    /** Gzip day files once their UTC date is over (plus closeAfterMs). */
    gzipClosedDays: z.boolean().default(false),
    closeAfterMs: z.number().int().min(0).default(3_600_000),
  })
  .strict();
export type ArchiveSinkConfig = z.input<typeof archiveSinkConfigSchema>;
type Config = z.output<typeof archiveSinkConfigSchema>;

const NS_PER_DAY = 86_400_000_000_000n;
const DAY_RE = /^(.+)-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.ndjson(\.gz)?$/;

/** UTC date (YYYY-MM-DD) of a ns timestamp (any int64, including before 1970). */
export function utcDate(ns: bigint): string {
  let day = ns / NS_PER_DAY;
  if (ns < 0n && ns % NS_PER_DAY !== 0n) day -= 1n;
  return new Date(Number(day) * 86_400_000).toISOString().slice(0, 10);
}

function encodeValue(v: FieldValue): unknown {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v) || Object.is(v, -0)) return { float: Object.is(v, -0) ? '-0' : String(v) };
      return v;
    case 'bigint':
      return { int: v.toString() };
    default:
      return v;
  }
}

/** One record → one NDJSON line (without the newline). */
export function encodeArchiveLine(r: TelemetryRecord): string {
  let plain = true;
  for (const k in r.fields) {
    const t = typeof r.fields[k];
    if (t === 'bigint' || (t === 'number' && (!Number.isFinite(r.fields[k]) || Object.is(r.fields[k], -0))))
      plain = false;
  }
  // Object.fromEntries keeps a field named "__proto__" as data
  const fields = plain ? r.fields : Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, encodeValue(v)]));
  return JSON.stringify({ time: r.time.toString(), measurement: r.measurement, tags: r.tags, fields });
}

export class ArchiveFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveFormatError';
  }
}

/** Parses one archive line; `where` names it in errors (file:line). */
export function parseArchiveLine(line: string, where = 'line'): TelemetryRecord {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch (e) {
    throw new ArchiveFormatError(`${where}: not JSON (${(e as Error).message})`);
  }
  const o = j as { time?: unknown; measurement?: unknown; tags?: unknown; fields?: unknown };
  if (typeof o !== 'object' || o === null) throw new ArchiveFormatError(`${where}: not an object`);
  if (typeof o.time !== 'string' || !/^-?\d+$/.test(o.time))
    throw new ArchiveFormatError(`${where}: time must be a decimal string`);
  if (typeof o.measurement !== 'string') throw new ArchiveFormatError(`${where}: measurement must be a string`);
  if (typeof o.tags !== 'object' || o.tags === null) throw new ArchiveFormatError(`${where}: tags must be an object`);
  if (typeof o.fields !== 'object' || o.fields === null)
    throw new ArchiveFormatError(`${where}: fields must be an object`);
  // Object.fromEntries defines own properties, so a key named "__proto__" stays data, not a prototype.
  const tags = Object.fromEntries(
    Object.entries(o.tags).map(([k, v]) => {
      if (typeof v !== 'string') throw new ArchiveFormatError(`${where}: tag ${k} must be a string`);
      return [k, v];
    }),
  );
  const fields = Object.fromEntries(
    Object.entries(o.fields as Record<string, unknown>).map(([k, v]): [string, FieldValue] => {
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return [k, v];
      if (
        v &&
        typeof v === 'object' &&
        typeof (v as { int?: unknown }).int === 'string' &&
        /^-?\d+$/.test((v as { int: string }).int)
      )
        return [k, BigInt((v as { int: string }).int)];
      if (v && typeof v === 'object' && typeof (v as { float?: unknown }).float === 'string') {
        const f = (v as { float: string }).float;
        if (f === '-0') return [k, -0];
        if (f === 'NaN' || f === 'Infinity' || f === '-Infinity') return [k, Number(f)];
        throw new ArchiveFormatError(`${where}: field ${k} has an unknown float ${JSON.stringify(f)}`);
      }
      throw new ArchiveFormatError(`${where}: field ${k} has an unsupported value`);
    }),
  );
  return { time: BigInt(o.time), measurement: o.measurement, tags, fields };
}

/** Reads a day file (.ndjson or .ndjson.gz) back into records. A torn last line (no newline) is reported, not parsed. */
export function readArchiveFile(path: string): { records: TelemetryRecord[]; tornTailBytes: number } {
  let buf = readFileSync(path);
  if (path.endsWith('.gz')) buf = gunzipSync(buf);
  const text = buf.toString('utf8');
  const end = text.lastIndexOf('\n') + 1;
  const records: TelemetryRecord[] = [];
  let ln = 0;
  for (const line of text.slice(0, end).split('\n')) {
    ln++;
    if (line) records.push(parseArchiveLine(line, `${path}:${ln}`));
  }
  return { records, tornTailBytes: Buffer.byteLength(text.slice(end)) };
}

/** Every archive file of a prefix in a directory, by UTC date. */
export function listArchive(dir: string, prefix = 'sigflow'): { date: string; file: string; gz: boolean }[] {
  if (!existsSync(dir)) return [];
  const out: { date: string; file: string; gz: boolean }[] = [];
  for (const f of readdirSync(dir)) {
    const m = DAY_RE.exec(f);
    if (m && m[1] === prefix) out.push({ date: m[2], file: join(dir, f), gz: m[4] !== undefined });
  }
  return out.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.file < b.file ? -1 : 1));
}

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
    mkdirSync(this.config.dir, { recursive: true });
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
    if (!this.config.gzipClosedDays) return;
    const today = new Date(this.now()).toISOString().slice(0, 13); // at most once an hour
    if (today === this.lastRotationDay) return;
    this.lastRotationDay = today;
    this.rotateClosedDays();
  }

  /**
   * Gzips every plain day file whose UTC date ended more than closeAfterMs ago. Returns the files written.
   * Crash-safe in the sense that no data is lost: the .gz is complete (fsynced, renamed) before the plain file is
   * removed; a crash between the two leaves both, and the plain file is rotated again (as a numbered part).
   */
  rotateClosedDays(): string[] {
    const written: string[] = [];
    const cutoff = this.now() - this.config.closeAfterMs;
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
