/**
 * The `influx` sink: line protocol over HTTP to InfluxDB 1.x (`/write?db=&rp=&precision=`), InfluxDB 2.x/3.x
 * (`/api/v2/write?org=&bucket=&precision=`, `Authorization: Token …`) and VictoriaMetrics (same endpoints; it
 * answers 204 even for lines it drops, so only a read-back proves storage).
 *
 * Response classification (see README): 2xx ok; 413 too_large; 401/403 auth; 429/5xx/network retry (Retry-After
 * honoured); 400 partial writes are mapped back to record indexes (`partial`) when the server's message pins the
 * rejected lines down exactly, otherwise a multi-line batch is answered `too_large` so the outbox splits it until
 * the bad lines are isolated (rewrites are idempotent: same series + time overwrites); other 4xx permanent.
 */

import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Sink, WriteResult } from '../../outbox/index.js';
import { type EncodedBatch, LineEncoder, type TelemetryRecord } from '../../records/index.js';
import { type InfluxSinkConfig, type InfluxSinkOptions, influxSinkConfigSchema } from './config.js';
import { HttpClient, type HttpResponse, parseRetryAfter } from './http.js';

const gzipAsync = promisify(gzip);

type Config = InfluxSinkOptions;

const V1_PRECISION = { ns: 'ns', us: 'u', ms: 'ms', s: 's' } as const;

/** Quotes an InfluxQL identifier. */
function quoteIdent(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The server's error text from a JSON body ({"error"} for 1.x, {"message"} for 2.x) or the raw body. */
function serverMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON */
  }
  return body.trim();
}

/** Reads a Go %q-quoted string (as in InfluxDB's messages) without its quotes. */
function unquoteGo(q: string): string {
  try {
    return JSON.parse(q) as string;
  } catch {
    return q.slice(1, -1);
  }
}

const TYPE_OF = { number: 'float', bigint: 'integer', boolean: 'boolean', string: 'string' } as Record<string, string>;

/**
 * Maps a 400 body to the lines the server rejected. Returns line index → reason for what could be identified, and
 * `dropped` when the server said how many points it dropped.
 */
export function mapRejectedLines(
  body: string,
  enc: EncodedBatch,
  batch: readonly TelemetryRecord[],
): { lines: Map<number, string>; dropped: number | null; message: string; partial: boolean } {
  const message = serverMessage(body);
  const lines = new Map<number, string>();
  // InfluxDB 3: {"error": "...", "data": [{"original_line", "line_number" (1-based), "error_message"}]}
  try {
    const j = JSON.parse(body) as { data?: { line_number?: number; error_message?: string }[] };
    if (Array.isArray(j.data))
      for (const d of j.data)
        if (typeof d.line_number === 'number' && d.line_number >= 1 && d.line_number <= enc.lines.length)
          lines.set(d.line_number - 1, d.error_message ?? message);
  } catch {
    /* not JSON */
  }
  // "unable to parse '<line>': <reason>" (1.x and 2.x list every line that failed to parse)
  const marker = "unable to parse '";
  if (message.includes(marker)) {
    const byText = new Map<string, number[]>();
    enc.lines.forEach((l, i) => {
      const a = byText.get(l);
      if (a) a.push(i);
      else byText.set(l, [i]);
    });
    let p = message.indexOf(marker);
    while (p >= 0) {
      const start = p + marker.length;
      let q = message.indexOf("': ", start);
      while (q >= 0) {
        const idx = byText.get(message.slice(start, q));
        if (idx) {
          const end = message.indexOf('\n', q);
          const reason = message.slice(p, end < 0 ? undefined : end);
          for (const i of idx) lines.set(i, reason);
          break;
        }
        q = message.indexOf("': ", q + 1);
      }
      p = message.indexOf(marker, start);
    }
  }
  // "field type conflict: input field "f" on measurement "m" is type float, already exists as type integer"
  const tc =
    /field type conflict: input field ("(?:[^"\\]|\\.)*") on measurement ("(?:[^"\\]|\\.)*") is type (\w+), already exists as type (\w+)/.exec(
      message,
    );
  if (tc) {
    const field = unquoteGo(tc[1]);
    const m = unquoteGo(tc[2]);
    const existing = tc[4];
    enc.lineRecord.forEach((ri, li) => {
      const r = batch[ri];
      if (r.measurement !== m || !(field in r.fields)) return;
      if (TYPE_OF[typeof r.fields[field]] !== existing) lines.set(li, message);
    });
  }
  const d = /dropped=(\d+)/.exec(message);
  return { lines, dropped: d ? Number(d[1]) : null, message, partial: /partial write/i.test(message) };
}

