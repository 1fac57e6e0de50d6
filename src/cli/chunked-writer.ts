/** Output in large chunks for CLI commands that print many lines, honouring backpressure and write errors. */
import type { Writable } from 'node:stream';
import { writeChunk } from '../io/index.js';

/** Buffers output text and writes it in chunks of ~256 KB, waiting for 'drain' when the stream is full. */
export class ChunkedWriter {
  private parts: string[] = [];
  private size = 0;

  constructor(
    private readonly out: Writable,
    private readonly limit = 256 * 1024,
  ) {}

  push(text: string): void {
    this.parts.push(text);
    this.size += text.length;
  }

  get full(): boolean {
    return this.size >= this.limit;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    await writeChunk(this.out, text); // SF_ERR_IO_WRITE when the stream fails, instead of waiting for 'drain'
  }
}
