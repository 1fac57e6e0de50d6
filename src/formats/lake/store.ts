/**
 * Where a lake lives: a local folder or an S3 prefix, behind one small interface. Every object appears complete
 * or not at all: a local file is written under a temporary name in its folder and renamed into place (the
 * Parquet writer does this itself), an S3 object is one PUT. Keys are `/`-separated, relative to the lake's root.
 */
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SigflowError } from '../../errors/index.js';
import { IoError, S3Bucket, type S3Location, s3Url, systemReason, tempPath, writeFileAtomic } from '../../io/index.js';

export interface LakeObject {
  key: string;
  /** Bytes (S3; a folder's listing says 0). */
  size: number;
  /** Last modified, ms since the epoch (S3; a folder's listing says 0). */
  mtimeMs: number;
  /** S3's ETag (a folder's listing says ''). */
  etag: string;
}

export interface LakeStore {
  /** Where it is, for messages: a folder path or `s3://bucket/prefix`. */
  readonly where: string;
  /** The local folder (DuckDB and the tests read it directly), or null for S3. */
  readonly folder: string | null;
  /** The S3 location, or null for a folder. */
  readonly s3: S3Location | null;
  /**
   * Writes an object through a local file: `fill(path)` must create `path` complete (the Parquet writer renames
   * its temporary file into place); the object appears under `key` only once it is complete.
   */
  writeFile(key: string, fill: (path: string) => Promise<void>): Promise<void>;
  /** Writes an object's bytes; it appears under `key` only once complete (a folder: synced, then renamed). */
  putBytes(key: string, bytes: Uint8Array): Promise<void>;
  /** Writes a small object atomically; `ifAbsent`: only if none has the key (false when one had it). */
  putText(key: string, text: string, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  /** A small object's text, or null when there is none. */
  getText(key: string): Promise<string | null>;
  /**
   * A local path holding the object's bytes while `use` runs: the file itself in a folder, a temporary copy of an
   * S3 object (removed after).
   */
  withLocalFile<T>(key: string, use: (path: string) => Promise<T>): Promise<T>;
  /** Every object under `prefix` (`''`: all), in no particular order. */
  list(prefix: string): AsyncIterable<LakeObject>;
  delete(key: string): Promise<void>;
  close(): void;
}

/** `s3://bucket/prefix` or a folder path → its store (S3 endpoint, region and CA as for the log inputs). */
export function openLakeStore(where: string, s3?: Omit<S3Location, 'bucket' | 'prefix'>): LakeStore {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(where);
  if (!m) return new FolderLakeStore(where);
  const prefix = m[2] === '' || m[2].endsWith('/') ? m[2] : `${m[2]}/`;
  return new S3LakeStore({ ...s3, bucket: m[1], prefix });
}

function writeError(path: string, e: unknown): IoError {
  return new IoError('SF_ERR_IO_WRITE', path, `cannot write: ${systemReason(e)}`, { cause: e });
}

export class FolderLakeStore implements LakeStore {
  readonly s3 = null;
  constructor(readonly folder: string) {}

  get where(): string {
    return this.folder;
  }

  private pathOf(key: string): string {
    // keys are made by sigflow (layout.ts); a `..` segment would be a bug, not input
    // internal invariant: lake keys never leave the lake
    if (key.split('/').some((s) => s === '..' || s === '')) throw new Error(`bad lake key ${key}`);
    return join(this.folder, ...key.split('/'));
  }

  async writeFile(key: string, fill: (path: string) => Promise<void>): Promise<void> {
    const path = this.pathOf(key);
    this.makeDir(dirname(path));
    await fill(path);
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.pathOf(key);
    this.makeDir(dirname(path));
    await writeFileAtomic(path, bytes);
  }

  /** Folders made by this store (each made once; a lake writes thousands of files into a few hundred). */
  private readonly made = new Set<string>();

  private makeDir(dir: string): void {
    if (this.made.has(dir)) return;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw writeError(dir, e);
    }
    this.made.add(dir);
  }