/** Where the sink tells what it found out once (the API `auto` chose). */
export interface SinkNotices {
  info(message: string): void;
}

export class InfluxSink implements Sink {
  readonly name: string;
  config: Config;
  private readonly encoder: LineEncoder;
  private readonly client: HttpClient;
  private writeUrl: URL | null = null;
  private readonly headers: Record<string, string>;
  private needCreate: boolean;

  constructor(
    config: InfluxSinkConfig,
    private readonly notices: SinkNotices | null = null,
  ) {
    const c = influxSinkConfigSchema.parse(config);
    this.config = c;
    this.name = c.name;
    this.encoder = new LineEncoder(c.precision);
    const base = new URL(c.url);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.client = new HttpClient(base, c.timeout);
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (c.token) this.headers.authorization = `Token ${c.token}`;
    else if (c.username)
      this.headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    this.needCreate = c.create_database && c.api === 'v1';
    if (c.api !== 'auto') this.writeUrl = this.urlFor(c);
  }

  /** The write endpoint of a v1 or v2 config. */
  private urlFor(c: Config): URL {
    const base = this.client.base;
    if (c.api === 'v1') {
      const url = new URL('write', base);
      url.searchParams.set('db', c.database as string);
      if (c.retention_policy) url.searchParams.set('rp', c.retention_policy);
      url.searchParams.set('precision', V1_PRECISION[c.precision]);
      return url;
    }
    const url = new URL('api/v2/write', base);
    if (c.org) url.searchParams.set('org', c.org);
    url.searchParams.set('bucket', c.bucket as string);
    url.searchParams.set('precision', c.precision);
    return url;
  }

  /**
   * api auto: `/ping` says which server this is. InfluxDB 1.x answers `X-Influxdb-Version: 1.…` (before 1.8 it has
   * no 2.x API): written with v1 to `database`, else the bucket (`db/rp` as 1.8's compatibility API reads it), with
   * a `user:password` token as basic auth. Anything else (2.x, 3.x, VictoriaMetrics) with v2. Null when decided,
   * else why not (no answer yet: retried like a write).
   */
  private async detect(signal?: AbortSignal): Promise<string | null> {
    const r = await this.client.request('GET', new URL('ping', this.client.base), null, {}, signal);
    if (r.status === 0) return r.error ?? 'no answer';
    const version = String(r.headers['x-influxdb-version'] ?? '');
    const c = this.config;
    const where = `${this.client.base.origin}`;
    if (/^v?1\./.test(version)) {
      const [db, rp] = (c.database ?? (c.bucket as string)).split('/');
      this.config = { ...c, api: 'v1', database: db, retention_policy: c.retention_policy ?? rp };
      if (c.token?.includes(':')) this.headers.authorization = `Basic ${Buffer.from(c.token).toString('base64')}`;
      this.needCreate = c.create_database;
      this.notices?.info(
        `${this.name}: ${where} is InfluxDB ${version}, which has no 2.x write API: writing with the 1.x API to database ${db}${rp ? `, retention policy ${rp}` : ''}`,
      );
    } else {
      this.config = { ...c, api: 'v2' };
      this.notices?.info(
        `${this.name}: ${where} is ${version ? `InfluxDB ${version}` : 'not InfluxDB 1.x (no version header: e.g. VictoriaMetrics)'}: writing with the 2.x API to bucket ${c.bucket ?? c.database}`,
      );
      if (!c.bucket) this.config.bucket = c.database;
    }
    this.writeUrl = this.urlFor(this.config);
    return null;
  }

