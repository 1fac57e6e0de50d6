/**
 * Log stores: the seam between log trees and where their files live. `LocalLogStore` reads a directory tree on
 * disk; an S3 store implements the same `LogStore` interface later. Files are opened as ByteSources (src/io).
 */
import { type Dirent, promises as fsp, type Stats } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { AsyncFileSource, type ByteSource } from '../../io/index.js';
import { CanedgeError } from './errors.js';

export interface LogStoreEntry {
  /** Key relative to the store root, '/'-separated (the same on every platform and in S3). */
  path: string;
  size: number;
  /** Last modification, ms since the epoch (S3: LastModified). */
  mtimeMs: number;
}

export interface LogStore {
  /** Describes the store in messages and keys its cache (a resolved directory, or s3://bucket/prefix). */
  readonly id: string;
  /** Every file under `prefix` ('' = all), recursively, in no particular order. */
  list(prefix?: string): AsyncIterable<LogStoreEntry>;
  /** Opens one file for random access. */
  open(path: string): Promise<ByteSource>;
}

/**
 * A log tree on local disk. Lists regular files recursively; does not follow symbolic links to directories (no
 * cycles) and skips dot-folders (caches, .git). Keys are '/'-separated paths relative to the root. Files are
 * opened as AsyncFileSources: probing many files at once does not block the event loop.
 */
export class LocalLogStore implements LogStore {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  get id(): string {
    return this.root;
  }

  async *list(prefix = ''): AsyncIterable<LogStoreEntry> {
    const start = prefix ? join(this.root, ...prefix.split('/')) : this.root;
    const stack = [start];
    while (stack.length > 0) {
      const dir = stack.pop() as string;
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (dir === start) {
          throw new CanedgeError('SF_ERR_CANEDGE_TREE_UNREADABLE', dir, `cannot list: ${(err as Error).message}`, {
            cause: err,
          });
        }
        continue; // a folder that vanished or is unreadable mid-walk: skip it
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) {
          if (!e.name.startsWith('.')) stack.push(full);
        } else if (e.isFile() || e.isSymbolicLink()) {
          let st: Stats;
          try {
            st = await fsp.stat(full);
          } catch {
            continue; // dangling link or deleted meanwhile
          }
          if (!st.isFile()) continue;
          yield {
            path: relative(this.root, full).split(sep).join('/'),
            size: st.size,
            mtimeMs: Math.trunc(st.mtimeMs),
          };
        }
      }
    }
  }

  async open(path: string): Promise<ByteSource> {
    const full = join(this.root, ...path.split('/'));
    return AsyncFileSource.open(full, full);
  }
}
