/**
 * The embedded time-series store: one SQLite file (better-sqlite3, WAL) holding
 *
 *   series  (id, measurement, tags, field, type)   the catalogue: one row per measurement + tag set + field
 *   samples (series_id, time, value)                WITHOUT ROWID, primary key (series_id, time)
 *
 * `time` is ns since the epoch as a 64-bit INTEGER (covers 1677-09-21 … 2262-04-11 exactly). `value` has no
 * declared type, so SQLite keeps each value's storage class: REAL for floats (1.0 stays REAL), INTEGER for
 * integers (bigint, full int64) and booleans (0/1; the series type says it is a boolean), TEXT for strings.
 *
 * Writes are idempotent: the same series + time stores one sample (the last value written wins, as in InfluxDB).
 * A series has one type for life (fixed by its first sample); a sample of another type is rejected with a reason,
 * like InfluxDB's field type conflict.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SigflowError } from '../errors/index.js';
import { canonicalTags, type FieldValue, TagKeyOrder, type TelemetryRecord } from '../records/index.js';
import { formatTime } from '../units/index.js';
import { unknownNameText } from './names.js';

export type SeriesType = 'float' | 'integer' | 'boolean' | 'string';

export interface SeriesInfo {
  id: number;
  measurement: string;
  tags: Record<string, string>;
  field: string;
  type: SeriesType;
}

export interface StoreWriteReport {
  /** Samples (record fields) stored or overwritten. */
  samples: number;
  /** Records with at least one field that could not be stored; their other fields were stored. */
  rejected: { index: number; reason: string }[];
}

export interface RangeQuery {
  measurement: string;
  /** Only series whose tags include all of these (exact match). */
  tags?: Readonly<Record<string, string>>;
  /** Only these fields (default: all). */
  fields?: readonly string[];
  /** Inclusive start, ns. */
  from: bigint;
  /** Exclusive end, ns. */
  to: bigint;
  /**
   * Downsample to at most this many buckets per series (equal width ceil((to-from)/points) ns, aligned on
   * `from`). Omit for raw samples.
   */
  points?: number;
}

export interface TimedValue<V> {
  time: bigint;
  value: V;
}

/**
 * One bucket of one series. Every value carries the timestamp of the sample it came from (min, max, last). The mean
 * is not a sample: its time is the centroid (mean time) of the samples in the bucket. Empty buckets are omitted.
 * For string series only `last` is set; for boolean series min/max are booleans and mean is the fraction true.
 */
export interface Bucket {
  start: bigint;
  end: bigint;
  count: number;
  min: TimedValue<FieldValue> | null;
  max: TimedValue<FieldValue> | null;
  mean: TimedValue<number> | null;
  last: TimedValue<FieldValue>;
}

export interface SeriesBuckets {
  series: SeriesInfo;
  buckets: Bucket[];
}

export interface SeriesSamples {
  series: SeriesInfo;
  samples: TimedValue<FieldValue>[];
}

export type StoreErrorCode =
  | 'SF_ERR_STORE_OPEN'
  | 'SF_ERR_STORE_NOT_A_STORE'
  | 'SF_ERR_STORE_CLOSED'
  | 'SF_ERR_STORE_CORRUPT'
  | 'SF_ERR_STORE_WRITE'
  | 'SF_ERR_STORE_QUERY'
  | 'SF_ERR_STORE_UNKNOWN_NAME';

