/**
 * `sigflow serve` as a library call: a log tree (a folder, or a `file://` URL as the old backend took it) with
 * its DBC files (`*.dbc` in the root, keyed by lower-case stem, plus `--dbc`) and `passwords.json`, indexed and
 * kept up to date on a poll interval, behind the HTTP server. Returns the listening address and a close().
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { SigflowError } from '../errors/index.js';
import {
  EmptyLogStore,
  LocalLogStore,
  type LogStore,
  loadPasswords,
  type PasswordBook,
  parsePasswords,
  passwordsFileOf,
  S3LogStore,
  type StoreSpec,
} from '../formats/canedge/index.js';
import { S3Bucket } from '../io/index.js';
import {
  DecodePool,
  defaultWorkers,
  LogCatalog,
  loadDbcs,
  QueryEngine,
  type RecordSource,
  StoreSource,
} from '../query/index.js';
import type { ConsoleOptions } from './console/api.js';
import { type AuthOptions, buildServer } from './server.js';

/** S3 settings of a data root (the old backend's --s3_* flags). */
export interface S3Options {
  /** http(s)://host:port of an S3-compatible server (MinIO …); omit for AWS. */
  endpoint?: string;
  region?: string;
  /** Needed when the data root is the endpoint URL (the old backend's form). */
  bucket?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** PEM of the CA that signed the server's certificate. */
  caFile?: string;
}

export interface ServeOptions {
  /**
   * The data root: a folder, a file:// URL, `s3://bucket/prefix` (with `s3.endpoint` for a non-AWS server) or
   * the old backend's form, an S3 endpoint URL with `s3.bucket`.
   */
  data?: string;
  s3?: S3Options;
  /** An embedded store file to serve as well (read-only; `sigflow run`/`import` may write it meanwhile). */
  store?: string;
  /**
   * A Parquet lake to serve as well (`sigflow lake write`; instead of a store: one record source): a folder or
   * `s3://bucket/prefix` (with `s3`'s endpoint, region, keys and CA; read through a local copy of the days asked).
   */
  lake?: string;
  /** The size bound of an S3 lake's local copy, in bytes (default 10 GiB; see LakeMirror). */
  lakeCacheMaxBytes?: number;
  /** More DBC files (besides the root's *.dbc). */
  dbc?: string[];
  /** A passwords.json (default: the root's, when there is one). */
  passwords?: string;
  host?: string;
  port?: number;
  /** Per-request budget of log bytes decoded (default 100 MiB). */
  limitBytes?: number;
  onLimit?: 'error' | 'partial';
  /** Column cache size (default 256 MiB). */
  cacheBytes?: number;
  /** Decoding worker threads (default: the cores, at most 4; 0: decode on the event loop). */
  workers?: number;
  /** How often the tree is listed for new files (default 10 s; 0: never after the start). */
  pollMs?: number;
  indexPath?: string;
  auth?: AuthOptions;
  /** PEM files. */
  tls?: { cert: string; key: string };
  corsOrigins?: string[];
  logger?: FastifyBaseLogger;
  /** The web console at /console/ (absent: none). */
  console?: ConsoleOptions;
  /** The Grafana routes (default true). */
  grafana?: boolean;
  /** A log line per request (default true). */
  requestLog?: boolean;
  /** How long a client has to send a request's body (default 30 s). */
  bodyTimeoutMs?: number;
}

