/**
 * Random-access byte sources for the MDF4 reader, and its typed error.
 *
 * The reader never needs the whole file: it asks for small reads (block headers, metadata) and large sequential
 * reads (data blocks, 1–8 MB). A file descriptor, an in-memory buffer (e.g. a decompressed .MFC) or a ranged-GET
 * S3 object can all implement {@link ByteSource}.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A name for error messages (file path, s3 key, …). */
  readonly name: string;
  /**
   * Reads `length` bytes at `offset`. May return fewer bytes only at end of source. The returned bytes may be a
   * view the caller must not keep past the next read (callers copy what they keep).
   */
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
  /**
   * Optional: reads up to `length` bytes at `offset` into `target` at `at` and returns how many were read (fewer
   * only at end of source). Lets the data layer reuse one buffer instead of allocating a chunk per read.
   */
  readInto?(offset: number, target: Uint8Array, at: number, length: number): number | Promise<number>;
  close?(): void | Promise<void>;
}

/** Error for malformed or unsupported MDF4 input: names the source and the byte offset. */
export class Mdf4Error extends Error {
  override readonly name = 'Mdf4Error';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${file}: at byte ${offset}: ${detail}`);
  }
}

/** A non-fatal problem: the reader recovered (e.g. stopped before damaged data). */
export interface Mdf4Warning {
  file: string;
  offset: number;
  message: string;
}

/** Reads from an in-memory buffer. */
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly buf: Uint8Array,
    readonly name = '<buffer>',
  ) {
    this.size = buf.length;
  }
  read(offset: number, length: number): Uint8Array {
    const start = Math.max(0, Math.min(offset, this.size));
    return this.buf.subarray(start, Math.min(this.size, start + Math.max(0, length)));
  }
  readInto(offset: number, target: Uint8Array, at: number, length: number): number {
    const src = this.read(offset, length);
    target.set(src, at);
    return src.length;
  }
}

/** Positional reads on a file descriptor; never reads more than asked for. */
export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | null;
  constructor(readonly name: string) {
    this.fd = openSync(name, 'r');
    try {
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }
  read(offset: number, length: number): Uint8Array {
    if (this.fd === null) throw new Error(`${this.name}: read after close`);
    const len = Math.max(0, Math.min(length, this.size - offset));
    const out = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, out, got, len - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got === len ? out : out.subarray(0, got);
  }
  readInto(offset: number, target: Uint8Array, at: number, length: number): number {
    if (this.fd === null) throw new Error(`${this.name}: read after close`);
    const len = Math.max(0, Math.min(length, this.size - offset, target.length - at));
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, target, at + got, len - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
