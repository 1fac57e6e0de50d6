/**
 * The lake as a data source of `sigflow serve` (`--lake <folder>`): the Grafana protocols' record targets
 * (`{"measurement": "CAN2_gnss_speed", "field": "Speed", "tags": {"device": "2F6913DB"}}`) answered from the Parquet
 * files with DuckDB — measurement = message folder, tag `device`, fields = signals. A request reads only the files
 * of the days it covers (the date folders prune before any file is opened) and is downsampled in DuckDB to real
 * points: every sample when they fit maxDataPoints, else per bucket the min and the max point (`minmax`), or one of
 * them, or the bucket's last sample (`nearest`) — each with its own time, as the store's source does.
 *
 * What the lake holds (folders, devices, signal columns) is read when it opens and again every `refreshMs`
 * (a listing of two folder levels; a folder's columns — the union over each device's newest file — when it is
 * new, gains a device, or every COLUMNS_TTL_MS), so new devices, messages and signals written by `lake write`
 * workers show up while it serves.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SigflowError } from '../../errors/index.js';
import {
  asS3Store,
  datePath,
  dayOf,
  dayOfPath,
  LAKE_META,
  LakeMirror,
  type LakeStore,
  mirrorFolder,
} from '../../formats/lake/index.js';

type Connection = import('@duckdb/node-api').DuckDBConnection;

/** The query shape of src/query's record sources (StoreSeriesQuery), restated: this layer does not import it. */
export interface LakeSeriesQuery {
  measurement: string;
  fields?: string | readonly string[];
  tags?: Readonly<Record<string, string>>;
  fromMs: number;
  toMs: number;
  maxPoints: number;
  method?: 'nearest' | 'max' | 'min' | 'minmax';
}

