/**
 * Random-access byte sources and log stores: the file-access seam between log trees and where the bytes live.
 * `LocalLogStore` reads a directory tree on disk; an S3 store implements the same `LogStore` interface later.
 */
import { type Dirent, promises as fsp } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { CanedgeError } from './errors.js';

/**
 * Random-access read-only bytes (a local file, an object in S3, a decoded container in memory). Structurally the
 * same contract as the MDF4 reader's ByteSource (src/formats/mdf4/source.ts), so either side's sources work with
 * the other: reads may return fewer bytes only at the end of the source; `close` is optional.
 */
export interface ByteSource {
  /** Names the bytes in errors (a path or store key). */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
  close?(): void | Promise<void>;
}

/** Exactly `length` bytes at `offset`, or a 'truncated' error naming the source and the range. */
export async function readExact(src: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const b = await src.read(offset, length);
  if (b.length !== length) throw rangeError(src.name, src.size, offset, length);
  return b;
}

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

function rangeError(name: string, size: number, offset: number, length: number): CanedgeError {
  return new CanedgeError(
    'truncated',
    name,
    `read of ${length} bytes at offset ${offset} passes the end (size ${size})`,
  );
}

/** Clamps a read range to the source; rejects negative or non-integer ranges. */
function clampRange(name: string, size: number, offset: number, length: number): [number, number] {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CanedgeError('io', name, `invalid read range offset=${offset} length=${length}`);
  }
  const start = Math.min(offset, size);
  return [start, Math.min(size, start + length)];
}

/** A ByteSource over bytes in memory (decoded containers). */
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly name: string,
    readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const [start, end] = clampRange(this.name, this.size, offset, length);
    return this.bytes.subarray(start, end);
  }
  async close(): Promise<void> {}
}

/** A ByteSource over a local file: positional reads through one open handle; nothing is buffered. */
export class FileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private handle: fsp.FileHandle | null,
  ) {}

  static async open(path: string, name = path): Promise<FileSource> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, 'r');
    } catch (err) {
      throw new CanedgeError('io', name, `cannot open: ${(err as Error).message}`, { cause: err });
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new CanedgeError('io', name, 'not a regular file');
      return new FileSource(name, st.size, handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const [start, end] = clampRange(this.name, this.size, offset, length);
    if (!this.handle) throw new CanedgeError('io', this.name, 'read after close');
    const len = end - start;
    const buf = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const { bytesRead } = await this.handle.read(buf, done, len - done, start + done);
      if (bytesRead === 0) break; // the file shrank under us: a short read, as at the end
      done += bytesRead;
    }
    return done === len ? buf : buf.subarray(0, done);
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}

/** Reads a whole source into memory (callers bound `size` first). */
export async function readAll(src: ByteSource): Promise<Uint8Array> {
  return src.size === 0 ? new Uint8Array(0) : readExact(src, 0, src.size);
}

/**
 * A log tree on local disk. Lists regular files recursively; does not follow symbolic links to directories (no
 * cycles) and skips dot-folders (caches, .git). Keys are '/'-separated paths relative to the root.
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
          throw new CanedgeError('io', dir, `cannot list: ${(err as Error).message}`, { cause: err });
        }
        continue; // a folder that vanished or is unreadable mid-walk: skip it
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) {
          if (!e.name.startsWith('.')) stack.push(full);
        } else if (e.isFile() || e.isSymbolicLink()) {
          let st: import('node:fs').Stats;
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
    return FileSource.open(full, full);
  }
}