export interface RunningServer {
  url: string;
  engine: QueryEngine;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** What a data argument names: a folder (a path or file:// URL) or an S3 location — a store spec. */
export type DataRoot = StoreSpec;

export function dataRoot(data: string, s3: S3Options = {}): DataRoot {
  const creds = {
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    caFile: s3.caFile,
    region: s3.region,
  };
  if (/^s3:\/\//i.test(data)) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(data);
    if (!m?.[1]) throw new SigflowError('SF_ERR_SERVE_CONFIG', `${data}: not an S3 URL (s3://bucket/prefix)`);
    const prefix = m[2] && !m[2].endsWith('/') ? `${m[2]}/` : m[2];
    return { kind: 's3', loc: { ...creds, endpoint: s3.endpoint, bucket: m[1], prefix } };
  }
  if (/^https?:\/\//i.test(data)) {
    if (!s3.bucket) {
      throw new SigflowError(
        'SF_ERR_SERVE_CONFIG',
        `${data}: an S3 endpoint needs the bucket (--s3_bucket), or give s3://bucket/prefix with --s3-endpoint`,
      );
    }
    return { kind: 's3', loc: { ...creds, endpoint: data.replace(/\/+$/, ''), bucket: s3.bucket, prefix: '' } };
  }
  let root = data;
  if (/^file:/i.test(data)) {
    try {
      root = fileURLToPath(data);
    } catch (e) {
      throw new SigflowError('SF_ERR_SERVE_CONFIG', `${data}: not a file URL: ${(e as Error).message}`);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(data)) {
    throw new SigflowError('SF_ERR_SERVE_CONFIG', `${data}: not a folder, file:// URL, s3:// URL or S3 endpoint`);
  }
  root = resolve(root);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SigflowError(
      'SF_ERR_SERVE_CONFIG',
      `${root}: not a folder (the data root holds <device>/<session>/<split>.MF4 and the .dbc files)`,
    );
  }
  return { kind: 'dir', root };
}

/**
 * Bounds on the side files of an S3 data root, read whole into memory at start: the largest real DBC files are a
 * few MB; a passwords file a few KB. A larger object is refused naming it (a stray huge `.dbc` in a bucket).
 */
const MAX_DBC_OBJECT = 64 * 1024 * 1024;
const MAX_PASSWORDS_OBJECT = 1024 * 1024;

/** The store of a data root, its DBC files (the root's *.dbc, then the given ones) and its passwords. */
async function openRoot(
  where: DataRoot,
  extraDbc: string[],
  passwordsFile: string | undefined,
): Promise<{
  store: LogStore;
  dbcs: { path: string; mtimeMs: number; text?: string }[];
  passwords?: PasswordBook;
  close(): void;
}> {
  const extra = extraDbc
    .map((p) => resolve(p))
    .map((path) => {
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st?.isFile()) throw new SigflowError('SF_ERR_SERVE_CONFIG', `${path}: no such DBC file`);
      return { path, mtimeMs: st.mtimeMs };
    });
  const given = passwordsFile ? await loadPasswords(passwordsFile) : undefined;
  if (where.kind === 'dir') {
    const pw = given ? undefined : passwordsFileOf(where.root);
    return {
      store: new LocalLogStore(where.root),
      dbcs: [...dbcFiles(where.root), ...extra],
      passwords: given ?? (pw ? await loadPasswords(pw) : undefined),
      close() {},
    };
  }
  const bucket = new S3Bucket(where.loc);
  try {
    const dbcs: { path: string; mtimeMs: number; text?: string }[] = [];
    let passwords = given;
    for await (const o of bucket.list('', true)) {
      const name = o.key;
      if (extname(name).toLowerCase() === '.dbc') {
        dbcs.push({
          path: `${bucket.loc.bucket}/${(bucket.loc.prefix ?? '') + name}`,
          mtimeMs: o.mtimeMs,
          text: Buffer.from(await bucket.getAll(name, MAX_DBC_OBJECT)).toString('utf8'),
        });
      } else if (name === 'passwords.json' && !given) {
        passwords = parsePasswords(
          Buffer.from(await bucket.getAll(name, MAX_PASSWORDS_OBJECT)).toString('utf8'),
          `s3://${bucket.loc.bucket}/${(bucket.loc.prefix ?? '') + name}`,
        );
      }
    }
    dbcs.sort((a, b) => (a.path < b.path ? -1 : 1));
    return { store: new S3LogStore(bucket), dbcs: [...dbcs, ...extra], passwords, close: () => bucket.destroy() };
  } catch (e) {
    bucket.destroy();
    throw e;
  }
}

/** DBC files given by path (--dbc), with their mtimes. */
function extraDbcs(paths: string[]): { path: string; mtimeMs: number }[] {
  return paths
    .map((p) => resolve(p))
    .map((path) => {
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st?.isFile()) throw new SigflowError('SF_ERR_SERVE_CONFIG', `${path}: no such DBC file`);
      return { path, mtimeMs: st.mtimeMs };
    });
}

/** The root's DBC files (top level, any case of .dbc), with their mtimes. */
function dbcFiles(root: string): { path: string; mtimeMs: number }[] {
  return readdirSync(root)
    .filter((n) => extname(n).toLowerCase() === '.dbc')
    .sort()
    .map((n) => join(root, n))
    .map((path) => ({ path, mtimeMs: statSync(path).mtimeMs }));
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SigflowError('SF_ERR_SERVE_CONFIG', `${what} ${path}: ${(e as Error).message}`);
  }
}

/** The engine and the app over a data root and/or a store, not listening yet; close() releases everything. */
interface Serving {
  engine: QueryEngine;
  app: FastifyInstance;
  /** Starts polling the tree for new files. */
  poll(): void;
  close(): Promise<void>;
}

