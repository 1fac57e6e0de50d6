/**
 * The `postgres` sink (node-postgres). Layout: narrow, normalised through a series catalogue (see README):
 *
 *   <schema>.series  (id, measurement, tags jsonb, field, type)      unique (measurement, tags, field)
 *   <schema>.samples (series_id, time bigint ns, value_float, value_int, value_bool, value_text)
 *                    primary key (series_id, time) → idempotent: a rewrite of the same series + time overwrites
 *   <schema>.points  view: time timestamptz (µs), time_ns, measurement, tags, field, value (numeric as float8),
 *                    value_int, value_bool, value_text — what a dashboard queries
 *
 * One batch = one series upsert (only for series not cached yet) + one `INSERT … SELECT FROM unnest($arrays)
 * ON CONFLICT DO UPDATE` (six array parameters whatever the batch size). The schema is created on first use;
 * `samples` becomes a TimescaleDB hypertable when the extension is available.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';
import type { Sink, WriteResult } from '../../outbox/index.js';
import { canonicalTags, TagKeyOrder, type TelemetryRecord } from '../../records/index.js';
import { type PostgresSinkConfig, type PostgresSinkOptions, postgresSinkConfigSchema } from './config.js';

/** pg is loaded when a PostgreSQL sink is made, not by every process that could make one. */
const require = createRequire(import.meta.url);
const loadPg = () => require('pg') as typeof pg;

type Config = PostgresSinkOptions;

type SeriesType = 'float' | 'integer' | 'boolean' | 'string';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function typeOf(v: unknown): SeriesType {
  return typeof v === 'number'
    ? 'float'
    : typeof v === 'bigint'
      ? 'integer'
      : typeof v === 'boolean'
        ? 'boolean'
        : 'string';
}

/** Why a text cannot be stored (Postgres text/jsonb refuse NUL; lone surrogates are not UTF-8), or null. */
function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (PostgreSQL text cannot hold it)';
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) return 'has a lone UTF-16 surrogate';
  return null;
}

interface PgErrorLike {
  code?: string;
  message: string;
}

/** SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html */
export function classifyPgError(e: PgErrorLike, batchLength: number, name: string): WriteResult {
  const code = e.code ?? '';
  const reason = `${name}: ${code ? `${code} ` : ''}${e.message}`;
  const cls = code.slice(0, 2);
  if (cls === '28' || code === '42501') return { kind: 'auth', reason };
  if (cls === '22' || cls === '23') {
    // A data error fails the whole statement without saying which row: split to isolate it.
    if (batchLength > 1)
      return { kind: 'too_large', reason: `${reason} — split the batch to isolate the offending record` };
    return { kind: 'permanent', reason };
  }
  if (cls === '54') return batchLength > 1 ? { kind: 'too_large', reason } : { kind: 'permanent', reason };
  // 42 (other than 42501): the statements are fixed and the data travels as parameters, so an undefined column or
  // a type mismatch means the tables were changed behind the sink's back. Retrying alone will not fix it.
  if (cls === '42') return { kind: 'misconfigured', reason };
  // 08 connection, 40 rollback (serialization, deadlock), 53 resources, 55 object state, 57 operator intervention
  // (shutdown, statement timeout), 58/XX system — and errors without a code (network): transient.
  return { kind: 'retry', reason };
}

export class PostgresSink implements Sink {
  readonly name: string;
  readonly config: Config;
  readonly pool: pg.Pool;
  private readonly q: (t: string) => string;
  private schemaReady = false;
  /** Whether `samples` is a hypertable (set after schema creation). */
  hypertable = false;
  /** measurement \0 canonical tags \0 field → series */
  private readonly cache = new Map<string, { id: number; type: SeriesType }>();
  private readonly keyOrder = new TagKeyOrder();

  /** Series ids currently cached. */
  get cachedSeries(): number {
    return this.cache.size;
  }

