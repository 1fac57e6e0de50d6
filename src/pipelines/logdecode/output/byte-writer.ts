/**
 * Output buffer of the text writers: text is encoded into a 1 MB byte buffer as it is pushed (no long concatenated
 * strings to flatten, far less garbage than joining strings), handed to the stream when full, honouring
 * backpressure.
 */
import type { Writable } from 'node:stream';

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
    for (const p of parts) {
      if (!this.out.write(p)) await new Promise<void>((r) => this.out.once('drain', r));
    }
  }
}
