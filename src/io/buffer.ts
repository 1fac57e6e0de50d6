/** A ByteSource over bytes in memory (a decoded container, a test fixture). Reads are views, never copies. */
import { IoError } from './errors.js';
import { type ByteSource, isValidRange, rangeError } from './source.js';

export class BufferSource implements ByteSource {
  readonly size: number;
  private buf: Uint8Array | null;

  constructor(
    bytes: Uint8Array,
    readonly name = '<buffer>',
  ) {
    this.buf = bytes;
    this.size = bytes.length;
  }

  /** The bytes (until `close`). */
  get bytes(): Uint8Array {
    return this.open();
  }

  read(offset: number, length: number): Uint8Array {
    const buf = this.open();
    if (!isValidRange(offset, length)) throw rangeError(this.name, offset, length);
    const start = Math.min(offset, this.size);
    return buf.subarray(start, Math.min(this.size, start + length));
  }

  readInto(offset: number, target: Uint8Array, at: number, length: number): number {
    const buf = this.open();
    if (!isValidRange(offset, length) || !Number.isSafeInteger(at) || at < 0)
      throw rangeError(this.name, offset, length);
    const start = Math.min(offset, this.size);
    const end = Math.min(this.size, start + length, start + Math.max(0, target.length - at));
    target.set(buf.subarray(start, end), at);
    return end - start;
  }

  /** Drops the reference to the bytes (a decoded container can be large); reads afterwards throw. */
  close(): void {
    this.buf = null;
  }

  private open(): Uint8Array {
    if (this.buf === null) throw new IoError('SF_ERR_IO_CLOSED', this.name, 'read after close');
    return this.buf;
  }
}