export interface LakeSeries {
  /** `measurement:device=<ID>:field`, as the store's series are named. */
  name: string;
  field: string;
  tags: { device: string };
  points: [number, number][];
  raw: number;
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** How long a folder's columns are kept before they are read again (a DBC that gained a signal shows then). */
const COLUMNS_TTL_MS = 5 * 60_000;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Names in Grafana's `(A|B)` form or a list. */
function names(f: string | readonly string[] | undefined): string[] {
  if (f === undefined) return [];
  if (typeof f !== 'string') return [...f];
  const m = /^\((.*)\)$/.exec(f.trim());
  return (m ? m[1] : f)
    .split('|')
    .map((s) => s.trim())
    .filter(Boolean);
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** Where the source finds folders and a day's files: the lake folder itself, or an S3 lake's local copy. */
interface LakeFiles {
  /** Folder names under `rel` (`''`: the devices; `<ID>`: its message folders; then years, months, days), sorted. */
  folders(rel: string): Promise<string[]>;
  /** Local paths of the Parquet files of a device's message folder on these days (sorted by key). */
  dayFiles(device: string, folder: string, days: number[]): Promise<string[]>;
}

function folderFiles(root: string): LakeFiles {
  return {
    folders: async (rel) => subdirs(rel === '' ? root : join(root, ...rel.split('/'))),
    dayFiles: async (device, folder, days) => {
      const out: string[] = [];
      for (const day of days) {
        const dir = join(root, device, folder, ...datePath(day).split('/'));
        if (!existsSync(dir)) continue;
        for (const f of readdirSync(dir).sort()) if (f.endsWith('.parquet')) out.push(join(dir, f));
      }
      return out;
    },
  };
}

/** An S3 lake through its local copy: one listing per month folder a request touches (cached for the TTL). */
function mirroredFiles(mirror: LakeMirror): LakeFiles {
  return {
    folders: (rel) => mirror.folders(rel === '' ? '' : `${rel}/`),
    dayFiles: async (device, folder, days) => {
      const months = new Map<string, Set<string>>();
      for (const day of days) {
        const path = datePath(day);
        const month = path.slice(0, 7);
        let set = months.get(month);
        if (!set) months.set(month, (set = new Set()));
        set.add(`${device}/${folder}/${path}/`);
      }
      const out: string[] = [];
      for (const [month, dayPrefixes] of months) {
        const inDays = (key: string) => dayPrefixes.has(key.slice(0, key.lastIndexOf('/') + 1));
        const keys = await mirror.sync(`${device}/${folder}/${month}/`, (k) => k.endsWith('.parquet') && inDays(k));
        for (const k of keys) out.push(mirror.pathOf(k));
      }
      return out;
    },
  };
}

export interface LakeSourceOptions {
  /** How often the lake's folders are listed again (default 10 s; 0: never after opening). */
  refreshMs?: number;
  /** The local copy of an S3 lake (default: under the cache folder, see LakeMirror). */
  cacheDir?: string;
  /** The copy's size bound in bytes (default 10 GiB; see LakeMirror). */
  cacheMaxBytes?: number;
}

export class LakeSource {
  /** folder → devices having it. */
  private devices = new Map<string, string[]>();
  /** folder → signal columns. */
  private columns = new Map<string, string[]>();
  /** folder → when its columns were read (Date.now()). */
  private readonly columnsReadAt = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly store: LakeStore,
    private readonly lake: LakeFiles,
    private readonly duck: import('@duckdb/node-api').DuckDBInstance,
    private readonly conn: Connection,
  ) {}

  /**
   * Opens a lake: a folder, or an S3 lake read through a local copy that holds the days requests ask for (each
   * month folder a request touches is listed at most once per 30 s; new and changed files are downloaded). The
   * source owns the store: closing it (or failing to open) closes the store.
   */
  static async open(store: LakeStore, opts: LakeSourceOptions = {}): Promise<LakeSource> {
    const refreshMs = opts.refreshMs ?? 10_000;
    let lake: LakeFiles;
    let s: LakeSource;
    try {
      if (store.folder !== null) {
        if (!existsSync(store.folder))
          throw new SigflowError('SF_ERR_LAKE_QUERY', `${store.folder}: no such lake folder`, { where: '--lake' });
        lake = folderFiles(store.folder);
      } else {
        const s3 = asS3Store(store);
        lake = mirroredFiles(new LakeMirror(s3, opts.cacheDir ?? mirrorFolder(s3), { maxBytes: opts.cacheMaxBytes }));
      }
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const duck = await DuckDBInstance.create(':memory:');
      try {
        const conn = await duck.connect();
        await conn.run('SET parquet_metadata_cache = true').catch((e) => {
          conn.closeSync();
          throw e;
        });
        s = new LakeSource(store, lake, duck, conn);
      } catch (e) {
        duck.closeSync();
        throw e;
      }
    } catch (e) {
      store.close();
      throw e;
    }
    try {
      await s.refresh();
    } catch (e) {
      s.close();
      throw e instanceof SigflowError
        ? e
        : new SigflowError('SF_ERR_LAKE_QUERY', `${store.where}: ${(e as Error).message}`, {
            where: '--lake',
            cause: e,
          });
    }
    if (refreshMs > 0) {
      let running = false;
      s.timer = setInterval(() => {
        if (running) return; // a slow listing (S3) is not overtaken by the next one
        running = true;
        s.refresh()
          .catch(() => {
            // kept as it was: the next refresh tries again
          })
          .finally(() => {
            running = false;
          });
      }, refreshMs);
      s.timer.unref();
    }
    return s;
  }

  get where(): string {
    return this.store.where;
  }

  get what(): string {
    return `the lake ${this.where}`;
  }

  /** Re-reads which devices have which message folders, and the columns of folders not seen before. */
  async refresh(): Promise<void> {
    const devices = new Map<string, string[]>();
    for (const device of await this.lake.folders('')) {
      if (device === LAKE_META || device === 'aggregations') continue;
      for (const f of await this.lake.folders(device)) {
        if (f === 'messages') continue;
        devices.set(f, [...(devices.get(f) ?? []), device]);
      }
    }
    const now = Date.now();
    for (const [f, ds] of devices) {
      // a folder's columns are read again now and then (a DBC that added a signal, a device with more of them)
      const seen = this.columnsReadAt.get(f);
      if (seen !== undefined && now - seen < COLUMNS_TTL_MS && this.devices.get(f)?.length === ds.length) continue;
      // the union over each device's newest file: devices of one folder may run different DBC versions
      const files: string[] = [];
      for (const d of ds) {
        const file = await this.newestFile(d, f);
        if (file) files.push(file);
      }
      if (files.length === 0) continue;
      const r = await this.conn.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet([${files.map(lit).join(', ')}], union_by_name = true)`,
      );
      this.columns.set(
        f,
        r
          .getRowObjectsJS()
          .map((x) => String(x.column_name))
          .filter((c) => c !== 't'),
      );
      this.columnsReadAt.set(f, now);
    }
    this.devices = devices;
  }

  /** A device's last file of a folder (newest date folder first): its columns are the newest DBC's. */
  private async newestFile(device: string, folder: string): Promise<string | null> {
    const base = `${device}/${folder}`;
    for (const y of (await this.lake.folders(base)).reverse())
      for (const m of (await this.lake.folders(`${base}/${y}`)).reverse())
        for (const d of (await this.lake.folders(`${base}/${y}/${m}`)).reverse()) {
          const day = dayOfPath(`${y}/${m}/${d}`);
          if (day === null) continue;
          const files = await this.lake.dayFiles(device, folder, [day]);
          if (files.length) return files[files.length - 1];
        }
    return null;
  }

  measurements(): string[] {
    return [...this.devices.keys()].filter((f) => this.columns.has(f)).sort();
  }

  fields(measurement?: string): string[] {
    if (measurement !== undefined) return [...(this.columns.get(measurement) ?? [])].sort();
    return [...new Set([...this.columns.values()].flat())].sort();
  }

  tagKeys(): string[] {
    return ['device'];
  }

  tagValues(key: string, measurement?: string): string[] {
    if (key !== 'device') return [];
    const ds = measurement !== undefined ? (this.devices.get(measurement) ?? []) : [...this.devices.values()].flat();
    return [...new Set(ds)].sort();
  }

  /** The files of a device's folder for the days of the range that exist. */
  private files(device: string, folder: string, fromMs: number, toMs: number): Promise<string[]> {
    const days: number[] = [];
    for (let day = dayOf(fromMs * 1000); day <= dayOf(toMs * 1000); day++) days.push(day);
    return this.lake.dayFiles(device, folder, days);
  }

  async series(q: LakeSeriesQuery, notices: string[]): Promise<LakeSeries[]> {
    const m = q.measurement;
    const known = this.columns.get(m);
    if (!known) {
      notices.push(`no measurement "${m}" in the lake`);
      return [];
    }
    const wanted = names(q.fields).filter((f) => {
      if (known.includes(f)) return true;
      notices.push(`no field "${f}" in measurement "${m}"`);
      return false;
    });
    const fields = names(q.fields).length ? wanted : known;
    const tags = q.tags ?? {};
    for (const k of Object.keys(tags)) if (k !== 'device') notices.push(`the lake has no tag "${k}" (only device)`);
    const devices = (this.devices.get(m) ?? []).filter((d) => tags.device === undefined || d === tags.device);
    if (q.toMs < q.fromMs) throw new SigflowError('SF_ERR_SERVE_BAD_REQUEST', 'range: "to" is before "from"');
    const max = Math.max(1, Math.min(100_000, Math.floor(q.maxPoints)));
    const method = q.method ?? 'minmax';
    const out: LakeSeries[] = [];
    for (const device of devices) {
      const files = await this.files(device, m, q.fromMs, q.toMs);
      if (files.length === 0) continue;
      const src = `read_parquet([${files.map(lit).join(', ')}], union_by_name = true)`;
      // on t itself, so that the row groups' statistics prune (Grafana's `to` is inclusive, in ms)
      const where = `t >= to_timestamp(${q.fromMs / 1000}) AND t < to_timestamp(${(q.toMs + 1) / 1000})`;
      for (const f of fields) {
        const col = ident(f);
        let raw: number;
        let points: [number, number][];
        try {
          const n = await this.conn.runAndReadAll(
            `SELECT count(${col})::BIGINT AS n FROM ${src} WHERE ${where} AND ${col} IS NOT NULL`,
          );
          raw = Number(n.getRowObjectsJS()[0].n);
          if (raw === 0) continue;
          if (raw <= max) {
            const r = await this.conn.runAndReadAll(
              `SELECT ${col}::DOUBLE AS v, epoch_ms(t) AS ms FROM ${src} WHERE ${where} AND ${col} IS NOT NULL ORDER BY t`,
            );
            points = r.getRowObjectsJS().map((x) => [Number(x.v), Number(x.ms)]);
          } else {
            const buckets = method === 'minmax' ? Math.max(1, Math.floor(max / 2)) : max;
            const width = Math.max(1, Math.ceil((q.toMs - q.fromMs + 1) / buckets));
            const r = await this.conn.runAndReadAll(
              `SELECT (epoch_ms(t) - ${q.fromMs}) // ${width} AS b,
                      min(${col})::DOUBLE AS lo, arg_min(epoch_ms(t), ${col}) AS lo_ms,
                      max(${col})::DOUBLE AS hi, arg_max(epoch_ms(t), ${col}) AS hi_ms,
                      arg_max(${col}, t)::DOUBLE AS last, max(epoch_ms(t)) AS last_ms
               FROM ${src} WHERE ${where} AND ${col} IS NOT NULL
               GROUP BY b ORDER BY b`,
            );
            points = [];
            for (const b of r.getRowObjectsJS()) {
              const lo: [number, number] = [Number(b.lo), Number(b.lo_ms)];
              const hi: [number, number] = [Number(b.hi), Number(b.hi_ms)];
              if (method === 'min') points.push(lo);
              else if (method === 'max') points.push(hi);
              else if (method === 'nearest') points.push([Number(b.last), Number(b.last_ms)]);
              else {
                const [a, z] = lo[1] <= hi[1] ? [lo, hi] : [hi, lo];
                points.push(a);
                if (z[1] !== a[1]) points.push(z);
              }
            }
          }
        } catch (e) {
          throw new SigflowError(
            'SF_ERR_LAKE_QUERY',
            `${this.where}: ${m}.${f}: ${(e as Error).message.split('\n')[0]}`,
            {
              where: m,
              cause: e,
            },
          );
        }
        out.push({ name: `${m}:device=${device}:${f}`, field: f, tags: { device }, points, raw });
      }
    }
    return out;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.conn.closeSync();
    this.duck.closeSync();
    this.store.close();
  }
}
