/**
 * A local copy of the parts of an S3 lake a query reads. DuckDB reads Parquet from local files here: its S3
 * extension (httpfs) is not part of @duckdb/node-api and would be downloaded from the internet on first use,
 * which sigflow never does. So queries over `s3://…` bring the objects they need into a cache folder first:
 *
 * - `sync(prefix, keep)`: the objects under `prefix` (that `keep` accepts) made present locally — a new or changed
 *   object is downloaded to a temporary name and renamed into place, so a reader never sees half a file; a local
 *   file whose object is gone (compacted, removed) is deleted, and folders left empty with it. It returns the keys
 *   of the objects: callers read exactly those files (other files in the folder may be days another process
 *   copied). Listings are cached for `ttlMs`, so a dashboard's repeated questions list S3 once per interval and
 *   download only what is new.
 * - `folders(prefix)`: the folder names under a prefix (devices, message folders, years …), cached the same way.
 *
 * A copy is current when its size and modification time match the listing's: the local file gets the object's
 * LastModified (whole seconds) plus a millisecond part taken from its ETag, so an object rewritten within the same
 * second with the same size is still seen as changed (unless the ETags' hashes collide: 1 in 1,000).
 *
 * The copy is a cache: deleting it loses nothing. Several processes may share one (`serve`, `lake query`, events):
 * each file is renamed into place whole, and a process deletes only files that were there before its listing was
 * made (one another process downloaded since then is never taken away from it). Not done: bounding the copy's
 * size — a long-running `serve` keeps every day it was asked for until the objects go from S3 (delete the folder
 * to reclaim the space).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCacheDir, IoError, systemReason } from '../../io/index.js';
import { safeSegment } from './layout.js';
import type { LakeObject, S3LakeStore } from './store.js';

/**
 * The default local copy of an S3 lake: `<cache>/lake/<bucket>-<hash>` (the hash of the endpoint, bucket and
 * prefix: two servers' buckets of one name do not share a copy).
 */
export function mirrorFolder(store: S3LakeStore, cacheDir = defaultCacheDir()): string {
  const { endpoint, bucket, prefix } = store.s3;
  const h = createHash('sha256')
    .update(`${endpoint ?? 'aws'}\n${bucket}\n${prefix ?? ''}`)
    .digest('hex')
    .slice(0, 12);
  return join(cacheDir, 'lake', `${safeSegment(bucket)}-${h}`);
}

export interface MirrorStats {
  /** Objects downloaded and bytes, local files removed (since the mirror was made). */
  fetched: number;
  fetchedBytes: number;
  removed: number;
}

/**
 * A key that is a path inside the copy: S3 keys may hold anything (`a//b`, `../x`, a trailing `/`); such objects
 * are no lake files (sigflow never writes them) and are not copied.
 */
function localKey(key: string): boolean {
  return key.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Listings kept at most (a long-running `serve` asks for ever new month folders). */
const MAX_CACHED = 1024;

/** A listing or folder list, with the time it was asked for. */
interface Cached<T> {
  at: number;
  value: Promise<T>;
}

/** Downloads at once. */
const PARALLEL = 8;

/** Temporary files older than this are left over from a crash: removed by prune. */
const STALE_TMP_MS = 3_600_000;

/** The local modification time of an object's copy: LastModified's second, a millisecond part from the ETag. */
export function copyTimeMs(o: Pick<LakeObject, 'mtimeMs' | 'etag'>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < o.etag.length; i++) h = Math.imul(h ^ o.etag.charCodeAt(i), 0x01000193);
  return Math.floor(o.mtimeMs / 1000) * 1000 + ((h >>> 0) % 1000);
}

export class LakeMirror {
  readonly stats: MirrorStats = { fetched: 0, fetchedBytes: 0, removed: 0 };
  private readonly listings = new Map<string, Cached<LakeObject[]>>();
  private readonly folderLists = new Map<string, Cached<string[]>>();

  constructor(
    readonly store: S3LakeStore,
    /** The local folder: the lake's keys are paths under it. */
    readonly folder: string,
    readonly ttlMs = 30_000,
    /** After each download of a sync: how many of its `todo` are done (for a progress bar). */
    private readonly onFetched?: (done: number, todo: number) => void,
  ) {}