  async putText(key: string, text: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const path = this.pathOf(key);
    this.makeDir(dirname(path));
    if (opts.ifAbsent) {
      // whole or not at all, and only if absent: written and synced under a temporary name, then hard-linked to
      // the key (link fails with EEXIST when it exists) — an O_EXCL create showed other workers an empty file
      const tmp = tempPath(path);
      try {
        await writeFileAtomic(tmp, Buffer.from(text));
        try {
          linkSync(tmp, path);
        } catch (e) {
          // a file system without hard links (SMB, exFAT): an exclusive create, as best it can
          if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
          writeFileSync(path, text, { flag: 'wx' });
        }
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e instanceof SigflowError ? e : writeError(path, e);
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    // synced before the rename: a ledger entry never names work whose record a power loss emptied (its errors,
    // SF_ERR_IO_WRITE, name the path and the system's reason)
    await writeFileAtomic(path, Buffer.from(text));
    return true;
  }

  async getText(key: string): Promise<string | null> {
    try {
      return readFileSync(this.pathOf(key), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new IoError('SF_ERR_IO_READ', this.pathOf(key), `cannot read: ${systemReason(e)}`, { cause: e });
    }
  }

  withLocalFile<T>(key: string, use: (path: string) => Promise<T>): Promise<T> {
    return use(this.pathOf(key));
  }

  async *list(prefix: string): AsyncIterable<LakeObject> {
    const start = prefix === '' ? this.folder : this.pathOf(prefix.replace(/\/$/, ''));
    const stack: [string, string][] = [[start, prefix === '' ? '' : prefix.replace(/\/?$/, '/')]];
    while (stack.length) {
      const [dir, keyPrefix] = stack.pop() as [string, string];
      let d: Awaited<ReturnType<typeof opendir>>;
      try {
        d = await opendir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw new IoError('SF_ERR_IO_READ', dir, `cannot list: ${systemReason(e)}`, { cause: e });
      }
      for await (const ent of d) {
        if (ent.name.endsWith('.tmp')) continue; // a file being written
        if (ent.isDirectory()) stack.push([join(dir, ent.name), `${keyPrefix}${ent.name}/`]);
        else if (ent.isFile()) yield { key: `${keyPrefix}${ent.name}`, size: 0, mtimeMs: 0, etag: '' };
      }
    }
  }

  async delete(key: string): Promise<void> {
    try {
      unlinkSync(this.pathOf(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(this.pathOf(key), e);
    }
  }

  close(): void {}
}

export class S3LakeStore implements LakeStore {
  readonly folder = null;
  private readonly bucket: S3Bucket;
  constructor(readonly s3: S3Location) {
    this.bucket = new S3Bucket(s3);
  }

  get where(): string {
    return s3Url(this.s3);
  }

  async writeFile(key: string, fill: (path: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-lake-'));
    try {
      const path = join(dir, 'object');
      await fill(path);
      await this.bucket.put(key, readFileSync(path));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    await this.bucket.put(key, bytes);
  }

  async putText(key: string, text: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    return this.bucket.put(key, text, opts);
  }

  async getText(key: string): Promise<string | null> {
    try {
      return Buffer.from(await this.bucket.getAll(key)).toString('utf8');
    } catch (e) {
      const status = ((e as IoError).cause as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
        ?.httpStatusCode;
      if (status === 404) return null;
      throw e;
    }
  }

  async withLocalFile<T>(key: string, use: (path: string) => Promise<T>): Promise<T> {
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-lake-'));
    try {
      const path = join(dir, 'object.parquet');
      writeFileSync(path, await this.bucket.getAll(key));
      return await use(path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async *list(prefix: string): AsyncIterable<LakeObject> {
    for await (const o of this.bucket.list(prefix))
      yield { key: o.key, size: o.size, mtimeMs: o.mtimeMs, etag: o.etag };
  }

  /** The folder names directly under `prefix` (`''`: the lake's top level; else ending in `/`). */
  folders(prefix: string): Promise<string[]> {
    return this.bucket.folders(prefix);
  }

  /** An object's bytes. */
  getBytes(key: string): Promise<Uint8Array> {
    return this.bucket.getAll(key);
  }

  delete(key: string): Promise<void> {
    return this.bucket.delete(key);
  }

  close(): void {
    this.bucket.destroy();
  }
}

/** The S3 store of a lake that has no folder (a mirror reads it into a local copy). */
export function asS3Store(store: LakeStore): S3LakeStore {
  // internal invariant: openLakeStore makes a folder store or an S3 one
  if (!(store instanceof S3LakeStore)) throw new Error(`${store.where}: a lake without a folder that is not S3`);
  return store;
}
