/**
 * The query engine behind `sigflow serve`: time series of DBC signals over a CANedge log tree, the raw-frames
 * and file tables, and session/split annotations — the questions Grafana asks, independent of the HTTP protocol
 * that carries them (src/server).
 *
 * A time-series request (one or more queries, each: device, interface, channel, DBC, signal names, range,
 * maxDataPoints) runs as:
 * 1. files from the catalog's index by device and time range (no log file opened to find out);
 * 2. decode passes: one per (file, DBC, interface, channel) that has a wanted signal not in the column cache,
 *    decoding only the messages those signals need (decode.ts); passes run two at a time, concurrent requests for
 *    the same pass share it, a cancelled request stops its passes (unless another request waits for them);
 * 3. the byte budget: the bytes of the files the passes must read (cached columns cost nothing); over the budget
 *    the request fails with SF_ERR_SERVE_LIMIT, or with `onLimit: 'partial'` reads files in time order up to the
 *    budget and says which it left out — never a silent gap;
 * 4. per signal: each file's column sliced to the range, files of one session joined, sessions separated by
 *    `[null, null]`, downsampled to maxDataPoints (downsample.ts: real points only, every bucket's min and max).
 * Files that cannot be read (in the index or while decoding) are served around and named in the notices.
 */
import type { Signal } from '../codecs/dbc/index.js';
import { errorCode, SigflowError } from '../errors/index.js';
import { type IndexEntry, openLogMdf4 } from '../formats/canedge/index.js';
import { BUS_LIN, EV_CAN_DATA, EV_LIN_FRAME, FLAG_EXT, readBusFrames } from '../formats/mdf4/index.js';
import { type CacheStats, ColumnCache, SingleFlight } from './cache.js';
import { entryStartMs, type LogCatalog } from './catalog.js';
import { dbcSpec, type LoadedDbc, type SignalRef, signalNames } from './dbcs.js';
import { decodeFileColumns, type Interface, type SignalColumn } from './decode.js';
import { type DownsampleMethod, downsample, lowerBound, type Point, upperBound } from './downsample.js';
import type { DecodePool } from './pool.js';
import type { RecordSource } from './store-source.js';
import { msToNs, nsToMs } from './time.js';

/** Where a session or a log file starts (the old backend's annotation text, and its numbers). */
export interface Annotation {
  text: string;
  time: number;
  session: number;
  split: number;
}

export interface EngineOptions {
  catalog: LogCatalog;
  dbcs: Map<string, LoadedDbc>;
  /** Bytes of decoded columns kept (default 256 MiB). */
  cacheBytes?: number;
  /** Bytes of log files one request may decode (default 100 MiB; cached columns cost nothing). */
  limitBytes?: number;
  /** Over the budget: fail the request (default) or serve what fits and say what was left out. */
  onLimit?: 'error' | 'partial';
  /** Decode passes run at once per request (default 2, or twice the pool's workers). */
  concurrency?: number;
  /** Worker threads that decode (omit: decode on the event loop, in batches with a turn between them). */
  pool?: DecodePool;
  /** Records served beside the logs (measurements, tags, fields): the embedded store, or the lake. */
  store?: RecordSource;
}

export interface SeriesQuery {
  device: string;
  itf: Interface;
  channel: number;
  /** DBC key (lower-case file stem), any case. */
  db: string;
  /** Signal names, or Grafana's `(A|B)` multi-value form. */
  signals: string | readonly string[];
  fromMs: number;
  toMs: number;
  maxPoints: number;
  intervalMs?: number;
  method?: DownsampleMethod;
}

export interface SeriesOut {
  /** Index of the query in the request. */
  query: number;
  /** The name the signal is served under (`Signal`, or `Message.Signal` for a name shared by messages). */
  name: string;
  points: Point[];
  /** Points in the range before downsampling. */
  raw: number;
}

export interface QueryReport {
  /** Files the request needed, files decoded now, bytes of them, files served from the cache. */
  files: number;
  decoded: number;
  bytesDecoded: number;
  cached: number;
  /** True when the budget left files out (onLimit 'partial'). */
  partial: boolean;
  /** What the user should know: files left out, files that could not be read, names that matched nothing. */
  notices: string[];
}

