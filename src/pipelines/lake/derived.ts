/**
 * What the derived tables of the lake — events (events.ts) and trip summaries (trips.ts) — share: their config
 * files (CSS's JSON, validated with the key path of each problem), the day range of a run, and reading a lake
 * folder's rows by device, message folder and day in time order (DuckDB).
 */

import type { z } from 'zod';
import { SigflowError } from '../../errors/index.js';
import { dayOfPath, FolderLakeStore, type LakeStore, parseTableKey } from '../../formats/lake/index.js';
import { describeConfigIssues } from '../../schema/index.js';
import type { LakeQuery, ReadableLake } from './query.js';

/** A config file that does not fit: every problem as `file: key.path: what`; `where` names the first key path. */
export function lakeConfigError(file: string, problems: readonly string[]): SigflowError {
  const first = problems[0] ?? '';
  return new SigflowError('SF_ERR_LAKE_EVENTS_CONFIG', problems.map((p) => `${file}: ${p}`).join('\n'), {
    where: `${file}: ${first.slice(0, Math.max(0, first.indexOf(': ')))}`,
  });
}

/** Validates a config (JSON text or an already parsed value) against a schema, naming the key path of each problem. */
export function parseLakeConfig<T extends z.ZodType>(schema: T, source: unknown, file: string): z.output<T> {
  let value = source;
  if (typeof source === 'string') {
    try {
      value = JSON.parse(source.replace(/^\uFEFF/, ''));
    } catch (e) {
      throw lakeConfigError(file, [`(root): not JSON (${(e as Error).message})`]);
    }
  }
  const r = schema.safeParse(value);
  if (!r.success) throw lakeConfigError(file, describeConfigIssues(r.error, value));
  return r.data;
}

/** A day as `YYYY-MM-DD` (or `YYYY/MM/DD`) → days since the epoch; SF_ERR_USAGE naming `what` otherwise. */
export function parseLakeDay(s: string, what: string): number {
  const m = /^(\d{4})[-/](\d{2})[-/](\d{2})$/.exec(s.trim());
  // a real day only (dayOfPath refuses what Date.UTC would roll over: 2026-13-01, 2026-02-30, the years 0–99)
  const day = m ? dayOfPath(`${m[1]}/${m[2]}/${m[3]}`) : null;
  if (day === null)
    throw new SigflowError('SF_ERR_USAGE', `${what}: "${s}" is not a day (YYYY-MM-DD)`, { where: what });
  return day;
}

/** `from`/`to` options → day numbers (null: not given), checked to be in order. */
export function lakeDayRange(from?: string, to?: string): { from: number | null; to: number | null } {
  const f = from === undefined ? null : parseLakeDay(from, 'from');
  const t = to === undefined ? null : parseLakeDay(to, 'to');
  if (f !== null && t !== null && t < f)
    throw new SigflowError('SF_ERR_USAGE', `to (${to}) is before from (${from})`, { where: 'to' });
  return { from: f, to: t };
}

/** The table files of a lake by device, message folder and day, from one listing. */
export class LakeFiles {
  private constructor(
    /** The lake's folder. */
    readonly root: string,
    private readonly map: Map<string, Map<string, Map<number, string[]>>>,
  ) {}

  /** The table files of a lake's local files (readableLake): its keys, or a listing of its folder. */
  static async list(lake: ReadableLake): Promise<LakeFiles> {
    const map = new Map<string, Map<string, Map<number, string[]>>>();
    const root = lake.folder.replace(/\/+$/, '');
    const keys = lake.keys ?? [];
    if (lake.keys === null) for await (const o of new FolderLakeStore(lake.folder).list('')) keys.push(o.key);
    for (const key of keys) {
      const k = parseTableKey(key);
      if (!k) continue;
      let folders = map.get(k.device);
      if (!folders) map.set(k.device, (folders = new Map()));
      let days = folders.get(k.folder);
      if (!days) folders.set(k.folder, (days = new Map()));
      let files = days.get(k.day);
      if (!files) days.set(k.day, (files = []));
      files.push(`${root}/${key}`);
    }
    for (const folders of map.values())
      for (const days of folders.values()) for (const files of days.values()) files.sort();
    return new LakeFiles(root, map);
  }

