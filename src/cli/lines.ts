/**
 * Line-oriented streaming for CLI filters: split a byte stream into lines without readline's per-line overhead,
 * and write output in large chunks while honouring backpressure.
 */
import type { Readable, Writable } from 'node:stream';
import { SigflowError } from '../errors/index.js';

/** Yields arrays of complete lines (without the newline; a trailing \r is removed). */
export async function* readLines(input: Readable, maxLineBytes = 16 * 1024 * 1024): AsyncGenerator<string[]> {
  let tail = '';
  for await (const chunk of input) {
    const text = tail + (typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8'));
    const lines = text.split('\n');
    tail = lines.pop() ?? '';
    if (tail.length > maxLineBytes) {
      throw new SigflowError('SF_ERR_CLI_LINE_TOO_LONG', `input line longer than ${maxLineBytes} bytes`);
    }
    for (let i = 0; i < lines.length; i++) if (lines[i].endsWith('\r')) lines[i] = lines[i].slice(0, -1);
    yield lines;
  }
  if (tail.length > 0) yield [tail.endsWith('\r') ? tail.slice(0, -1) : tail];
}

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
    if (!this.out.write(text)) await new Promise<void>((r) => this.out.once('drain', r));
  }
}