export interface EngineStats {
  requests: number;
  passes: number;
  passesAborted: number;
  passesFailed: number;
  eventsRead: number;
  bytesDecoded: number;
  /** Decode passes a second request joined instead of decoding again. */
  passesShared: number;
  cache: CacheStats;
  /** The worker pool: its size, jobs sent, cancelled, and stopped mid-file by their worker (null: no pool). */
  workers: { size: number; jobs: number; cancelled: number; stoppedInWorker: number } | null;
}

interface Pass {
  key: string;
  entry: IndexEntry;
  dbc: LoadedDbc;
  itf: Interface;
  channel: number;
  /** Wanted signals by global index. */
  signals: Map<number, Signal>;
  /** Columns of the signals, filled from the cache or by decoding. */
  columns: Map<number, SignalColumn>;
  failed: string | null;
  skipped: boolean;
}

const MiB = 1024 * 1024;

export class QueryEngine {
  readonly cache: ColumnCache<SignalColumn>;
  private readonly flights = new SingleFlight<Map<number, SignalColumn>>();
  readonly limitBytes: number;
  readonly onLimit: 'error' | 'partial';
  private readonly concurrency: number;
  private readonly counters = {
    requests: 0,
    passes: 0,
    passesAborted: 0,
    passesFailed: 0,
    eventsRead: 0,
    bytesDecoded: 0,
  };

  constructor(private readonly opts: EngineOptions) {
    this.cache = new ColumnCache<SignalColumn>(opts.cacheBytes ?? 256 * MiB);
    this.limitBytes = opts.limitBytes ?? 100 * MiB;
    this.onLimit = opts.onLimit ?? 'error';
    this.concurrency = Math.max(1, opts.concurrency ?? (opts.pool ? opts.pool.size * 2 : 2));
  }

  get catalog(): LogCatalog {
    return this.opts.catalog;
  }

  /** The embedded store served beside the logs, if any. */
  get store(): RecordSource | null {
    return this.opts.store ?? null;
  }

  /** DBC keys, sorted. */
  dbcKeys(): string[] {
    return [...this.opts.dbcs.keys()].sort();
  }

  dbc(key: string): LoadedDbc | undefined {
    return this.opts.dbcs.get(key.toLowerCase());
  }

  stats(): EngineStats {
    return {
      ...this.counters,
      passesShared: this.flights.shared,
      cache: this.cache.stats(),
      workers: this.opts.pool ? { size: this.opts.pool.size, ...this.opts.pool.counters } : null,
    };
  }

  /** The DBC of a query, or SF_ERR_SERVE_UNKNOWN_DB naming the ones there are. */
  private needDbc(key: string): LoadedDbc {
    const d = this.dbc(key);
    if (!d) {
      const known = this.dbcKeys();
      throw new SigflowError(
        'SF_ERR_SERVE_UNKNOWN_DB',
        `unknown DBC "${key}" (known: ${known.length ? known.join(', ') : 'none — put .dbc files in the data root or pass --dbc'})`,
      );
    }
    return d;
  }