  /** A cached value, or a fresh one (a failure is not kept; a full cache drops its expired entries first). */
  private cached<T>(map: Map<string, Cached<T>>, key: string, make: () => Promise<T>): Cached<T> {
    const hit = map.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit;
    if (map.size >= MAX_CACHED) {
      const now = Date.now();
      for (const [k, e] of map) if (now - e.at >= this.ttlMs) map.delete(k);
      if (map.size >= MAX_CACHED) map.clear();
    }
    const entry: Cached<T> = { at: Date.now(), value: make() };
    map.set(key, entry);
    entry.value.catch(() => {
      if (map.get(key) === entry) map.delete(key);
    });
    return entry;
  }

  /** The folder names directly under `prefix` (`''` or ending in `/`), sorted. */
  folders(prefix: string): Promise<string[]> {
    // S3 names may be anything: `.`, `..` or an empty name are no lake folders (and no local path)
    return this.cached(this.folderLists, prefix, async () =>
      (await this.store.folders(prefix)).filter((x) => x !== '' && x !== '.' && x !== '..').sort(),
    ).value;
  }

  /**
   * Makes the objects under `prefix` that `keep` accepts present locally, removes local files under it that `keep`
   * accepts but S3 no longer has, and returns the kept objects' keys, sorted (their paths: `pathOf`).
   */
  async sync(prefix: string, keep: (key: string) => boolean = () => true): Promise<string[]> {
    const listing = this.cached(this.listings, prefix, async () => {
      const out: LakeObject[] = [];
      for await (const o of this.store.list(prefix)) out.push(o);
      return out;
    });
    const objects = (await listing.value).filter((o) => localKey(o.key) && keep(o.key) && !o.key.endsWith('.tmp'));
    const want = new Set(objects.map((o) => o.key));
    const stale = objects.filter((o) => !this.current(o));
    let done = 0;
    for (let i = 0; i < stale.length; i += PARALLEL)
      await Promise.all(
        stale.slice(i, i + PARALLEL).map(async (o) => {
          await this.fetch(o);
          this.onFetched?.(++done, stale.length);
        }),
      );
    this.prune(prefix, (key) => keep(key) && !want.has(key), listing.at);
    return [...want].sort();
  }

  /** The local path of a key (one `localKey` accepts). */
  pathOf(key: string): string {
    // internal invariant: sync() copies only keys localKey accepts
    if (!localKey(key)) throw new Error(`bad lake key ${key}`);
    return join(this.folder, ...key.split('/'));
  }

  private current(o: LakeObject): boolean {
    try {
      const st = statSync(this.pathOf(o.key));
      return st.size === o.size && Math.round(st.mtimeMs) === copyTimeMs(o);
    } catch {
      return false;
    }
  }

  private async fetch(o: LakeObject): Promise<void> {
    const path = this.pathOf(o.key);
    const bytes = await this.store.getBytes(o.key);
    // unique across processes and hosts sharing the folder (containers often all run as pid 1)
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(tmp, bytes);
      const t = copyTimeMs(o) / 1000;
      utimesSync(tmp, t, t);
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new IoError('SF_ERR_IO_WRITE', path, `cannot write the local copy: ${systemReason(e)}`, { cause: e });
    }
    this.stats.fetched++;
    this.stats.fetchedBytes += bytes.length;
  }

  /**
   * Deletes the local files under `prefix` that `drop` names and that were there before `listedAt` (a file another
   * process downloaded since is kept), temporary files left by a crash, then the folders left empty.
   */
  private prune(prefix: string, drop: (key: string) => boolean, listedAt: number): void {
    const now = Date.now();
    const walk = (dir: string, keyPrefix: string): boolean => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return false;
      }
      let left = entries.length;
      for (const e of entries) {
        const key = `${keyPrefix}${e.name}`;
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          if (walk(path, `${key}/`)) {
            try {
              rmdirSync(path);
              left--;
            } catch {
              // another process put a file there meanwhile
            }
          }
        } else {
          const tmp = e.name.endsWith('.tmp');
          if (!tmp && !drop(key)) continue;
          try {
            // ctime: when the file was renamed into place (its mtime is the object's)
            const changed = statSync(path).ctimeMs;
            if (tmp ? now - changed < STALE_TMP_MS : changed >= listedAt) continue;
            unlinkSync(path);
            if (!tmp) this.stats.removed++;
            left--;
          } catch {
            // gone already
          }
        }
      }
      return left === 0;
    };
    const base = prefix.replace(/\/$/, '');
    walk(base === '' ? this.folder : this.pathOf(base), prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`);
  }
}