  /**
   * v1: CREATE DATABASE (idempotent on the server). `answered`: the server gave an HTTP answer (the statement is
   * not sent again in this process, unless a write later finds the database missing); `error`: why it failed.
   */
  private async createDatabase(signal?: AbortSignal): Promise<{ answered: boolean; error: string | null }> {
    const url = new URL('query', this.client.base);
    const body = new URLSearchParams({ q: `CREATE DATABASE ${quoteIdent(this.config.database as string)}` }).toString();
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (this.headers.authorization) headers.authorization = this.headers.authorization;
    const r = await this.client.request('POST', url, body, headers, signal);
    if (r.status === 0) return { answered: false, error: r.error ?? 'no answer' };
    this.needCreate = false;
    if (r.status === 200) {
      if (!/"error"/.test(r.body)) return { answered: true, error: null };
      return { answered: true, error: `CREATE DATABASE failed: ${serverMessage(r.body)}` };
    }
    return { answered: true, error: `CREATE DATABASE → HTTP ${r.status} ${serverMessage(r.body)}` };
  }

  /**
   * Checks once that the server answers (`/ping`; for v1 with create_database, the CREATE DATABASE itself, so it
   * is sent once, here). Null when it answered, else why not ("127.0.0.1:8086: no answer within 10s").
   */
  async probe(signal?: AbortSignal): Promise<string | null> {
    if (this.needCreate) {
      const r = await this.createDatabase(signal);
      return r.answered ? null : r.error;
    }
    const r = await this.client.request('GET', new URL('ping', this.client.base), null, {}, signal);
    return r.status === 0 ? (r.error ?? 'no answer') : null;
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    if (this.writeUrl === null) {
      const why = await this.detect(signal);
      if (why !== null) return { kind: 'retry', reason: `${this.name}: ${why}` };
    }
    const enc = this.encoder.encode(batch);
    if (enc.lines.length === 0) return this.combine(batch.length, enc, new Map(), 'no record of the batch is writable');
    // CREATE DATABASE needs admin rights the writing user may lack while the database exists: when it fails, the
    // write is tried anyway, and only a "database not found" then reports the CREATE failure (with an alarm). It is
    // sent once per process (by probe() or before the first write), again only after a "database not found"; a
    // server that does not answer it gets no write either (one request per attempt, not two timeouts).
    let createErr: string | null = null;
    if (this.needCreate) {
      const created = await this.createDatabase(signal);
      if (!created.answered) return { kind: 'retry', reason: `${this.name}: ${created.error}` };
      createErr = created.error;
    }
    let body: Buffer = Buffer.from(enc.body, 'utf8');
    const headers = { ...this.headers };
    if (this.config.gzip_min_bytes !== null && body.length >= this.config.gzip_min_bytes) {
      body = await gzipAsync(body, { level: 1 });
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    const res = await this.client.request('POST', this.writeUrl as URL, body, headers, signal);
    if (createErr !== null && res.status === 404)
      return {
        kind: 'misconfigured',
        reason: `${this.name}: database ${this.config.database} not found, and ${createErr}`,
      };
    if (createErr !== null && res.status === 0) return this.classifyTransport(res, createErr);
    return this.classify(res, enc, batch);
  }

  private classifyTransport(res: HttpResponse, what: string): WriteResult {
    return { kind: 'retry', reason: `${this.name}: ${res.error ?? what}` };
  }

  /** Final result: client-side rejects + server-side rejected lines. */
  private combine(n: number, enc: EncodedBatch, serverLines: Map<number, string>, why: string): WriteResult {
    const byRecord = new Map<number, string>();
    for (const r of enc.rejected) byRecord.set(r.index, r.reason);
    for (const [li, reason] of serverLines) {
      const ri = enc.lineRecord[li];
      const prev = byRecord.get(ri);
      byRecord.set(ri, prev ? `${reason}; ${prev}` : reason);
    }
    if (byRecord.size === 0) return { kind: 'ok' };
    const rejected = [...byRecord].sort((a, b) => a[0] - b[0]).map(([index, reason]) => ({ index, reason }));
    return { kind: 'partial', rejected, reason: `${this.name}: ${rejected.length} of ${n} records rejected: ${why}` };
  }

  private classify(res: HttpResponse, enc: EncodedBatch, batch: readonly TelemetryRecord[]): WriteResult {
    const s = res.status;
    if (s === 0) return this.classifyTransport(res, 'no response');
    if (s >= 200 && s < 300) {
      return this.combine(batch.length, enc, new Map(), enc.rejected[0]?.reason ?? '');
    }
    const msg = serverMessage(res.body);
    const where = `${this.name}: HTTP ${s} from ${this.client.base.host}`;
    if (s === 413) return { kind: 'too_large', reason: `${where}: ${msg || 'request entity too large'}` };
    if (s === 401 || s === 403) return { kind: 'auth', reason: `${where}: ${msg}` };
    if (s >= 300 && s < 400) {
      // a redirect (http → https, a moved endpoint) is not followed with the batch: the URL is to be fixed
      const to = res.headers.location;
      return {
        kind: 'misconfigured',
        reason: `${where}: redirected${to ? ` to ${String(to).slice(0, 200)}` : ''} — set the sink's url to the server's address`,
      };
    }
    // 408 Request Timeout and 425 Too Early are temporary: the same write later
    if (s === 429 || s === 408 || s === 425 || s >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      return retryAfterMs === undefined
        ? { kind: 'retry', reason: `${where}: ${msg}` }
        : { kind: 'retry', reason: `${where}: ${msg}`, retryAfterMs };
    }
    if (s === 404) {
      // A missing database, bucket or endpoint: keep the data. With create_database the next attempt creates it;
      // otherwise nothing will change until someone fixes the server or the URL, so raise the alarm.
      const dbMissing = /database not found/i.test(msg);
      if (dbMissing && this.config.create_database && this.config.api === 'v1') {
        this.needCreate = true;
        return { kind: 'retry', reason: `${where}: ${msg} (creating it)` };
      }
      return {
        kind: 'misconfigured',
        reason: `${where}: ${msg}${this.config.api === 'v1' && dbMissing ? ' (create the database or set create_database)' : ''}`,
      };
    }
    if (s === 400 || s === 422) {
      const m = mapRejectedLines(res.body, enc, batch);
      // InfluxDB 2.x documents a 400 as "no points were written" (naming the first malformed line); only InfluxDB 3
      // on the v2 endpoint answers partial writes. So for a v2 400 that is not an InfluxDB 3 partial write, nothing
      // is known to be stored: split until the bad lines are isolated (rewrites are idempotent).
      const v2WholeBatch = this.config.api === 'v2' && !/partial write of line protocol occurred/i.test(res.body);
      // 1.x prints dropped=0 for parse-only partial writes (it then lists every unparsable line).
      const exact =
        !v2WholeBatch && m.lines.size > 0 && (m.dropped === null || m.dropped === 0 || m.lines.size === m.dropped);
      if (exact) return this.combine(batch.length, enc, m.lines, m.message);
      // every line dropped (e.g. "points beyond retention policy dropped=N" for a whole old batch): exact too
      if (!v2WholeBatch && m.partial && m.dropped === enc.lines.length)
        return this.combine(batch.length, enc, new Map(enc.lines.map((_, i) => [i, m.message])), m.message);
      if (enc.lines.length === 1) return this.combine(batch.length, enc, new Map([[0, m.message]]), m.message);
      return {
        kind: 'too_large',
        reason: `${where}: ${m.message} — the server did not name every rejected line (${m.lines.size} identified${m.dropped === null ? '' : `, ${m.dropped} dropped`}): split the batch to isolate them`,
      };
    }
    return { kind: 'permanent', reason: `${where}: ${msg}` };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

export function createInfluxSink(config: InfluxSinkConfig): InfluxSink {
  return new InfluxSink(config);
}
