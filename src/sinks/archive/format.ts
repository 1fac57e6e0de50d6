/**
 * The archive's file format (see README.md): one NDJSON file per UTC date, `<prefix>-YYYY-MM-DD.ndjson`, gzipped
 * closed days `<prefix>-YYYY-MM-DD[.n].ndjson.gz`; one JSON object per record, lossless for the record model:
 *   {"time":"<ns>","measurement":"m","tags":{…},"fields":{"f":1.5,"i":{"int":"42"},"b":true,"s":"x","n":{"float":"NaN"}}}
 * Floats are JSON numbers, except NaN/±Infinity/-0 which are {"float":"NaN"|"Infinity"|"-Infinity"|"-0"};
 * integers are {"int":"<decimal>"}. Writing is the sink's (sink.ts); this module encodes lines and reads files back.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SigflowError } from '../../errors/index.js';
import type { FieldValue, TelemetryRecord } from '../../records/index.js';

const NS_PER_DAY = 86_400_000_000_000n;
/** `<prefix>-YYYY-MM-DD[.n].ndjson[.gz]`: 1 prefix, 2 date, 3 part, 4 .gz */
export const DAY_RE = /^(.+)-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.ndjson(\.gz)?$/;

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

/** A line of an archive file is not a record in the archive format; `where` is file:line. */
export class ArchiveFormatError extends SigflowError {
  constructor(message: string, where?: string) {
    super('SF_ERR_SINK_ARCHIVE_LINE', message, { where });
  }
}

/** Parses one archive line; `where` names it in errors (file:line). */
export function parseArchiveLine(line: string, where = 'line'): TelemetryRecord {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch (e) {
    throw new ArchiveFormatError(`${where}: not JSON (${(e as Error).message})`, where);
  }
  const o = j as { time?: unknown; measurement?: unknown; tags?: unknown; fields?: unknown };
  if (typeof o !== 'object' || o === null) throw new ArchiveFormatError(`${where}: not an object`, where);
  if (typeof o.time !== 'string' || !/^-?\d+$/.test(o.time))
    throw new ArchiveFormatError(`${where}: time must be a decimal string`, where);
  if (typeof o.measurement !== 'string') throw new ArchiveFormatError(`${where}: measurement must be a string`, where);
  if (typeof o.tags !== 'object' || o.tags === null)
    throw new ArchiveFormatError(`${where}: tags must be an object`, where);
  if (typeof o.fields !== 'object' || o.fields === null)
    throw new ArchiveFormatError(`${where}: fields must be an object`, where);
  // Object.fromEntries defines own properties, so a key named "__proto__" stays data, not a prototype.
  const tags = Object.fromEntries(
    Object.entries(o.tags).map(([k, v]) => {
      if (typeof v !== 'string') throw new ArchiveFormatError(`${where}: tag ${k} must be a string`, where);
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
        throw new ArchiveFormatError(`${where}: field ${k} has an unknown float ${JSON.stringify(f)}`, where);
      }
      throw new ArchiveFormatError(`${where}: field ${k} has an unsupported value`, where);
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