  /** Time series of every query's signals (see the file comment). */
  async series(
    queries: readonly SeriesQuery[],
    signal?: AbortSignal,
  ): Promise<{ series: SeriesOut[]; report: QueryReport }> {
    this.counters.requests++;
    const notices: string[] = [];
    const passes = new Map<string, Pass>();
    const plans = queries.map((q, qi) => {
      const dbc = this.needDbc(q.db);
      const wanted: SignalRef[] = [];
      for (const name of signalNames(q.signals)) {
        const refs = dbc.resolve(name);
        if (refs.length === 0) notices.push(`no signal "${name}" in ${dbc.key}`);
        wanted.push(...refs);
      }
      const files = this.catalog.files(q.device, msToNs(q.fromMs), msToNs(q.toMs));
      this.noteUnreadable(q.device, q.fromMs, q.toMs, notices);
      const filePasses = files.map((entry) => {
        const key = `${entry.path}\u0000${entry.size}\u0000${entry.mtimeMs}\u0000${dbc.key}@${dbc.mtimeMs}\u0000${q.itf}${q.channel}`;
        let p = passes.get(key);
        if (!p) {
          p = {
            key,
            entry,
            dbc,
            itf: q.itf,
            channel: q.channel,
            signals: new Map(),
            columns: new Map(),
            failed: null,
            skipped: false,
          };
          passes.set(key, p);
        }
        for (const r of wanted) p.signals.set(r.signal.globalIndex, r.signal);
        return p;
      });
      return { q, qi, wanted, filePasses };
    });

    // what the cache already has; the rest is decoded
    const todo: Pass[] = [];
    let cached = 0;
    for (const p of passes.values()) {
      for (const idx of p.signals.keys()) {
        const c = this.cache.get(`${p.key}\u0000${idx}`);
        if (c) p.columns.set(idx, c);
      }
      if (p.columns.size < p.signals.size) todo.push(p);
      else cached++;
    }
    todo.sort((a, b) => startOf(a.entry) - startOf(b.entry));
    const partial = this.applyBudget(todo, notices);
    await this.runPasses(
      todo.filter((p) => !p.skipped),
      signal,
    );
    for (const p of todo) if (p.failed) notices.push(p.failed);

    const series: SeriesOut[] = [];
    for (const { q, qi, wanted, filePasses } of plans) {
      for (const r of wanted) {
        const segments = sessionSegments(filePasses, r.signal.globalIndex, q.fromMs, q.toMs);
        const raw = segments.reduce((n, s) => n + s.hi - s.lo, 0);
        const points = downsample(segments, {
          maxPoints: q.maxPoints,
          intervalMs: q.intervalMs,
          method: q.method,
        });
        series.push({ query: qi, name: r.name, points, raw });
      }
    }
    const decoded = todo.filter((p) => !p.skipped && !p.failed);
    return {
      series,
      report: {
        files: new Set([...passes.values()].map((p) => p.entry.path)).size,
        decoded: new Set(decoded.map((p) => p.entry.path)).size,
        bytesDecoded: decoded.reduce((n, p) => n + p.entry.size, 0),
        cached,
        partial,
        notices,
      },
    };
  }

  /** Marks the passes past the budget as skipped (partial) or throws SF_ERR_SERVE_LIMIT. */
  private applyBudget(todo: Pass[], notices: string[]): boolean {
    const need = todo.reduce((n, p) => n + p.entry.size, 0);
    if (need <= this.limitBytes) return false;
    const mb = (n: number) => `${(n / MiB).toFixed(1)} MB`;
    if (this.onLimit === 'error') {
      throw new SigflowError(
        'SF_ERR_SERVE_LIMIT',
        `this query needs ${mb(need)} of log files decoded (${todo.length} file reads), over the limit of ${mb(this.limitBytes)}: narrow the time range, select fewer devices or signals, or raise --limit`,
      );
    }
    let used = 0;
    let left = 0;
    let leftBytes = 0;
    for (const p of todo) {
      if (used + p.entry.size <= this.limitBytes) used += p.entry.size;
      else {
        p.skipped = true;
        left++;
        leftBytes += p.entry.size;
      }
    }
    notices.push(
      `partial result: ${left} file read(s) (${mb(leftBytes)}) left out by the limit of ${mb(this.limitBytes)}; the series have gaps there`,
    );
    return true;
  }

