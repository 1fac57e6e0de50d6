/**
 * `sigflow serve` as a library call: a log tree (a folder, or a `file://` URL as the old backend took it) with
 * its DBC files (`*.dbc` in the root, keyed by lower-case stem, plus `--dbc`) and `passwords.json`, indexed and
 * kept up to date on a poll interval, behind the HTTP server. Returns the listening address and a close().
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { SigflowError } from '../errors/index.js';
import { LocalLogStore, loadPasswords, type PasswordBook, passwordsFileOf } from '../formats/canedge/index.js';
import { LogCatalog, loadDbcs, QueryEngine } from '../query/index.js';
import { type AuthOptions, buildServer } from './server.js';

export interface ServeOptions {
  /** The data root: a folder or a file:// URL. */
  data: string;
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
  /** How often the tree is listed for new files (default 10 s; 0: never after the start). */
  pollMs?: number;
  indexPath?: string;
  auth?: AuthOptions;
  /** PEM files. */
  tls?: { cert: string; key: string };
  corsOrigins?: string[];
  logger?: FastifyBaseLogger;
}

export interface RunningServer {
  url: string;
  engine: QueryEngine;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** The folder a data argument names: a path, or a file:// URL (`file:///home/me/LOG`). */
export function dataRoot(data: string): string {
  let root = data;
  if (/^file:/i.test(data)) {
    try {
      root = fileURLToPath(data);
    } catch (e) {
      throw new SigflowError('SF_ERR_SERVE_CONFIG', `${data}: not a file URL: ${(e as Error).message}`);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(data)) {
    throw new SigflowError(
      'SF_ERR_SERVE_CONFIG',
      `${data}: only folders and file:// URLs are served so far (S3 is not built yet)`,
    );
  }
  root = resolve(root);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SigflowError(
      'SF_ERR_SERVE_CONFIG',
      `${root}: not a folder (the data root holds <device>/<session>/<split>.MF4 and the .dbc files)`,
    );
  }
  return root;
}

/** The root's DBC files (top level, any case of .dbc) and the ones given, with their mtimes. */
function dbcFiles(root: string, extra: string[]): { path: string; mtimeMs: number }[] {
  const inRoot = readdirSync(root)
    .filter((n) => extname(n).toLowerCase() === '.dbc')
    .sort()
    .map((n) => join(root, n));
  return [...inRoot, ...extra.map((p) => resolve(p))].map((path) => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isFile()) throw new SigflowError('SF_ERR_SERVE_CONFIG', `${path}: no such DBC file`);
    return { path, mtimeMs: st.mtimeMs };
  });
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SigflowError('SF_ERR_SERVE_CONFIG', `${what} ${path}: ${(e as Error).message}`);
  }
}

export async function startServe(o: ServeOptions): Promise<RunningServer> {
  const root = dataRoot(o.data);
  const dbcs = loadDbcs(dbcFiles(root, o.dbc ?? []));
  const pwFile = o.passwords ?? passwordsFileOf(root);
  const passwords: PasswordBook | undefined = pwFile ? await loadPasswords(pwFile) : undefined;
  const tls = o.tls ? { cert: readPem(o.tls.cert, 'TLS certificate'), key: readPem(o.tls.key, 'TLS key') } : undefined;
  const log = o.logger;
  const catalog = await LogCatalog.open({
    store: new LocalLogStore(root),
    passwords,
    indexPath: o.indexPath,
    onSaveError: (e) => log?.warn(`the index could not be saved (it is kept in memory): ${e.message}`),
  });
  if (catalog.loadWarning) log?.warn(catalog.loadWarning);
  const engine = new QueryEngine({
    catalog,
    dbcs,
    limitBytes: o.limitBytes,
    onLimit: o.onLimit,
    cacheBytes: o.cacheBytes,
  });
  const app = await buildServer(engine, { auth: o.auth, tls, corsOrigins: o.corsOrigins, logger: log });
  let url: string;
  try {
    url = await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 8080 });
  } catch (e) {
    await app.close();
    throw new SigflowError(
      'SF_ERR_SERVE_LISTEN',
      `cannot listen on ${o.host ?? '127.0.0.1'}:${o.port ?? 8080}: ${(e as Error).message}`,
    );
  }
  const pollMs = o.pollMs ?? 10_000;
  const timer =
    pollMs > 0
      ? setInterval(() => {
          catalog.refresh().then(
            (s) => {
              if (s.added + s.changed + s.removed > 0) {
                log?.info(`index: ${s.added} new, ${s.changed} changed, ${s.removed} removed file(s)`);
              }
            },
            (e: Error) => log?.error(`index refresh failed: ${e.message}`),
          );
        }, pollMs)
      : null;
  timer?.unref();
  return {
    url,
    engine,
    app,
    async close() {
      if (timer) clearInterval(timer);
      await app.close();
    },
  };
}