/** A store that cannot be opened, written or queried as asked; `where` is the store's path when known. */
export class StoreError extends SigflowError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options: { where?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const clampInt64 = (ns: bigint): bigint => (ns < INT64_MIN ? INT64_MIN : ns > INT64_MAX ? INT64_MAX : ns);
const SCHEMA_VERSION = 1;
const MAX_POINTS = 100_000;

function typeOf(v: FieldValue): SeriesType {
  switch (typeof v) {
    case 'number':
      return 'float';
    case 'bigint':
      return 'integer';
    case 'boolean':
      return 'boolean';
    default:
      return 'string';
  }
}

interface CachedSeries {
  id: number;
  type: SeriesType;
}

export interface StoreOptions {
  /** Open read-only (dashboards, other processes). */
  readonly?: boolean;
  /** Refuse a file that does not exist instead of creating a store (maintenance commands: a mistyped path). */
  mustExist?: boolean;
  /** SQLite synchronous level in WAL mode: 'normal' (default; a power cut may lose the last commits, never corrupt) or 'full'. */
  synchronous?: 'normal' | 'full';
  /**
   * Run PRAGMA quick_check on open and refuse a damaged file (SF_ERR_STORE_CORRUPT) before anything is written
   * into it. Default: true for a writer, false for a reader (reads that meet damage fail with the same code).
   */
  integrityCheck?: boolean;
}

/**
 * SQLite's own corruption codes. "Not a database" is damage only for a file that starts like an SQLite file; any
 * other file is simply not a store (a wrong path: SF_ERR_STORE_OPEN).
 */
function isCorruption(e: unknown, path: string): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  if (code.startsWith('SQLITE_CORRUPT')) return true;
  if (code !== 'SQLITE_NOTADB' || path === ':memory:') return false;
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(16);
      return readSync(fd, head, 0, 16, 0) === 16 && head.toString('latin1') === 'SQLite format 3\0';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

function corruptError(path: string, why: string, cause?: unknown): StoreError {
  return new StoreError(
    'SF_ERR_STORE_CORRUPT',
    `store ${path} is damaged (${why}); nothing was written into it — move it (with any -wal/-shm) aside and import again`,
    { where: path, cause },
  );
}

/** Switches a database back to rollback-journal mode before its last close (see close()); best effort. */
function leaveWalMode(db: Database.Database): void {
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('journal_mode = DELETE');
  } catch {
    // another connection has it open (or the disk refuses): it stays in WAL mode, which is fine for writers
  }
}

export class TimeSeriesStore {
  readonly path: string;
  private readonly db: Database.Database;
  /** measurement \0 canonicalTags → field → series */
  private readonly cache = new Map<string, Map<string, CachedSeries>>();
  private readonly keyOrder = new TagKeyOrder();
  private readonly stmts: ReturnType<TimeSeriesStore['prepare']>;
  private closed = false;

