/**
 * Queries over a lake folder with DuckDB (@duckdb/node-api, in process): one view per message folder across the
 * fleet (`CAN2_gnss_speed`: every device's rows, with `device` and `date_created` columns — no UNION by hand), one
 * per device and folder under CSS's Glue table names (`tbl_<ID>_<folder>`, so Athena SQL runs unchanged), and the
 * side tables (`messages`, `devicemeta`). Views read the Parquet files by glob with `union_by_name`: a column a
 * newer DBC added is there (null in older files), unlike tables whose columns come from the first file listed.
 * `t` is a plain TIMESTAMP in UTC, as Athena and Glue see it (the files say TIMESTAMP(MICROS, UTC), which DuckDB
 * reads as TIMESTAMPTZ; bucketing that goes through ICU's calendar, ~5× slower on a fleet query). A filter on `t`
 * skips row groups by their statistics; a filter on `device` or `date_created` skips files unopened (partition
 * pruning); the dashboards' source (source.ts) reads only the days' files of a range.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SigflowError } from '../../errors/index.js';
import {
  asS3Store,
  LAKE_META,
  LakeMirror,
  type LakeStore,
  type MirrorStats,
  mirrorFolder,
  parseTableKey,
} from '../../formats/lake/index.js';
import { lakeDayRange } from './derived.js';

type DuckDB = typeof import('@duckdb/node-api');
type Connection = import('@duckdb/node-api').DuckDBConnection;

export interface LakeView {
  name: string;
  /** What it reads: `fleet` (all devices), `device`, or `side`. */
  kind: 'fleet' | 'device' | 'side';
  folder: string;
  device: string | null;
}

export interface LakeQueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

export interface LakeQueryOptions {
  /** The local copy of an S3 lake (default: `<cache>/lake/<bucket>-<hash>`, see mirrorFolder). */
  cacheDir?: string;
  /** The copy's size bound in bytes (default 10 GiB: least recently used files go first; see LakeMirror). */
  cacheMaxBytes?: number;
  /** An S3 lake: copy only the days from … to (`YYYY-MM-DD`, UTC, inclusive). */
  from?: string;
  to?: string;
  /** An S3 lake: after each object downloaded into the copy (for a progress bar). */
  onCopyProgress?: (done: number, todo: number) => void;
}

/**
 * A lake as local files to read: the folder of a folder lake, or an S3 lake's local copy (LakeMirror in
 * `opts.cacheDir` or the cache folder) with the keys of the objects it holds for this read — readers take exactly
 * those (the copy may hold other days, copied for other reads).
 */
export interface ReadableLake {
  folder: string;
  /** For messages: the lake's own name (a folder or `s3://…`). */
  where: string;
  /** The objects to read (keys relative to `folder`), or null: every file of the folder. */
  keys: string[] | null;
  /** An S3 lake's copy: what bringing it up to date took. */
  copy?: MirrorStats;
}

/**
 * The lake as local files (see ReadableLake). An S3 lake's copy is brought up to date for the options' days first:
 * new and changed objects downloaded, removed ones deleted; the side tables always.
 */
export async function readableLake(lake: LakeStore, opts: LakeQueryOptions = {}): Promise<ReadableLake> {
  if (lake.folder !== null) {
    if (opts.from !== undefined || opts.to !== undefined)
      throw new SigflowError(
        'SF_ERR_USAGE',
        `${lake.where}: --from/--to choose what to copy from an S3 lake; over a folder, filter in SQL (WHERE t …)`,
      );
    return { folder: lake.folder, where: lake.where, keys: null };
  }
  const s3 = asS3Store(lake);
  const folder = opts.cacheDir ?? mirrorFolder(s3);
  const { from, to } = lakeDayRange(opts.from, opts.to);
  const mirror = new LakeMirror(s3, folder, { onFetched: opts.onCopyProgress, maxBytes: opts.cacheMaxBytes });
  try {
    const keys = await mirror.sync('', (key) => {
      if (key.startsWith(`${LAKE_META}/`) || !key.endsWith('.parquet')) return false;
      const t = parseTableKey(key);
      return t === null || ((from === null || t.day >= from) && (to === null || t.day <= to)); // side tables: always
    });
    return { folder, where: lake.where, keys, copy: mirror.stats };
  } catch (e) {
    throw e instanceof SigflowError ? e : queryError(lake.where, e);
  }
}