  devices(): string[] {
    return [...this.map.keys()].sort();
  }

  folders(device: string): string[] {
    return [...(this.map.get(device)?.keys() ?? [])].sort();
  }

  /** The days a folder has files for, ascending. */
  days(device: string, folder: string): number[] {
    return [...(this.map.get(device)?.get(folder)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The files of a folder and day (paths). */
  files(device: string, folder: string, day: number): string[] {
    return this.map.get(device)?.get(folder)?.get(day) ?? [];
  }
}

/** Rows read from some table files: times (µs) and one array per requested signal present in the files. */
export interface LakeRowSet {
  t: number[];
  /** By signal name; a signal none of the files has is absent. */
  values: Map<string, (number | null)[]>;
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** A µs time as a TIMESTAMPTZ literal (a plain comparison on `t` lets DuckDB skip row groups by statistics). */
function tsLiteral(us: number): string {
  const ms = Math.floor(us / 1000);
  const rest = String(us - ms * 1000).padStart(3, '0');
  return `TIMESTAMPTZ '${new Date(ms).toISOString().slice(0, -1).replace('T', ' ')}${rest}+00'`;
}

/** Reads table files through DuckDB, in time order (ties: by file, then row: the same order every run). */
export class LakeRows {
  constructor(private readonly q: LakeQuery) {}

  /** The columns the files have together (a column a newer DBC added counts). */
  async columns(paths: readonly string[]): Promise<Set<string>> {
    if (paths.length === 0) return new Set();
    const r = await this.q.query(`DESCRIBE SELECT * FROM ${this.source(paths)}`);
    return new Set(r.rows.map((row) => String(row.column_name)));
  }

  /** The rows with `fromUs ≤ t < toUs`: their times and the requested signals the files have. */
  async read(paths: readonly string[], signals: readonly string[], fromUs: number, toUs: number): Promise<LakeRowSet> {
    const values = new Map<string, (number | null)[]>();
    const t: number[] = [];
    if (paths.length === 0) return { t, values };
    const present = signals.length ? await this.columns(paths) : new Set<string>();
    const cols = [...new Set(signals)].filter((s) => present.has(s) && s !== 't');
    const select = cols.map((c, i) => `, CAST(${ident(c)} AS DOUBLE) AS c${i}`).join('');
    const r = await this.q.query(
      `SELECT epoch_us(t) AS us${select} FROM ${this.source(paths, true)}
       WHERE t >= ${tsLiteral(fromUs)} AND t < ${tsLiteral(toUs)} ORDER BY us, filename, file_row_number`,
    );
    const arrays = cols.map(() => [] as (number | null)[]);
    for (const row of r.rows) {
      t.push(Number(row.us as bigint));
      for (let i = 0; i < cols.length; i++) arrays[i].push(row[`c${i}`] as number | null);
    }
    cols.forEach((c, i) => {
      values.set(c, arrays[i]);
    });
    return { t, values };
  }

  /** The latest time before `beforeUs` in the files, or null. */
  async lastTime(paths: readonly string[], beforeUs: number): Promise<number | null> {
    if (paths.length === 0) return null;
    const r = await this.q.query(
      `SELECT max(epoch_us(t)) AS us FROM ${this.source(paths)} WHERE t < ${tsLiteral(beforeUs)}`,
    );
    const us = r.rows[0]?.us;
    return typeof us === 'bigint' ? Number(us) : null;
  }

  private source(paths: readonly string[], rowOrder = false): string {
    const order = rowOrder ? ', filename = true, file_row_number = true' : '';
    return `read_parquet([${paths.map(lit).join(', ')}], union_by_name = true${order})`;
  }
}

/** The keys under a prefix (the outputs a run may have to remove). */
export async function listKeys(lake: LakeStore, prefix: string): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of lake.list(prefix)) out.add(o.key);
  return out;
}

/** A time as CSS's names have it (strftime `%Y%m%dT%H%M%S.%f`, UTC): `20260615T235958.123456`. */
export function compactTime(tUs: number): string {
  const ms = Math.floor(tUs / 1000);
  const iso = new Date(ms).toISOString().replace(/[-:]/g, ''); // 20260615T235958.123Z
  return `${iso.slice(0, 19)}${String(tUs - ms * 1000).padStart(3, '0')}`;
}