  private async runPasses(todo: Pass[], signal?: AbortSignal): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        signal?.throwIfAborted();
        await this.runPass(todo[next++], signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, todo.length) }, worker));
  }

  private async runPass(p: Pass, signal?: AbortSignal): Promise<void> {
    const missing = [...p.signals.keys()].filter((i) => !p.columns.has(i)).sort((a, b) => a - b);
    const flightKey = `${p.key}\u0000[${missing.join(',')}]`;
    try {
      const got = await this.flights.run(
        flightKey,
        async (abort) => {
          this.counters.passes++;
          try {
            const spec = this.catalog.store.spec;
            const r =
              this.opts.pool && spec
                ? await this.opts.pool.decode(
                    {
                      store: spec,
                      path: p.entry.path,
                      dbc: dbcSpec(p.dbc),
                      passwords: this.catalog.passwords?.entries(),
                      itf: p.itf,
                      channel: p.channel,
                      signals: missing,
                    },
                    abort,
                  )
                : await decodeFileColumns(
                    // decoding on the event loop: reading the file there too costs it less than a thread-pool hop
                    await this.catalog.open(p.entry, true),
                    {
                      itf: p.itf,
                      channel: p.channel,
                      dbc: p.dbc,
                      signals: missing.map((i) => p.signals.get(i) as Signal),
                    },
                    { passwords: this.catalog.passwords, signal: abort },
                  );
            this.counters.eventsRead += r.events;
            this.counters.bytesDecoded += p.entry.size;
            for (const [i, c] of r.columns) this.cache.set(`${p.key}\u0000${i}`, c);
            return r.columns;
          } catch (e) {
            if (abort.aborted) this.counters.passesAborted++;
            else this.counters.passesFailed++;
            throw e;
          }
        },
        signal,
      );
      for (const [i, c] of got) p.columns.set(i, c);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      p.failed = `${p.entry.path}: not served: ${this.catalog.relative((e as Error).message, p.entry.path)} (${errorCode(e)})`;
    }
  }

  private noteUnreadable(device: string, fromMs: number, toMs: number, notices: string[]): void {
    for (const e of this.catalog.unreadable(device)) {
      const at =
        e.startNs !== undefined
          ? entryStartMs(e)
          : e.location.suffixEpochS !== null
            ? e.location.suffixEpochS * 1000
            : null;
      if (at !== null && (at > toMs || at < fromMs - 86_400_000)) continue;
      const text = `${e.path}: cannot be read: ${this.catalog.relative(e.error?.message ?? 'unknown error', e.path)} (${e.error?.code ?? 'SF_ERR_INTERNAL'})`;
      if (!notices.includes(text)) notices.push(text);
    }
  }

  /**
   * Raw bus frames of a device in a range, in time order, at most `maxRows`: [time ms, 'CAN'|'LIN', channel, id,
   * ide (0/1), length, data as spaced upper-case hex]. Files that cannot be read are skipped and named in notices.
   */
  async rawFrames(
    device: string,
    fromMs: number,
    toMs: number,
    maxRows: number,
    signal?: AbortSignal,
    /** Log bytes this call may read (default the per-request limit; a request with several tables shares one). */
    budgetBytes = this.limitBytes,
  ): Promise<{ rows: (string | number)[][]; notices: string[]; bytes: number }> {
    const rows: (string | number)[][] = [];
    const notices: string[] = [];
    const from = msToNs(fromMs);
    const to = msToNs(toMs);
    let budget = budgetBytes;
    this.noteUnreadable(device, fromMs, toMs, notices);
    for (const entry of this.catalog.files(device, from, to)) {
      if (rows.length >= maxRows) break;
      if (entry.size > budget) {
        notices.push(
          `partial result: stopped before ${entry.path} (limit of ${(this.limitBytes / MiB).toFixed(1)} MB)`,
        );
        break;
      }
      budget -= entry.size;
      signal?.throwIfAborted();
      try {
        const { mdf } = await openLogMdf4(await this.catalog.open(entry), { passwords: this.catalog.passwords });
        try {
          for await (const b of readBusFrames(mdf, { from, to, types: [EV_CAN_DATA, EV_LIN_FRAME], batchSize: 4096 })) {
            signal?.throwIfAborted();
            const startMs = nsToMs(b.startNs);
            for (let i = 0; i < b.count && rows.length < maxRows; i++) {
              const t = startMs + b.offsetNs[i] / 1e6;
              let hex = '';
              for (let k = b.dataStart[i]; k < b.dataStart[i + 1]; k++) {
                hex += (hex ? ' ' : '') + b.data[k].toString(16).toUpperCase().padStart(2, '0');
              }
              const lin = b.bus[i] === BUS_LIN;
              rows.push([
                t,
                lin ? 'LIN' : 'CAN',
                b.channel[i],
                b.id[i],
                lin ? 0 : (b.flags[i] & FLAG_EXT) !== 0 ? 1 : 0,
                b.length[i],
                hex,
              ]);
            }
            if (rows.length >= maxRows) break;
          }
        } finally {
          await mdf.close();
        }
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        notices.push(
          `${entry.path}: not served: ${this.catalog.relative((e as Error).message, entry.path)} (${errorCode(e)})`,
        );
      }
    }
    return { rows, notices, bytes: budgetBytes - budget };
  }

  /** One row per readable log file of a device in a range (from the index: no file is opened). */
  fileInfo(device: string, fromMs: number, toMs: number, maxRows: number): (string | number | null)[][] {
    return this.catalog
      .files(device, msToNs(fromMs), msToNs(toMs))
      .slice(0, maxRows)
      .map((e) => {
        const m = e.metadata ?? {};
        const storage =
          m.storage_free !== undefined && m.storage_total !== undefined
            ? `${(m.storage_total - m.storage_free) >> 10}/${m.storage_total >> 10}`
            : '';
        return [
          entryStartMs(e),
          e.device,
          String(e.session),
          String(e.split),
          String(e.size >> 20),
          m.config_crc ?? '',
          m.hardware ?? '',
          m.firmware ?? '',
          storage,
          e.path,
          (m.comment ?? '').trim(),
        ];
      });
  }

  /**
   * Annotations of a device in a range: `split` — one per file; `session` — one per session, at its first file
   * (lowest split the index has).
   */
  annotations(kind: 'session' | 'split', device: string, fromMs: number, toMs: number): Annotation[] {
    const all = this.catalog.files(device);
    const firstSplit = new Map<number, number>();
    for (const e of all) firstSplit.set(e.session, Math.min(firstSplit.get(e.session) ?? e.split, e.split));
    const out: Annotation[] = [];
    for (const e of this.catalog.files(device, msToNs(fromMs), msToNs(toMs))) {
      if (kind === 'session' && firstSplit.get(e.session) !== e.split) continue;
      const time = entryStartMs(e);
      if (time === null || time < fromMs || time > toMs) continue;
      out.push({
        text: `${e.path}\nSession: ${e.session}\nSplit: ${e.split}\nSize: ${e.size >> 20} MB`,
        time,
        session: e.session,
        split: e.split,
      });
    }
    return out;
  }

  /** Text of a device for pickers: the id and the comment of its most recent file's header. */
  deviceLabel(device: string): string {
    const c = this.catalog.latest(device)?.metadata?.comment?.trim();
    return c ? `${device} ${c}` : device;
  }
}