/** A SQL string literal. */
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** A SQL identifier. */
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

export class LakeQuery {
  private constructor(
    private readonly duck: import('@duckdb/node-api').DuckDBInstance,
    private readonly conn: Connection,
    readonly folder: string,
    readonly views: LakeView[],
  ) {}

  /**
   * Opens DuckDB over a lake and creates its views (from a listing of its folders). An S3 lake is read through a
   * local copy (LakeMirror, in `opts.cacheDir`): the objects of the days `from`…`to` (all days without them) and
   * the side tables are brought up to date first — only new or changed objects are downloaded.
   */
  static async open(lake: LakeStore, opts: LakeQueryOptions = {}): Promise<LakeQuery> {
    return LakeQuery.openReadable(await readableLake(lake, opts));
  }

  /** Opens DuckDB over a lake's local files (readableLake): views over exactly its keys, or over the folder. */
  static async openReadable(lake: ReadableLake): Promise<LakeQuery> {
    if (!existsSync(lake.folder))
      throw new SigflowError('SF_ERR_LAKE_QUERY', `${lake.folder}: no such lake folder`, { where: lake.where });
    const root = lake.folder.replace(/\/+$/, '');
    // what views there are: from the keys, or from two levels of folders (devices, then their message folders) —
    // no need to walk the date folders, which hold the thousands of files
    const folders = new Map<string, Set<string>>();
    const addFolder = (device: string, folder: string) => {
      let set = folders.get(folder);
      if (!set) folders.set(folder, (set = new Set()));
      set.add(device);
    };
    let src: (device: string, folder: string) => string;
    let side: { messages: string | null; devicemeta: string | null };
    if (lake.keys !== null) {
      const byFolder = new Map<string, string[]>();
      const add = (k: string, path: string) => {
        let list = byFolder.get(k);
        if (!list) byFolder.set(k, (list = []));
        list.push(path);
      };
      const messages: string[] = [];
      const devicemeta: string[] = [];
      for (const key of lake.keys) {
        const path = `${root}/${key}`;
        const t = parseTableKey(key);
        if (t !== null) {
          addFolder(t.device, t.folder);
          add(`*\0${t.folder}`, path);
          add(`${t.device}\0${t.folder}`, path);
        } else if (/^[^/]+\/messages\/\d{4}\/\d{2}\/\d{2}\/messages\.parquet$/.test(key)) messages.push(path);
        else if (key.startsWith('aggregations/devicemeta/')) devicemeta.push(path);
      }
      const list = (paths: string[]) => `[${paths.map(lit).join(', ')}]`;
      src = (device, folder) => list(byFolder.get(`${device}\0${folder}`) ?? []);
      side = {
        messages: messages.length ? list(messages) : null,
        devicemeta: devicemeta.length ? list(devicemeta) : null,
      };
    } else {
      src = (device, folder) => lit(`${root}/${device}/${folder}/*/*/*/*.parquet`);
      side = {
        messages: null,
        devicemeta: existsSync(join(root, 'aggregations', 'devicemeta'))
          ? lit(`${root}/aggregations/devicemeta/*/*/*/*.parquet`)
          : null,
      };
    }
    const subdirs = (dir: string) => {
      try {
        return readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return [];
      }
    };
    // a message folder with no table file (its files removed as stale, a crash before the first rename) has no
    // view: a view over a glob that matches nothing fails every query of the lake
    const hasTableFile = (dir: string, depth: number): boolean => {
      if (depth > 0) return subdirs(dir).some((d) => hasTableFile(join(dir, d), depth - 1));
      try {
        return readdirSync(dir).some((n) => n.endsWith('.parquet'));
      } catch {
        return false;
      }
    };
    if (lake.keys === null)
      for (const device of subdirs(lake.folder)) {
        if (device === LAKE_META || device === 'aggregations') continue;
        for (const folder of subdirs(join(lake.folder, device))) {
          if (folder === 'messages') side.messages = lit(`${root}/*/messages/*/*/*/messages.parquet`);
          else if (hasTableFile(join(lake.folder, device, folder), 3)) addFolder(device, folder);
        }
      }
    const duck: DuckDB = await import('@duckdb/node-api');
    const instance = await duck.DuckDBInstance.create(':memory:');
    const conn = await instance.connect().catch((e) => {
      instance.closeSync();
      throw queryError(lake.where, e);
    });
    const views: LakeView[] = [];
    try {
      // dashboards ask the same questions again and again: keep the files' footers (schema, row-group statistics)
      // instead of parsing them at every query
      await conn.run('SET parquet_metadata_cache = true');
      // `t` is stored as UTC instants; the views' `t::TIMESTAMP` and literals in queries are UTC whatever the
      // host's time zone (DuckDB's session zone is the host's otherwise)
      await conn.run("SET TimeZone = 'UTC'");
      // view names are case-insensitive in SQL: message folders differing only by case (Foo, FOO) get _2 …
      const taken = new Set<string>();
      const viewName = (name: string) => {
        let v = name;
        for (let k = 2; taken.has(v.toLowerCase()); k++) v = `${name}_${k}`;
        taken.add(v.toLowerCase());
        return v;
      };
      for (const [folder, devices] of [...folders].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        // the device and the CSS partition column from the path: <root>/<ID>/<folder>/<YYYY>/<MM>/<DD>/<file>
        const fleetView = viewName(folder);
        await conn.run(
          `CREATE VIEW ${ident(fleetView)} AS SELECT * EXCLUDE (filename) REPLACE (t::TIMESTAMP AS t),
             split_part(filename, '/', -6) AS device,
             concat_ws('/', split_part(filename, '/', -4), split_part(filename, '/', -3), split_part(filename, '/', -2)) AS date_created
           FROM read_parquet(${src('*', folder)}, union_by_name = true, filename = true)`,
        );
        views.push({ name: fleetView, kind: 'fleet', folder, device: null });
        for (const device of [...devices].sort()) {
          const name = viewName(`tbl_${device}_${folder}`);
          await conn.run(
            `CREATE VIEW ${ident(name)} AS SELECT * EXCLUDE (filename) REPLACE (t::TIMESTAMP AS t),
               concat_ws('/', split_part(filename, '/', -4), split_part(filename, '/', -3), split_part(filename, '/', -2)) AS date_created
             FROM read_parquet(${src(device, folder)}, union_by_name = true, filename = true)`,
          );
          views.push({ name, kind: 'device', folder, device });
        }
      }
      if (side.messages) {
        await conn.run(
          `CREATE VIEW messages AS SELECT MessageName, split_part(filename, '/', -6) AS device
           FROM read_parquet(${side.messages}, filename = true)`,
        );
        views.push({ name: 'messages', kind: 'side', folder: 'messages', device: null });
      }
      if (side.devicemeta) {
        await conn.run(`CREATE VIEW devicemeta AS SELECT * FROM read_parquet(${side.devicemeta})`);
        views.push({ name: 'devicemeta', kind: 'side', folder: 'devicemeta', device: null });
      }
    } catch (e) {
      conn.closeSync();
      instance.closeSync();
      throw queryError(lake.where, e);
    }
    return new LakeQuery(instance, conn, root, views);
  }

