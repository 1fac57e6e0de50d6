/**
 * ByteSources over a local file, with positional reads through one open descriptor; nothing is buffered and no
 * read asks for more than it was given (a short read happens only where the file ends, or where it shrank under
 * us).
 *
 * - `FileSource` reads synchronously (`readSync`): no promise and no thread-pool hop per read. The MDF4 data layer
 *   streams 1 MB chunks through `readInto` into one reused buffer; this is its hot path.
 * - `AsyncFileSource` reads through a `FileHandle`: the event loop keeps running while the disk (or a network
 *   share) answers — for servers and for probing many files at once (the log index).
 *
 * Both implement the same {@link ByteSource} contract, so every reader works over either (and over S3 later).
 */
import { closeSync, promises as fsp, fstatSync, openSync, readSync } from 'node:fs';
import { IoError } from './errors.js';
import { type ByteSource, isValidRange, rangeError } from './source.js';

function reason(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

function openError(name: string, err: unknown): IoError {
  return new IoError('SF_ERR_IO_OPEN', name, `cannot open: ${reason(err)}`, { cause: err });
}

function readError(name: string, offset: number, err: unknown): IoError {
  return new IoError('SF_ERR_IO_READ', name, `read at byte ${offset} failed: ${reason(err)}`, { offset, cause: err });
}

function closedError(name: string): IoError {
  return new IoError('SF_ERR_IO_CLOSED', name, 'read after close');
}

/** A local file read synchronously. `new FileSource(path)` opens it (SF_ERR_IO_OPEN when it cannot). */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | null;

  constructor(
    path: string,
    /** Names the file in errors (default: the path). */
    readonly name = path,
  ) {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw openError(name, err);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new IoError('SF_ERR_IO_OPEN', name, 'cannot open: not a regular file');
      this.size = st.size;
    } catch (err) {
      closeSync(fd);
      throw err instanceof IoError ? err : openError(name, err);
    }
    this.fd = fd;
  }

  read(offset: number, length: number): Uint8Array {
    const fd = this.fd;
    if (fd === null) throw closedError(this.name);
    if (!isValidRange(offset, length)) throw rangeError(this.name, offset, length);
    const len = Math.max(0, Math.min(length, this.size - offset));
    const out = Buffer.allocUnsafe(len);
    const got = this.fill(fd, out, 0, len, offset);
    return got === len ? out : out.subarray(0, got);
  }

  readInto(offset: number, target: Uint8Array, at: number, length: number): number {
    const fd = this.fd;
    if (fd === null) throw closedError(this.name);
    if (!isValidRange(offset, length) || !Number.isSafeInteger(at) || at < 0)
      throw rangeError(this.name, offset, length);
    const len = Math.max(0, Math.min(length, this.size - offset, target.length - at));
    return this.fill(fd, target, at, len, offset);
  }

  close(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeSync(fd);
  }

  /** Reads until `len` bytes are in or the file ends; returns how many. */
  private fill(fd: number, target: Uint8Array, at: number, len: number, offset: number): number {
    let got = 0;
    try {
      while (got < len) {
        const n = readSync(fd, target, at + got, len - got, offset + got);
        if (n === 0) break; // the file shrank under us: a short read, as at the end
        got += n;
      }
    } catch (err) {
      throw readError(this.name, offset + got, err);
    }
    return got;
  }
}

/** A local file read asynchronously through a FileHandle. Open it with `await AsyncFileSource.open(path)`. */
export class AsyncFileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private handle: fsp.FileHandle | null,
  ) {}

  /** Opens `path` (SF_ERR_IO_OPEN when missing, unreadable or not a regular file); `name` names it in errors. */
  static async open(path: string, name = path): Promise<AsyncFileSource> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, 'r');
    } catch (err) {
      throw openError(name, err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new IoError('SF_ERR_IO_OPEN', name, 'cannot open: not a regular file');
      return new AsyncFileSource(name, st.size, handle);
    } catch (err) {
      await handle.close();
      throw err instanceof IoError ? err : openError(name, err);
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const h = this.handle;
    if (!h) throw closedError(this.name);
    if (!isValidRange(offset, length)) throw rangeError(this.name, offset, length);
    const len = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.allocUnsafe(len);
    const got = await this.fill(h, buf, 0, len, offset);
    return got === len ? buf : buf.subarray(0, got);
  }

  async readInto(offset: number, target: Uint8Array, at: number, length: number): Promise<number> {
    const h = this.handle;
    if (!h) throw closedError(this.name);
    if (!isValidRange(offset, length) || !Number.isSafeInteger(at) || at < 0)
      throw rangeError(this.name, offset, length);
    const len = Math.max(0, Math.min(length, this.size - offset, target.length - at));
    return this.fill(h, target, at, len, offset);
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }

  private async fill(h: fsp.FileHandle, target: Uint8Array, at: number, len: number, offset: number): Promise<number> {
    let got = 0;
    try {
      while (got < len) {
        const { bytesRead } = await h.read(target, at + got, len - got, offset + got);
        if (bytesRead === 0) break; // the file shrank under us: a short read, as at the end
        got += bytesRead;
      }
    } catch (err) {
      throw readError(this.name, offset + got, err);
    }
    return got;
  }
}
