/**
 * Output buffer of the text writers: text is encoded into a 1 MB byte buffer as it is pushed (no long concatenated
 * strings to flatten, far less garbage than joining strings), handed to the stream when full, honouring
 * backpressure (and failing with SF_ERR_IO_WRITE when the stream fails).
 */
import type { Writable } from 'node:stream';
import { writeChunk } from '../../../io/index.js';

export class ByteWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  private pending: Buffer[] = [];

  constructor(private readonly out: Writable) {}

  push(text: string): void {
    if (this.pos + text.length * 3 > this.buf.length) this.rotate(text.length * 3);
    this.pos += this.buf.write(text, this.pos);
  }

  private rotate(need: number): void {
    if (this.pos > 0) this.pending.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(1 << 20, need));
    this.pos = 0;
  }

  /** True when a full buffer waits to be written: call flush(). */
  get full(): boolean {
    return this.pending.length > 0;
  }

  async flush(): Promise<void> {
    if (this.pos > 0) this.rotate(0);
    const parts = this.pending;
    this.pending = [];
    // a stream that fails (ENOSPC, a missing folder) rejects with SF_ERR_IO_WRITE naming it, instead of waiting
    // for a 'drain' that never comes
    for (const p of parts) await writeChunk(this.out, p);
  }
}
