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
 * made (one another process downloaded since then is never taken away from it).
 *
 * The copy's size is bounded (`maxBytes`, default 10 GiB): a sync marks the files it returns as used (their access
 * time: set when downloaded, refreshed at most once a minute, so every process sharing the copy sees it), and when
 * the copy grows beyond the bound the least recently used files are deleted until it is at 90 % of it — never a file
 * of the sync at hand, nor one used in the last 10 minutes (another request or process may be reading it). Files
 * that are all that recent can hold the copy above its bound for a while. The total is counted by a walk of the copy
 * at the first sync and whenever it may have passed the bound; downloads in between are added as they happen.
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
  /** Files deleted to keep the copy within its size bound, and their bytes. */
  evicted: number;
  evictedBytes: number;
}

export interface MirrorOptions {
  /** How long a listing is kept (default 30 s). */
  ttlMs?: number;
  /** After each download of a sync: how many of its `todo` are done (for a progress bar). */
  onFetched?: (done: number, todo: number) => void;
  /** The copy's size bound in bytes (default DEFAULT_MIRROR_MAX_BYTES; Infinity: none). */
  maxBytes?: number;
}

/** The default bound of a copy's size: 10 GiB. */
export const DEFAULT_MIRROR_MAX_BYTES = 10 * 1024 ** 3;

/** A file used this recently (its access time) is never evicted: a request or another process may be reading it. */
const IN_USE_MS = 10 * 60_000;

/** A used file's access time is refreshed when older than this (one utimes per file and minute at most). */
const TOUCH_MS = 60_000;

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
  readonly stats: MirrorStats = { fetched: 0, fetchedBytes: 0, removed: 0, evicted: 0, evictedBytes: 0 };
  private readonly listings = new Map<string, Cached<LakeObject[]>>();
  private readonly folderLists = new Map<string, Cached<string[]>>();
  readonly ttlMs: number;
  readonly maxBytes: number;
  private readonly onFetched?: (done: number, todo: number) => void;
  /** The copy's bytes as last counted plus this process's downloads since (null: not counted yet). */
  private bytes: number | null = null;
  private walkedAt = 0;

  constructor(
    readonly store: S3LakeStore,
    /** The local folder: the lake's keys are paths under it. */
    readonly folder: string,
    opts: MirrorOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MIRROR_MAX_BYTES;
    this.onFetched = opts.onFetched;
  }

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
    this.bound(want);
    return [...want].sort();
  }

  /** The local path of a key (one `localKey` accepts). */
  pathOf(key: string): string {
    // internal invariant: sync() copies only keys localKey accepts
    if (!localKey(key)) throw new Error(`bad lake key ${key}`);
    return join(this.folder, ...key.split('/'));
  }

  /** True when the copy of `o` is current; then it is also marked as used (see the module comment). */
  private current(o: LakeObject): boolean {
    const path = this.pathOf(o.key);
    try {
      const st = statSync(path);
      const mtime = copyTimeMs(o);
      if (st.size !== o.size || Math.round(st.mtimeMs) !== mtime) return false;
      const now = Date.now();
      if (now - st.atimeMs > TOUCH_MS) utimesSync(path, now / 1000, mtime / 1000);
      return true;
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
      utimesSync(tmp, Date.now() / 1000, copyTimeMs(o) / 1000); // used now; the object's time
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new IoError('SF_ERR_IO_WRITE', path, `cannot write the local copy: ${systemReason(e)}`, { cause: e });
    }
    this.stats.fetched++;
    this.stats.fetchedBytes += bytes.length;
    if (this.bytes !== null) this.bytes += bytes.length;
  }

  /**
   * Keeps the copy within `maxBytes`: when it may have grown beyond it, counts it (a walk) and deletes the least
   * recently used files — not those of `keep` (the sync at hand) nor any used in the last IN_USE_MS — down to 90 %.
   */
  private bound(keep: Set<string>): void {
    if (this.bytes !== null && this.bytes <= this.maxBytes) return;
    // still beyond the bound after the last walk (its files were all in use): not another walk per sync
    if (this.bytes !== null && Date.now() - this.walkedAt < TOUCH_MS) return;
    this.walkedAt = Date.now();
    const files: { key: string; path: string; size: number; used: number }[] = [];
    const walk = (dir: string, keyPrefix: string) => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // not there (yet), or gone meanwhile
      }
      for (const e of entries) {
        const path = join(dir, e.name);
        if (e.isDirectory()) walk(path, `${keyPrefix}${e.name}/`);
        else if (e.isFile() && !e.name.endsWith('.tmp')) {
          try {
            const st = statSync(path);
            files.push({ key: `${keyPrefix}${e.name}`, path, size: st.size, used: st.atimeMs });
          } catch {
            // removed meanwhile
          }
        }
      }
    };
    walk(this.folder, '');
    let total = files.reduce((a, f) => a + f.size, 0);
    if (total > this.maxBytes) {
      const target = this.maxBytes * 0.9;
      const recent = Date.now() - IN_USE_MS;
      files.sort((a, b) => a.used - b.used);
      for (const f of files) {
        if (total <= target || f.used >= recent) break;
        if (keep.has(f.key)) continue;
        try {
          unlinkSync(f.path);
        } catch {
          continue; // removed meanwhile (by another process)
        }
        total -= f.size;
        this.stats.evicted++;
        this.stats.evictedBytes += f.size;
        this.removeEmptyFolders(dirname(f.path));
      }
    }
    this.bytes = total;
  }

  /** Removes `dir` and its parents up to the copy's folder while they are empty. */
  private removeEmptyFolders(dir: string): void {
    for (let d = dir; d.length > this.folder.length && d.startsWith(this.folder); d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch {
        return; // not empty (or gone)
      }
    }
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
            const st = statSync(path);
            const changed = st.ctimeMs;
            if (tmp ? now - changed < STALE_TMP_MS : changed >= listedAt) continue;
            unlinkSync(path);
            if (this.bytes !== null) this.bytes -= st.size;
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