function startOf(e: IndexEntry): number {
  return entryStartMs(e) ?? 0;
}

/** A signal's points in [fromMs, toMs] across the files, one segment per session (files in time order). */
function sessionSegments(filePasses: Pass[], idx: number, fromMs: number, toMs: number) {
  const segments: { t: Float64Array; v: Float64Array; lo: number; hi: number }[] = [];
  let session: number | null = null;
  let pieces: { t: Float64Array; v: Float64Array; lo: number; hi: number }[] = [];
  const flush = () => {
    const n = pieces.reduce((k, p) => k + p.hi - p.lo, 0);
    if (pieces.length === 1) segments.push(pieces[0]);
    else if (n > 0) {
      const t = new Float64Array(n);
      const v = new Float64Array(n);
      let o = 0;
      for (const p of pieces) {
        t.set(p.t.subarray(p.lo, p.hi), o);
        v.set(p.v.subarray(p.lo, p.hi), o);
        o += p.hi - p.lo;
      }
      segments.push({ t, v, lo: 0, hi: n });
    }
    pieces = [];
  };
  for (const p of filePasses) {
    if (session !== null && p.entry.session !== session) flush();
    session = p.entry.session;
    const c = p.columns.get(idx);
    if (!c) continue;
    const lo = lowerBound(c.t, fromMs);
    const hi = upperBound(c.t, toMs, lo);
    if (hi > lo) pieces.push({ t: c.t, v: c.v, lo, hi });
  }
  flush();
  return segments;
}
