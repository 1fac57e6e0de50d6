/**
 * The ByteSource contract: random-access, read-only bytes (a local file, an object in S3, a decoded container in
 * memory). Readers (MDF4 blocks and data, CANedge containers and headers) ask for small reads (block headers,
 * metadata) and large sequential ones (data blocks, 1–8 MB), never for the whole source unless they must.
 * See README.md in this folder.
 */
import { IoError } from './errors.js';

export interface ByteSource {
  /** Names the bytes in errors and messages (a file path, a store key, `<buffer>`). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * `length` bytes at `offset`; fewer only where the source ends (none at or past the end). The result may be a
   * view into a buffer the source reuses or owns: do not keep it past the next read or the close (copy what you
   * keep). A negative, fractional or unsafe offset or length throws SF_ERR_IO_RANGE; a read after `close`
   * SF_ERR_IO_CLOSED.
   */
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
  /**
   * Optional: copies up to `length` bytes at `offset` into `target` at `at` and returns how many were copied
   * (fewer only where the source or `target` ends). Lets a hot loop reuse one buffer instead of a chunk per read.
   */
  readInto?(offset: number, target: Uint8Array, at: number, length: number): number | Promise<number>;
  /** Releases the file handle / buffer; reads afterwards throw SF_ERR_IO_CLOSED. Idempotent. */
  close?(): void | Promise<void>;
}

/** True when `offset` and `length` are safe non-negative integers (what every read must be given). */
export function isValidRange(offset: number, length: number): boolean {
  return Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0;
}

/** The SF_ERR_IO_RANGE error for a read of `length` at `offset` of `name` (for ByteSource implementations). */
export function rangeError(name: string, offset: number, length: number): IoError {
  return new IoError('SF_ERR_IO_RANGE', name, `invalid read range offset=${offset} length=${length}`);
}

/** Exactly `length` bytes at `offset`, or SF_ERR_IO_TRUNCATED naming the source, the range and the size. */
export async function readExact(src: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const b = await src.read(offset, length);
  if (b.length !== length) {
    throw new IoError(
      'SF_ERR_IO_TRUNCATED',
      src.name,
      `read of ${length} bytes at offset ${offset} passes the end (size ${src.size})`,
      { offset },
    );
  }
  return b;
}

/** The whole source in memory (callers bound `size` first). */
export async function readAll(src: ByteSource): Promise<Uint8Array> {
  return src.size === 0 ? new Uint8Array(0) : readExact(src, 0, src.size);
}