  private constructor(path: string, opts: StoreOptions) {
    this.path = path;
    const mustExist = opts.readonly === true || opts.mustExist === true;
    if (mustExist && path !== ':memory:' && !existsSync(path))
      throw new StoreError('SF_ERR_STORE_OPEN', `no store at ${path} (no such file; check the path)`, { where: path });
    if (path !== ':memory:' && statSync(path, { throwIfNoEntry: false })?.isDirectory())
      throw new StoreError('SF_ERR_STORE_OPEN', `${path} is a folder, not a store file (give its store.db)`, {
        where: path,
      });
    try {
      this.db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: mustExist });
    } catch (e) {
      throw new StoreError('SF_ERR_STORE_OPEN', `cannot open store ${path}: ${(e as Error).message}`, {
        where: path,
        cause: e,
      });
    }
    try {
      this.db.pragma('busy_timeout = 5000');
      // Before anything is written (journal_mode=WAL rewrites the header): a damaged file is refused untouched.
      if (opts.integrityCheck ?? !opts.readonly) {
        const rows = this.db.pragma('quick_check(20)') as { quick_check: string }[];
        const problems = rows
          .flatMap((r) => r.quick_check.split('\n'))
          .filter((m) => m !== 'ok' && !m.startsWith('***'));
        if (rows.some((r) => r.quick_check !== 'ok'))
          throw corruptError(path, `quick_check: ${problems.slice(0, 3).join('; ') || 'failed'}`);
      }
      if (!opts.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
        this.migrate();
      } else {
        const v = this.db.pragma('user_version', { simple: true }) as number;
        if (v !== SCHEMA_VERSION)
          throw new StoreError('SF_ERR_STORE_NOT_A_STORE', `${path} is not a sigflow store (schema version ${v})`, {
            where: path,
          });
        const tables = this.db
          .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('series', 'samples')")
          .get() as { n: number };
        if (tables.n !== 2)
          throw new StoreError(
            'SF_ERR_STORE_NOT_A_STORE',
            `${path} is an SQLite file but not a sigflow store (no series and samples tables)`,
            { where: path },
          );
      }
      this.stmts = this.prepare();
    } catch (e) {
      this.db.close();
      if (e instanceof StoreError) throw e;
      if (isCorruption(e, path)) throw corruptError(path, (e as Error).message, e);
      throw new StoreError('SF_ERR_STORE_OPEN', `cannot open store ${path}: ${(e as Error).message}`, {
        where: path,
        cause: e,
      });
    }
  }

  /** Opens (creating if needed) a store file. `:memory:` works for tests. */
  static open(path: string, opts: StoreOptions = {}): TimeSeriesStore {
    return new TimeSeriesStore(path, opts);
  }

  private migrate(): void {
    const v = this.db.pragma('user_version', { simple: true }) as number;
    if (v === SCHEMA_VERSION) return;
    if (v !== 0)
      throw new StoreError(
        'SF_ERR_STORE_NOT_A_STORE',
        `${this.path}: unknown store schema version ${v} (this build knows ${SCHEMA_VERSION})`,
        { where: this.path },
      );
    const tables = this.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
      n: number;
    };
    if (tables.n !== 0)
      throw new StoreError('SF_ERR_STORE_NOT_A_STORE', `${this.path} is an SQLite file but not a sigflow store`, {
        where: this.path,
      });
    this.db.exec(`
      BEGIN;
      CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        measurement TEXT NOT NULL,
        tags TEXT NOT NULL,
        field TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('float', 'integer', 'boolean', 'string')),
        UNIQUE (measurement, tags, field)
      );
      CREATE TABLE samples (
        series_id INTEGER NOT NULL,
        time INTEGER NOT NULL,
        value,
        PRIMARY KEY (series_id, time)
      ) WITHOUT ROWID;
      PRAGMA user_version = ${SCHEMA_VERSION};
      COMMIT;
    `);
  }

  private prepare() {
    const db = this.db;
    const sel = (sql: string) => db.prepare(sql).safeIntegers(true);
    return {
      insert: db.prepare(
        'INSERT INTO samples (series_id, time, value) VALUES (?, ?, ?) ON CONFLICT (series_id, time) DO UPDATE SET value = excluded.value',
      ),
      findSeries: db.prepare('SELECT id, type FROM series WHERE measurement = ? AND tags = ? AND field = ?'),
      addSeries: db.prepare('INSERT INTO series (measurement, tags, field, type) VALUES (?, ?, ?, ?)'),
      seriesOf: db.prepare('SELECT id, measurement, tags, field, type FROM series WHERE measurement = ? ORDER BY id'),
      allSeries: db.prepare('SELECT id, measurement, tags, field, type FROM series ORDER BY id'),
      raw: sel('SELECT time, value FROM samples WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time'),
      bMin: sel(
        `SELECT (time - @from) / @w AS b, min(value) AS v, time AS t, count(*) AS n, avg(value) AS mean,
                avg((time - @from) % @w) AS toff
           FROM samples WHERE series_id = @id AND time >= @from AND time < @to GROUP BY b ORDER BY b`,
      ),
      bMax: sel(
        `SELECT (time - @from) / @w AS b, max(value) AS v, time AS t
           FROM samples WHERE series_id = @id AND time >= @from AND time < @to GROUP BY b ORDER BY b`,
      ),
      bLast: sel(
        `SELECT (time - @from) / @w AS b, max(time) AS t, value AS v, count(*) AS n
           FROM samples WHERE series_id = @id AND time >= @from AND time < @to GROUP BY b ORDER BY b`,
      ),
      retention: db.prepare('DELETE FROM samples WHERE series_id = ? AND time < ?'),
      countBefore: sel('SELECT count(*) AS n FROM samples WHERE series_id = ? AND time < ?'),
      count: sel('SELECT count(*) AS n FROM samples'),
      measurements: db.prepare('SELECT DISTINCT measurement FROM series ORDER BY measurement'),
      tagKeys: db.prepare(
        'SELECT DISTINCT j.key AS k FROM series, json_each(series.tags) AS j WHERE (@m IS NULL OR measurement = @m) ORDER BY k',
      ),
      tagValues: db.prepare(
        `SELECT DISTINCT j.value AS v FROM series, json_each(series.tags) AS j
          WHERE (@m IS NULL OR measurement = @m) AND j.key = @k ORDER BY v`,
      ),
      fields: db.prepare(
        'SELECT DISTINCT field, type FROM series WHERE (@m IS NULL OR measurement = @m) ORDER BY field, type',
      ),
      timeRange: sel('SELECT min(time) AS lo, max(time) AS hi FROM samples WHERE series_id = ?'),
    };
  }

  private check(): void {
    if (this.closed) throw new StoreError('SF_ERR_STORE_CLOSED', `store ${this.path} is closed`, { where: this.path });
  }

  private seriesMap(measurement: string, tagsText: string): Map<string, CachedSeries> {
    const key = `${measurement}\u0000${tagsText}`;
    let fields = this.cache.get(key);
    if (!fields) {
      fields = new Map();
      this.cache.set(key, fields);
    }
    return fields;
  }

  private seriesFor(
    fields: Map<string, CachedSeries>,
    measurement: string,
    tagsText: string,
    field: string,
    type: SeriesType,
  ): CachedSeries {
    let s = fields.get(field);
    if (s) return s;
    const row = this.stmts.findSeries.get(measurement, tagsText, field) as { id: number; type: SeriesType } | undefined;
    if (row) s = { id: row.id, type: row.type };
    else {
      const info = this.stmts.addSeries.run(measurement, tagsText, field, type);
      s = { id: Number(info.lastInsertRowid), type };
    }
    fields.set(field, s);
    return s;
  }

  /**
   * Stores a batch in one transaction. Records with an invalid time, or fields with a type conflict, an
   * out-of-range integer or NaN, are reported in `rejected` (other fields of the same record are stored).
   * Throws StoreError only for storage failures (disk full, I/O error, locked), in which case nothing of the
   * batch is stored (the transaction rolls back).
   */
  write(records: readonly TelemetryRecord[]): StoreWriteReport {
    this.check();
    const rejected: { index: number; reason: string }[] = [];
    let samples = 0;
    const insert = this.stmts.insert;
    const run = this.db.transaction(() => {
      // Series created by a transaction that rolls back must not stay in the cache.
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        const t = r.time;
        if (typeof t !== 'bigint' || t < INT64_MIN || t > INT64_MAX) {
          rejected.push({ index: i, reason: `time ${String(t)} is outside the int64 ns range` });
          continue;
        }
        const tagsText = canonicalTags(r.tags, this.keyOrder);
        const fieldMap = this.seriesMap(r.measurement, tagsText);
        let problems: string | null = null;
        for (const field in r.fields) {
          const v = r.fields[field];
          const type = typeOf(v);
          let bind: number | bigint | string;
          if (type === 'float') {
            if (Number.isNaN(v)) {
              problems = `${problems ? `${problems}; ` : ''}field ${JSON.stringify(field)}: NaN cannot be stored`;
              continue;
            }
            bind = v as number;
          } else if (type === 'integer') {
            if ((v as bigint) < INT64_MIN || (v as bigint) > INT64_MAX) {
              problems = `${problems ? `${problems}; ` : ''}field ${JSON.stringify(field)}: integer ${v} is outside int64`;
              continue;
            }
            bind = v as bigint;
          } else if (type === 'boolean') bind = v ? 1n : 0n;
          else bind = v as string;
          const s = fieldMap.get(field) ?? this.seriesFor(fieldMap, r.measurement, tagsText, field, type);
          if (s.type !== type) {
            problems = `${problems ? `${problems}; ` : ''}field type conflict: ${JSON.stringify(field)} on measurement ${JSON.stringify(r.measurement)} is ${type}, the series is ${s.type}`;
            continue;
          }
          insert.run(s.id, t, bind);
          samples++;
        }
        if (problems) rejected.push({ index: i, reason: problems });
      }
    });
    try {
      run();
    } catch (e) {
      this.cache.clear();
      if (isCorruption(e, this.path)) throw corruptError(this.path, (e as Error).message, e);
      throw new StoreError('SF_ERR_STORE_WRITE', `write to ${this.path} failed: ${(e as Error).message}`, {
        where: this.path,
        cause: e,
      });
    }
    return { samples, rejected };
  }

  private rowToSeries(row: {
    id: number;
    measurement: string;
    tags: string;
    field: string;
    type: SeriesType;
  }): SeriesInfo {
    return { id: row.id, measurement: row.measurement, tags: JSON.parse(row.tags), field: row.field, type: row.type };
  }

  /** Series matching a measurement, optional tag subset and optional field list. */
  series(measurement?: string, tags?: Readonly<Record<string, string>>, fields?: readonly string[]): SeriesInfo[] {
    this.check();
    const rows = (measurement === undefined ? this.stmts.allSeries.all() : this.stmts.seriesOf.all(measurement)) as {
      id: number;
      measurement: string;
      tags: string;
      field: string;
      type: SeriesType;
    }[];
    const want = fields ? new Set(fields) : null;
    const out: SeriesInfo[] = [];
    for (const row of rows) {
      if (want && !want.has(row.field)) continue;
      const s = this.rowToSeries(row);
      if (tags) {
        let ok = true;
        for (const k in tags) if (s.tags[k] !== tags[k]) ok = false;
        if (!ok) continue;
      }
      out.push(s);
    }
    return out;
  }

  private decode(type: SeriesType, v: unknown): FieldValue {
    if (type === 'boolean') return v === 1n;
    if (type === 'integer') return v as bigint;
    if (type === 'float') return typeof v === 'bigint' ? Number(v) : (v as number);
    return v as string;
  }

  private checkRange(q: RangeQuery): void {
    const bad = (message: string) => new StoreError('SF_ERR_STORE_QUERY', message, { where: this.path });
    if (typeof q.from !== 'bigint' || typeof q.to !== 'bigint') throw bad('query from/to must be bigint ns');
    if (q.from < INT64_MIN || q.to > INT64_MAX) throw bad('query range is outside int64 ns');
    if (q.to <= q.from)
      throw bad(`query range is empty: from ${formatTime(q.from)} is not before to ${formatTime(q.to)}`);
    if (q.to - q.from > INT64_MAX) throw bad('query range is wider than int64 ns');
  }

  /** Raw samples in [from, to) per matching series, in time order. */
  samples(q: Omit<RangeQuery, 'points'>): SeriesSamples[] {
    const out: SeriesSamples[] = [];
    for (const { series, samples } of this.streamSamples(q)) out.push({ series, samples: [...samples] });
    return out;
  }

  /**
   * Raw samples in [from, to), streamed: yields each matching series with an iterator over its samples, read row
   * by row from SQLite as it is consumed — memory stays bounded whatever the range (`samples()` collects them).
   * Consume (or abandon) one series' samples before taking the next; the range is checked before the first yield.
   */
  *streamSamples(
    q: Omit<RangeQuery, 'points'>,
  ): Generator<{ series: SeriesInfo; samples: Generator<TimedValue<FieldValue>> }> {
    this.check();
    this.checkRange(q as RangeQuery);
    for (const s of this.series(q.measurement, q.tags, q.fields)) {
      const rows = this.stmts.raw.iterate(s.id, q.from, q.to) as IterableIterator<{ time: bigint; value: unknown }>;
      const decode = (v: unknown) => this.decode(s.type, v);
      const samples = (function* () {
        for (const r of rows) yield { time: r.time, value: decode(r.value) };
      })();
      try {
        yield { series: s, samples };
      } finally {
        samples.return(undefined); // an abandoned series frees its statement
        rows.return?.();
      }
    }
  }

  /** Downsampled range query: per matching series, ≤ `points` buckets with min/max/mean/last (see Bucket). */
  query(q: RangeQuery & { points: number }): SeriesBuckets[] {
    this.check();
    this.checkRange(q);
    if (!Number.isInteger(q.points) || q.points < 1 || q.points > MAX_POINTS)
      throw new StoreError('SF_ERR_STORE_QUERY', `points must be an integer in 1..${MAX_POINTS}, got ${q.points}`, {
        where: this.path,
      });
    const span = q.to - q.from;
    const n = BigInt(q.points);
    const w = (span + n - 1n) / n;
    const out: SeriesBuckets[] = [];
    for (const s of this.series(q.measurement, q.tags, q.fields)) {
      const p = { id: s.id, from: q.from, to: q.to, w };
      const last = this.stmts.bLast.all(p) as { b: bigint; t: bigint; v: unknown; n: bigint }[];
      const buckets: Bucket[] = [];
      if (s.type === 'string') {
        for (const r of last) {
          const start = q.from + r.b * w;
          buckets.push({
            start,
            end: start + w < q.to ? start + w : q.to,
            count: Number(r.n),
            min: null,
            max: null,
            mean: null,
            last: { time: r.t, value: this.decode(s.type, r.v) },
          });
        }
      } else {
        const mins = this.stmts.bMin.all(p) as {
          b: bigint;
          v: unknown;
          t: bigint;
          n: bigint;
          mean: number;
          toff: number;
        }[];
        const maxs = this.stmts.bMax.all(p) as { b: bigint; v: unknown; t: bigint }[];
        for (let i = 0; i < last.length; i++) {
          const r = last[i];
          const mi = mins[i];
          const ma = maxs[i];
          // internal invariant: the three grouped scans run over the same rows in one read, so their buckets line up
          if (mi.b !== r.b || ma.b !== r.b)
            throw new SigflowError('SF_ERR_INTERNAL', 'internal: bucket queries disagree');
          const start = q.from + r.b * w;
          buckets.push({
            start,
            end: start + w < q.to ? start + w : q.to,
            count: Number(r.n),
            min: { time: mi.t, value: this.decode(s.type, mi.v) },
            max: { time: ma.t, value: this.decode(s.type, ma.v) },
            mean: { time: start + BigInt(Math.round(mi.toff)), value: Number(mi.mean) },
            last: { time: r.t, value: this.decode(s.type, r.v) },
          });
        }
      }
      out.push({ series: s, buckets });
    }
    return out;
  }

  /**
   * Deletes samples older than `now - maxAgeNs` (per series, through the primary key): the age counts back from
   * the wall clock, not from the newest sample. The catalogue keeps the series. Returns the number of samples
   * deleted.
   */
  applyRetention(maxAgeNs: bigint, nowNs: bigint = BigInt(Date.now()) * 1_000_000n): number {
    this.check();
    if (maxAgeNs < 0n)
      throw new StoreError('SF_ERR_STORE_QUERY', `retention age must be >= 0, got ${maxAgeNs} ns`, {
        where: this.path,
      });
    return this.deleteBefore(nowNs - maxAgeNs);
  }

  /**
   * What `deleteBefore(cutoffNs)` would delete, without deleting: the samples with time < cutoff, per measurement
   * (measurements with none are left out), and the total.
   */
  retentionPlan(cutoffNs: bigint): {
    cutoff: bigint;
    total: number;
    measurements: { measurement: string; samples: number }[];
  } {
    this.check();
    const cutoff = clampInt64(cutoffNs);
    const byMeasurement = new Map<string, number>();
    for (const row of this.stmts.allSeries.all() as { id: number; measurement: string }[]) {
      const n = Number((this.stmts.countBefore.get(row.id, cutoff) as { n: bigint }).n);
      if (n > 0) byMeasurement.set(row.measurement, (byMeasurement.get(row.measurement) ?? 0) + n);
    }
    const measurements = [...byMeasurement].map(([measurement, samples]) => ({ measurement, samples }));
    measurements.sort((a, b) => (a.measurement < b.measurement ? -1 : a.measurement > b.measurement ? 1 : 0));
    return { cutoff, total: measurements.reduce((t, m) => t + m.samples, 0), measurements };
  }

  /** Deletes the samples with time < cutoffNs (per series, through the primary key); returns how many. */
  deleteBefore(cutoffNs: bigint): number {
    this.check();
    const cutoff = clampInt64(cutoffNs);
    let deleted = 0;
    const ids = (this.stmts.allSeries.all() as { id: number }[]).map((r) => r.id);
    const del = this.db.transaction((chunk: number[]) => {
      for (const id of chunk) deleted += this.stmts.retention.run(id, cutoff).changes;
    });
    for (let i = 0; i < ids.length; i += 256) del(ids.slice(i, i + 256));
    return deleted;
  }

  /** Total number of samples. */
  count(): number {
    this.check();
    return Number((this.stmts.count.get() as { n: bigint }).n);
  }

  /** Earliest and latest sample time of a series, or null when it has none. */
  timeRange(seriesId: number): { from: bigint; to: bigint } | null {
    this.check();
    const r = this.stmts.timeRange.get(seriesId) as { lo: bigint | null; hi: bigint | null };
    return r.lo === null || r.hi === null ? null : { from: r.lo, to: r.hi };
  }

  measurements(): string[] {
    this.check();
    return (this.stmts.measurements.all() as { measurement: string }[]).map((r) => r.measurement);
  }

  tagKeys(measurement?: string): string[] {
    this.check();
    return (this.stmts.tagKeys.all({ m: measurement ?? null }) as { k: string }[]).map((r) => r.k);
  }

  tagValues(key: string, measurement?: string): string[] {
    this.check();
    return (this.stmts.tagValues.all({ m: measurement ?? null, k: key }) as { v: string }[]).map((r) => r.v);
  }

  fields(measurement?: string): { field: string; type: SeriesType }[] {
    this.check();
    return this.stmts.fields.all({ m: measurement ?? null }) as { field: string; type: SeriesType }[];
  }

  /**
   * Refuses a query for names the store does not have (SF_ERR_STORE_UNKNOWN_NAME): the measurement, each field,
   * each tag key and value (within the measurement), listing the known names nearest first — so a mistyped name is
   * not mistaken for "no data".
   */
  assertKnown(q: { measurement: string; fields?: readonly string[]; tags?: Readonly<Record<string, string>> }): void {
    this.check();
    const unknown = (what: string, name: string, known: string[]) =>
      new StoreError('SF_ERR_STORE_UNKNOWN_NAME', `${this.path}: ${unknownNameText(what, name, known)}`, {
        where: this.path,
      });
    const ms = this.measurements();
    if (!ms.includes(q.measurement)) throw unknown('measurement', q.measurement, ms);
    const fields = this.fields(q.measurement).map((f) => f.field);
    for (const f of q.fields ?? []) if (!fields.includes(f)) throw unknown(`field in ${q.measurement}`, f, fields);
    const keys = this.tagKeys(q.measurement);
    for (const [k, v] of Object.entries(q.tags ?? {})) {
      if (!keys.includes(k)) throw unknown(`tag key in ${q.measurement}`, k, keys);
      const values = this.tagValues(k, q.measurement);
      if (!values.includes(v)) throw unknown(`${k} tag value in ${q.measurement}`, v, values);
    }
  }

  /**
   * Closes the store. A writer leaves the file in rollback-journal mode (WAL is switched on again at the next
   * writable open), so read-only users and read-only media can read it without -wal/-shm files being created.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.db.readonly && this.path !== ':memory:') leaveWalMode(this.db);
    this.db.close();
  }
}