  constructor(config: PostgresSinkConfig) {
    const c = postgresSinkConfigSchema.parse(config);
    this.config = c;
    this.name = c.name;
    this.q = (t) => `"${c.schema}"."${t}"`;
    this.pool = new (loadPg().Pool)({
      connectionString: c.connection_string,
      max: c.pool_size,
      connectionTimeoutMillis: c.connect_timeout,
      statement_timeout: c.statement_timeout,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its server (restart, network) must not crash the process: the pool drops it.
    this.pool.on('error', () => {});
  }

  private schemaPromise: Promise<void> | null = null;

  /** pg_cancel_backend over a short-lived connection of its own; best effort. */
  private cancelBackend(pid: number): void {
    const c = new (loadPg().Client)({
      connectionString: this.config.connection_string,
      connectionTimeoutMillis: this.config.connect_timeout,
    });
    c.on('error', () => {});
    c.connect()
      .then(() => c.query('SELECT pg_cancel_backend($1)', [pid]))
      .catch(() => {
        // the server is gone or refuses: the aborted connection is discarded on release anyway
      })
      .finally(() => void c.end().catch(() => {}));
  }

  /** Creates the schema once (single-flight: concurrent first writes must not race on CREATE TABLE). */
  private ensureSchema(client: pg.PoolClient): Promise<void> {
    if (this.schemaReady) return Promise.resolve();
    if (!this.schemaPromise)
      this.schemaPromise = this.createSchema(client).finally(() => {
        this.schemaPromise = null;
      });
    return this.schemaPromise;
  }

  private async createSchema(client: pg.PoolClient): Promise<void> {
    const s = `"${this.config.schema}"`;
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${this.q('series')} (
        id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        measurement text NOT NULL,
        tags jsonb NOT NULL,
        field text NOT NULL,
        type text NOT NULL CHECK (type IN ('float', 'integer', 'boolean', 'string')),
        UNIQUE (measurement, tags, field)
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${this.q('samples')} (
        series_id integer NOT NULL,
        time bigint NOT NULL,
        value_float double precision,
        value_int bigint,
        value_bool boolean,
        value_text text,
        PRIMARY KEY (series_id, time)
      )`);
    await client.query(`
      CREATE OR REPLACE VIEW ${this.q('points')} AS
        SELECT timestamptz 'epoch' + floor(p.time::numeric / 1000)::bigint * interval '1 microsecond' AS time,
               p.time AS time_ns, s.measurement, s.tags, s.field,
               coalesce(p.value_float, p.value_int::double precision, p.value_bool::int::double precision) AS value,
               p.value_int, p.value_bool, p.value_text
          FROM ${this.q('samples')} p JOIN ${this.q('series')} s ON s.id = p.series_id`);
    if (this.config.timescale === 'auto') {
      const avail = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'");
      if (avail.rowCount) {
        await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
        await client.query(
          `SELECT create_hypertable('${this.config.schema}.samples', 'time', chunk_time_interval => ${BigInt(this.config.chunk_interval) * 1_000_000n}::bigint, if_not_exists => true, migrate_data => true)`,
        );
        this.hypertable = true;
      }
    }
    this.schemaReady = true;
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    if (signal?.aborted) return { kind: 'retry', reason: `${this.name}: aborted before writing` };
    // 1. validate and flatten to samples
    const problems = new Map<number, string>();
    const bad = (i: number, why: string) => problems.set(i, problems.has(i) ? `${problems.get(i)}; ${why}` : why);
    const keys: string[] = [];
    const recIdx: number[] = [];
    const sm: string[] = [];
    const st: string[] = [];
    const sf: string[] = [];
    const stype: SeriesType[] = [];
    const sval: unknown[] = [];
    const stime: bigint[] = [];
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i];
      if (typeof r.time !== 'bigint' || r.time < INT64_MIN || r.time > INT64_MAX) {
        bad(i, `time ${String(r.time)} is outside the int64 ns range`);
        continue;
      }
      let p = textProblem(r.measurement);
      if (p) {
        bad(i, `measurement ${JSON.stringify(r.measurement)} ${p}`);
        continue;
      }
      for (const k in r.tags) {
        p = textProblem(k) ?? textProblem(r.tags[k]);
        if (p) break;
      }
      if (p) {
        bad(i, `a tag ${p}`);
        continue;
      }
      const tags = canonicalTags(r.tags, this.keyOrder);
      for (const f in r.fields) {
        const v = r.fields[f];
        const fp = textProblem(f) ?? (typeof v === 'string' ? textProblem(v) : null);
        if (fp) {
          bad(i, `field ${JSON.stringify(f)} ${fp}`);
          continue;
        }
        if (typeof v === 'bigint' && (v < INT64_MIN || v > INT64_MAX)) {
          bad(i, `field ${JSON.stringify(f)}: integer ${v} is outside int64`);
          continue;
        }
        keys.push(`${r.measurement}\u0000${tags}\u0000${f}`);
        recIdx.push(i);
        sm.push(r.measurement);
        st.push(tags);
        sf.push(f);
        stype.push(typeOf(v));
        sval.push(v);
        stime.push(r.time);
      }
    }
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      return classifyPgError(e as PgErrorLike, batch.length, this.name);
    }
    if (signal?.aborted) {
      client.release();
      return { kind: 'retry', reason: `${this.name}: aborted before writing` };
    }
    let broken = false;
    // A checked-out client whose server goes away between queries emits 'error' (not a rejected query): without a
    // listener that would crash the process. Mark it broken; the query in flight, if any, rejects on its own.
    const onClientError = () => {
      broken = true;
    };
    client.on('error', onClientError);
    // The outbox aborts a write that outlives its timeout: cancel the statement on the server, so the abandoned
    // write does not keep running beside the retry (it then fails with 57014 → retry). The cancel goes through a
    // connection of its own (the pool may be busy with stuck writes); this one is discarded on release.
    const backend = (client as unknown as { processID?: number }).processID;
    const onAbort = () => {
      broken = true;
      if (typeof backend === 'number') this.cancelBackend(backend);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const release = (destroy: boolean) => {
      signal?.removeEventListener('abort', onAbort);
      client.off('error', onClientError);
      client.release(destroy);
    };
    try {
      await this.ensureSchema(client);
    } catch (e) {
      release(true);
      // creating the schema is not about this batch's data: whatever failed, keep the batch
      const err = e as PgErrorLike;
      const r = classifyPgError(err, 1, this.name);
      const reason = `${this.name}: creating schema ${this.config.schema}: ${err.code ?? ''} ${err.message}`;
      return r.kind === 'auth' || r.kind === 'misconfigured' ? { kind: r.kind, reason } : { kind: 'retry', reason };
    }
    try {
      // 2. series ids: this write's own map (a concurrent write may evict cache entries while this one awaits),
      //    filled from the cache (least recently used out) and by upserting the rest.
      const series = new Map<string, { id: number; type: SeriesType }>();
      const missing = new Map<string, number>();
      for (let j = 0; j < keys.length; j++) {
        const key = keys[j];
        if (series.has(key) || missing.has(key)) continue;
        const hit = this.cache.get(key);
        if (hit === undefined) missing.set(key, j);
        else {
          series.set(key, hit);
          this.cache.delete(key); // re-insert: most recently used last
          this.cache.set(key, hit);
        }
      }
      if (this.cache.size > this.config.series_cache_size) {
        let drop = this.cache.size - (this.config.series_cache_size >> 1);
        for (const k of this.cache.keys()) {
          if (drop-- <= 0) break;
          this.cache.delete(k);
        }
      }
      if (missing.size) {
        const js = [...missing.values()];
        const args = [js.map((j) => sm[j]), js.map((j) => st[j]), js.map((j) => sf[j]), js.map((j) => stype[j])];
        await client.query(
          `INSERT INTO ${this.q('series')} (measurement, tags, field, type)
             SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING`,
          args,
        );
        const res = await client.query<{ i: string; id: number; type: SeriesType }>(
          `SELECT u.i, s.id, s.type FROM unnest($1::text[], $2::jsonb[], $3::text[]) WITH ORDINALITY AS u(m, t, f, i)
             JOIN ${this.q('series')} s ON s.measurement = u.m AND s.tags = u.t AND s.field = u.f`,
          args.slice(0, 3),
        );
        for (const row of res.rows) {
          const key = keys[js[Number(row.i) - 1]];
          const s = { id: row.id, type: row.type };
          series.set(key, s);
          this.cache.set(key, s);
        }
      }
      // 3. samples: last write wins within the batch too (ON CONFLICT cannot touch a row twice in one statement)
      const latest = new Map<string, number>();
      for (let j = 0; j < keys.length; j++) {
        const s = series.get(keys[j]);
        // The series row vanished between the upsert and the select (deleted behind the sink's back): try again.
        if (!s)
          return { kind: 'retry', reason: `${this.name}: series ${JSON.stringify(keys[j])} has no id after upsert` };
        if (s.type !== stype[j]) {
          bad(
            recIdx[j],
            `field type conflict: ${JSON.stringify(sf[j])} on measurement ${JSON.stringify(sm[j])} is ${stype[j]}, the series is ${s.type}`,
          );
          continue;
        }
        latest.set(`${s.id}:${stime[j]}`, j);
      }
      const n = latest.size;
      const ids = new Array<number>(n);
      const times = new Array<string>(n);
      const vf = new Array<number | null>(n);
      const vi = new Array<string | null>(n);
      const vb = new Array<boolean | null>(n);
      const vt = new Array<string | null>(n);
      let k = 0;
      for (const j of latest.values()) {
        const v = sval[j];
        ids[k] = (series.get(keys[j]) as { id: number }).id;
        times[k] = stime[j].toString();
        vf[k] = typeof v === 'number' ? v : null;
        vi[k] = typeof v === 'bigint' ? v.toString() : null;
        vb[k] = typeof v === 'boolean' ? v : null;
        vt[k] = typeof v === 'string' ? v : null;
        k++;
      }
      if (n)
        await client.query(
          `INSERT INTO ${this.q('samples')} (series_id, time, value_float, value_int, value_bool, value_text)
             SELECT * FROM unnest($1::int[], $2::bigint[], $3::float8[], $4::bigint[], $5::bool[], $6::text[])
           ON CONFLICT (series_id, time) DO UPDATE SET value_float = EXCLUDED.value_float, value_int = EXCLUDED.value_int,
             value_bool = EXCLUDED.value_bool, value_text = EXCLUDED.value_text`,
          [ids, times, vf, vi, vb, vt],
        );
    } catch (e) {
      const err = e as PgErrorLike;
      // An undefined table/schema (dropped behind our back): recreate it on the next attempt.
      if (err.code === '42P01' || err.code === '3F000') {
        this.schemaReady = false;
        this.cache.clear();
        return { kind: 'retry', reason: `${this.name}: ${err.code} ${err.message} (schema will be recreated)` };
      }
      broken ||= !err.code || err.code.startsWith('08') || err.code.startsWith('57');
      return classifyPgError(err, batch.length, this.name);
    } finally {
      release(broken);
    }
    if (problems.size === 0) return { kind: 'ok' };
    const rejected = [...problems].sort((a, b) => a[0] - b[0]).map(([index, reason]) => ({ index, reason }));
    return {
      kind: 'partial',
      rejected,
      reason: `${this.name}: ${rejected.length} of ${batch.length} records rejected (first: ${rejected[0].reason})`,
    };
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

export function createPostgresSink(config: PostgresSinkConfig): PostgresSink {
  return new PostgresSink(config);
}