  /** Runs one SQL statement; rows as plain objects (timestamps as ISO text, big integers as bigint). */
  async query(sql: string): Promise<LakeQueryResult> {
    try {
      const reader = await this.conn.runAndReadAll(sql);
      const columns = reader.columnNames();
      const rows = reader.getRowObjects().map((r) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r)) out[k] = plain(v);
        return out;
      });
      return { columns, rows };
    } catch (e) {
      throw queryError(this.folder, e);
    }
  }

  close(): void {
    this.conn.closeSync();
    this.duck.closeSync();
  }
}

/** A DuckDB value as a plain one: numbers, bigints, strings, booleans and null as they are; timestamps as ISO 8601
 * text with microseconds (`2022-01-06T11:46:17.110600Z`); anything else as DuckDB prints it. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const micros = (v as { micros?: unknown }).micros;
  if (typeof micros === 'bigint') {
    const ms = micros >= 0n ? micros / 1000n : (micros - 999n) / 1000n;
    const us = Number(micros - ms * 1000n);
    return `${new Date(Number(ms)).toISOString().slice(0, -1)}${String(us).padStart(3, '0')}Z`;
  }
  return String(v);
}

function queryError(where: string, e: unknown): SigflowError {
  return new SigflowError('SF_ERR_LAKE_QUERY', `${where}: ${(e as Error).message.split('\n')[0]}`, {
    where,
    cause: e,
  });
}
