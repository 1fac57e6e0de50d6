/**
 * A local copy of the parts of an S3 lake a query reads. DuckDB reads Parquet from local files here: its S3
 * extension (httpfs) is not part of @duckdb/node-api and would be downloaded from the internet on first use,
 * which sigflow never does. So queries over `s3://…` bring the objects they need into a cache folder first:
 *
 * - `sync(prefix, keep)`: the objects under `prefix` (that `keep` accepts) made present locally — a new or changed
 *   object (size or modification time differ) is downloaded to a temporary name and renamed into place, so a
 *   reader never sees half a file; a local file whose object is gone (compacted, removed) is deleted, and folders
 *   left empty with it. Listings are cached for `ttlMs`, so a dashboard's repeated questions list S3 once per
 *   interval and download only what is new.
 * - `folders(prefix)`: the folder names under a prefix (devices, message folders, years …), cached the same way.
 *
 * The copy is a cache: deleting it loses nothing. Two processes may share one (each file is renamed into place
 * whole); what one removes the other downloads again if it still needs it.
 */

import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  renameSync,
  rmdirSync,
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

/** Downloads at once. */
const PARALLEL = 8;

export class LakeMirror {
  readonly stats: MirrorStats = { fetched: 0, fetchedBytes: 0, removed: 0 };
  private readonly listings = new Map<string, { at: number; objects: Promise<LakeObject[]> }>();
  private readonly folderLists = new Map<string, { at: number; names: Promise<string[]> }>();

  constructor(
    readonly store: S3LakeStore,
    /** The local folder: the lake's keys are paths under it. */
    readonly folder: string,
    readonly ttlMs = 30_000,
  ) {}

  /** The folder names directly under `prefix` (`''` or ending in `/`), sorted. */
  folders(prefix: string): Promise<string[]> {
    const hit = this.folderLists.get(prefix);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.names;
    // S3 names may be anything: `.`, `..` or an empty name are no lake folders (and no local path)
    const names = this.store.folders(prefix).then((n) => n.filter((x) => x !== '' && x !== '.' && x !== '..').sort());
    this.folderLists.set(prefix, { at: Date.now(), names });
    names.catch(() => this.folderLists.delete(prefix));
    return names;
  }

  private listing(prefix: string): Promise<LakeObject[]> {
    const hit = this.listings.get(prefix);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.objects;
    const objects = (async () => {
      const out: LakeObject[] = [];
      for await (const o of this.store.list(prefix)) out.push(o);
      return out;
    })();
    this.listings.set(prefix, { at: Date.now(), objects });
    objects.catch(() => this.listings.delete(prefix));
    return objects;
  }

  /**
   * Makes the objects under `prefix` that `keep` accepts present locally and removes local files under it that
   * `keep` accepts but S3 no longer has; returns the local paths of the kept objects, sorted by key.
   */
  async sync(prefix: string, keep: (key: string) => boolean = () => true): Promise<string[]> {
    const objects = (await this.listing(prefix)).filter(
      (o) => localKey(o.key) && keep(o.key) && !o.key.endsWith('.tmp'),
    );
    const want = new Set(objects.map((o) => o.key));
    const stale = objects.filter((o) => !this.current(o));
    for (let i = 0; i < stale.length; i += PARALLEL)
      await Promise.all(stale.slice(i, i + PARALLEL).map((o) => this.fetch(o)));
    this.prune(prefix, (key) => keep(key) && !want.has(key));
    return objects
      .map((o) => o.key)
      .sort()
      .map((k) => this.pathOf(k));
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
      return st.size === o.size && Math.round(st.mtimeMs) === o.mtimeMs;
    } catch {
      return false;
    }
  }

  private async fetch(o: LakeObject): Promise<void> {
    const path = this.pathOf(o.key);
    const bytes = await this.store.getBytes(o.key);
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(tmp, bytes);
      // the object's own time: the next sync sees the copy is current
      utimesSync(tmp, o.mtimeMs / 1000, o.mtimeMs / 1000);
      renameSync(tmp, path);
    } catch (e) {
      throw new IoError('SF_ERR_IO_WRITE', path, `cannot write the local copy: ${systemReason(e)}`, { cause: e });
    }
    this.stats.fetched++;
    this.stats.fetchedBytes += bytes.length;
  }

  /** Deletes the local files under `prefix` that `drop` names, then the folders left empty. */
  private prune(prefix: string, drop: (key: string) => boolean): void {
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
        } else if (!e.name.endsWith('.tmp') && drop(key)) {
          try {
            unlinkSync(path);
            this.stats.removed++;
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