/** `bindHost`: where the server will listen (serve), or undefined inside `sigflow run` (its endpoint guards). */
async function prepare(o: ServeOptions, store: RecordSource | undefined, bindHost?: string): Promise<Serving> {
  if (o.data === undefined && store === undefined && !o.console) {
    throw new SigflowError(
      'SF_ERR_SERVE_CONFIG',
      'nothing to serve: give a log tree (folder, file:// or S3), a store file or a lake folder',
    );
  }
  const root =
    o.data === undefined
      ? { store: new EmptyLogStore(), dbcs: [], passwords: undefined, close() {} }
      : await openRoot(dataRoot(o.data, o.s3), o.dbc ?? [], o.passwords);
  let pool: DecodePool | undefined;
  try {
    const dbcs = loadDbcs([...root.dbcs, ...(o.data === undefined ? extraDbcs(o.dbc ?? []) : [])]);
    const tls = o.tls
      ? { cert: readPem(o.tls.cert, 'TLS certificate'), key: readPem(o.tls.key, 'TLS key') }
      : undefined;
    const log = o.logger;
    const catalog = await LogCatalog.open({
      store: root.store,
      passwords: root.passwords,
      indexPath: o.indexPath,
      onSaveError: (e) => log?.warn(`the index could not be saved (it is kept in memory): ${e.message}`),
    });
    if (catalog.loadWarning) log?.warn(catalog.loadWarning);
    // no log tree: nothing to decode, no threads
    const workers = DecodePool.available && o.data !== undefined ? (o.workers ?? defaultWorkers()) : 0;
    pool = workers > 0 ? new DecodePool(workers) : undefined;
    await pool?.warm();
    const engine = new QueryEngine({
      catalog,
      dbcs,
      pool,
      store,
      limitBytes: o.limitBytes,
      onLimit: o.onLimit,
      cacheBytes: o.cacheBytes,
    });
    const app = await buildServer(engine, {
      auth: o.auth,
      tls,
      corsOrigins: o.corsOrigins,
      logger: log,
      console: o.console,
      grafana: o.grafana,
      requestLog: o.requestLog,
      bodyTimeoutMs: o.bodyTimeoutMs,
      bindHost,
    });
    let timer: NodeJS.Timeout | null = null;
    const p = pool;
    return {
      engine,
      app,
      poll() {
        const pollMs = o.pollMs ?? 10_000;
        if (pollMs <= 0 || o.data === undefined) return;
        timer = setInterval(() => {
          catalog.refresh().then(
            (s) => {
              if (s.added + s.changed + s.removed > 0) {
                log?.info(`index: ${s.added} new, ${s.changed} changed, ${s.removed} removed file(s)`);
              }
            },
            (e: Error) => log?.error(`index refresh failed: ${e.message}`),
          );
        }, pollMs);
        timer.unref();
      },
      async close() {
        if (timer) clearInterval(timer);
        await app.close();
        await p?.close();
        root.close();
      },
    };
  } catch (e) {
    await pool?.close();
    root.close();
    throw e;
  }
}

/** The lake as the record source: a folder, or `s3://bucket/prefix` (with the root's S3 settings). */
async function openLake(where: string, s3: S3Options | undefined, cacheMaxBytes?: number): Promise<RecordSource> {
  const [{ LakeSource }, { openLakeStore }] = await Promise.all([
    import('../pipelines/lake/index.js'),
    import('../formats/lake/index.js'),
  ]);
  const store = openLakeStore(where, {
    endpoint: s3?.endpoint,
    region: s3?.region,
    accessKeyId: s3?.accessKeyId,
    secretAccessKey: s3?.secretAccessKey,
    caFile: s3?.caFile,
  });
  return LakeSource.open(store, { cacheMaxBytes }); // closes the store when it closes (or fails to open)
}

export async function startServe(o: ServeOptions): Promise<RunningServer> {
  if (o.store !== undefined && o.lake !== undefined)
    throw new SigflowError('SF_ERR_SERVE_CONFIG', 'serve a store or a lake, not both (one record source per server)');
  const store: RecordSource | undefined =
    o.store !== undefined
      ? StoreSource.open(o.store)
      : o.lake !== undefined
        ? await openLake(o.lake, o.s3, o.lakeCacheMaxBytes)
        : undefined;
  let s: Serving;
  try {
    s = await prepare(o, store, o.host ?? '127.0.0.1');
  } catch (e) {
    store?.close();
    throw e;
  }
  const close = async () => {
    await s.close();
    store?.close();
  };
  let url: string;
  try {
    url = await s.app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 8080 });
  } catch (e) {
    await close();
    throw new SigflowError(
      'SF_ERR_SERVE_LISTEN',
      `cannot listen on ${o.host ?? '127.0.0.1'}:${o.port ?? 8080}: ${(e as Error).message}`,
    );
  }
  s.poll();
  return { url, engine: s.engine, app: s.app, close };
}

/**
 * The Grafana routes as a request handler for another server (`sigflow run`'s HTTP endpoint, `server.dashboards`):
 * the store file is opened when it first exists (the store sink creates it).
 */
export async function startDashboards(
  o: Omit<ServeOptions, 'host' | 'port' | 'tls' | 'store'> & { storePath?: string },
): Promise<{
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  engine: QueryEngine;
  close(): Promise<void>;
}> {
  const store = o.storePath === undefined ? undefined : StoreSource.lazy(o.storePath);
  let s: Serving;
  try {
    s = await prepare(o, store);
    await s.app.ready();
  } catch (e) {
    store?.close();
    throw e;
  }
  s.poll();
  const app = s.app;
  return {
    handler: (req, res) => app.routing(req, res),
    engine: s.engine,
    async close() {
      await s.close();
      store?.close();
    },
  };
}
