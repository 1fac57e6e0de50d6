/**
 * Output buffer of the text writers: text and numbers are formatted straight into a 1 MB byte buffer (no string per
 * value on the hot paths: ASCII written byte by byte, integers as digits without toString, pre-encoded prefixes
 * copied), handed to the stream when full, honouring backpressure (and failing with SF_ERR_IO_WRITE when the stream
 * fails). A buffer handed to the stream is never written again (the stream — a PassThrough, a consumer — may
 * hold on to it); memory is bounded by the callers flushing when `full`.
 */
import type { Writable } from 'node:stream';
import { copiesOnWrite, writeChunk } from '../../../io/index.js';
import type { NsFormatter } from '../time.js';
import { csvNumber, jsonNumber } from './format.js';

const CHUNK = 1 << 20;

/** The three decimal digits of 0…999, zero-padded, 3 bytes each. */
const DIGITS3 = (() => {
  const t = new Uint8Array(3000);
  for (let i = 0; i < 1000; i++) {
    t[3 * i] = 48 + Math.floor(i / 100);
    t[3 * i + 1] = 48 + (Math.floor(i / 10) % 10);
    t[3 * i + 2] = 48 + (i % 10);
  }
  return t;
})();
const SAFE = 9_007_199_254_740_992; // 2^53

/** The bytes of an ASCII or UTF-8 string, to be copied with `bytes()` (prefixes built once). */
export function utf8(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

export class ByteWriter {
  /** The current buffer and write position: a hot loop may write `buf[pos++]` after `reserve(n)` of those bytes. */
  buf: Buffer = Buffer.allocUnsafe(CHUNK);
  pos = 0;
  private pending: Buffer[] = [];
  /** Chunk buffers the stream is done with (files and stdout only: copiesOnWrite), reused by rotate(). */
  private readonly free: Buffer[] = [];
  private readonly recycle: boolean;
  /** Buffers allocated so far (the rest were reused): a few, however much is written to a file or stdout. */
  allocated = 1;
  /** The write callback of a chunk cut from `whole`: `whole` goes back to the free list once written. */
  private written(whole: Buffer): (err?: Error | null) => void {
    return (err) => {
      if (!err && this.free.length < 4) this.free.push(whole);
    };
  }

  constructor(private readonly out: Writable) {
    this.recycle = copiesOnWrite(out);
  }

  /** Room for `n` more bytes in `buf` from `pos`. */
  reserve(n: number): void {
    if (this.pos + n > this.buf.length) this.rotate(n);
  }

  /** Any text, UTF-8. */
  push(text: string): void {
    if (this.pos + text.length * 3 > this.buf.length) this.rotate(text.length * 3);
    this.pos += this.buf.write(text, this.pos);
  }

  /** Text known to hold only ASCII characters (numbers, hex, fixed words). */
  ascii(text: string): void {
    const n = text.length;
    if (this.pos + n > this.buf.length) this.rotate(n);
    if (n > 64) {
      this.pos += this.buf.write(text, this.pos, 'latin1');
      return;
    }
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = text.charCodeAt(i);
    this.pos = p;
  }

  /** Pre-encoded bytes. */
  bytes(b: Uint8Array): void {
    const n = b.length;
    if (this.pos + n > this.buf.length) this.rotate(n);
    const buf = this.buf;
    let p = this.pos;
    if (n > 16) {
      buf.set(b, p);
      this.pos = p + n;
      return;
    }
    for (let i = 0; i < n; i++) buf[p++] = b[i];
    this.pos = p;
  }

  /** A non-negative integer below 2^53 as decimal digits. */
  uint(v: number): void {
    if (this.pos + 16 > this.buf.length) this.rotate(16);
    this.pos = writeUint(this.buf, this.pos, v);
  }

  /**
   * A double exactly as `String(v)` (shortest round-trip form), except -0 → `0` and NaN/±Infinity → `NaN`,
   * `Infinity`, `-Infinity`, quoted when `json` (format.ts: jsonNumber / csvNumber).
   */
  number(v: number, json: boolean): void {
    if (Number.isFinite(v)) {
      if (this.pos + 32 > this.buf.length) this.rotate(32);
      this.pos = writeFinite(this.buf, this.pos, v);
      return;
    }
    this.ascii(json ? jsonNumber(v) : csvNumber(v));
  }

  /** The whole seconds last written by time(), and their digits (consecutive events share them). */
  private lastSec = -1;
  private readonly secDigits = Buffer.alloc(16);
  private secLen = 0;

  /**
   * The instant `fmt.format(offset)` (time.ts), its digits written directly: the seconds' digits cached while
   * they stay the same, the nanoseconds as three groups of three digits from a table.
   */
  time(fmt: NsFormatter, offset: number): void {
    const s = fmt.seconds(offset);
    if (s < 0) {
      this.ascii(fmt.format(offset));
      return;
    }
    if (this.pos + 32 > this.buf.length) this.rotate(32);
    const buf = this.buf;
    const ns = fmt.lastNs;
    if (s === 0) {
      this.pos = writeUint(buf, this.pos, ns);
      return;
    }
    if (s !== this.lastSec) {
      this.lastSec = s;
      this.secLen = writeUint(this.secDigits, 0, s);
    }
    let p = this.pos;
    const sd = this.secDigits;
    for (let k = 0; k < this.secLen; k++) buf[p++] = sd[k];
    const a = (ns / 1e6) | 0;
    const r = ns - a * 1e6;
    const b = (r / 1000) | 0;
    const c = (r - b * 1000) * 3;
    buf[p] = DIGITS3[a * 3];
    buf[p + 1] = DIGITS3[a * 3 + 1];
    buf[p + 2] = DIGITS3[a * 3 + 2];
    buf[p + 3] = DIGITS3[b * 3];
    buf[p + 4] = DIGITS3[b * 3 + 1];
    buf[p + 5] = DIGITS3[b * 3 + 2];
    buf[p + 6] = DIGITS3[c];
    buf[p + 7] = DIGITS3[c + 1];
    buf[p + 8] = DIGITS3[c + 2];
    this.pos = p + 9;
  }

  private rotate(need: number): void {
    if (this.pos > 0) this.pending.push(this.buf.subarray(0, this.pos));
    else if (this.buf.length === CHUNK && this.free.length < 4) this.free.push(this.buf);
    // a reused buffer's pages are mapped already: writing 1 MB into fresh memory costs a page fault per 4 KB
    const reused = need <= CHUNK ? this.free.pop() : undefined;
    if (reused === undefined) this.allocated++;
    this.buf = reused ?? Buffer.allocUnsafe(Math.max(CHUNK, need));
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
    for (const p of parts) {
      // a chunk of a CHUNK-sized buffer of ours (allocUnsafe of 1 MB is never pooled: byteOffset 0, own store)
      const whole = this.recycle && p.byteOffset === 0 && p.buffer.byteLength === CHUNK;
      await writeChunk(this.out, p, undefined, whole ? this.written(Buffer.from(p.buffer, 0, CHUNK)) : undefined);
    }
    // a synchronous stream (stdout on a file or /dev/null, SyncWriteStream; `-o` files, FileOutput) is done with a
    // chunk when write() returns, but calls back on the next tick — which, while this job's awaits all resolve at
    // once, would only come after the whole file: every chunk a fresh 1 MB (page faults, 330 MB of RSS). One tick
    // lets them back.
    if (this.recycle && parts.length > 0 && this.free.length === 0) await new Promise<void>((r) => process.nextTick(r));
  }
}

/** Writes the digits of `v` (an integer, 0 ≤ v < 2^53) at `p` of `buf`; returns the position after them. */
export function writeUint(buf: Buffer, p: number, v: number): number {
  if (v < 10) {
    buf[p] = 48 + v;
    return p + 1;
  }
  let n = 2;
  for (let x = 100; x <= v && n < 16; x *= 10) n++;
  let q = p + n;
  const end = q;
  if (v < 2_147_483_648) {
    let x = v | 0;
    while (x >= 10) {
      const y = (x / 10) | 0;
      buf[--q] = 48 + (x - y * 10);
      x = y;
    }
    buf[--q] = 48 + x;
  } else {
    let x = v;
    while (x >= 10) {
      const y = Math.floor(x / 10);
      buf[--q] = 48 + (x - y * 10);
      x = y;
    }
    buf[--q] = 48 + x;
  }
  return end;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/**
 * Writes a finite double at `p` of `buf` exactly as `String(v)` writes it, -0 as `0` (≤ 25 bytes); returns the
 * position after it. Integers below 2^53 and numbers of at most 15 significant digits with at most 9 decimals
 * (most scaled signal values) are written without a string: the shortest decimal that reads back as `v` is the one
 * with the fewest decimals d such that round(v·10^d) / 10^d === v (exact: both operands are exact and the division
 * is correctly rounded, as parsing is); with ≤ 15 digits no other decimal of d places lies as close (a double's
 * spacing is below 10^-15 of it), so it is also the one String picks.
 */
export function writeFinite(buf: Buffer, p: number, v: number): number {
  let neg = false;
  let a = v;
  if (a < 0) {
    neg = true;
    a = -a;
  }
  if (Number.isInteger(a)) {
    if (a < SAFE) {
      if (neg) buf[p++] = 45;
      return writeUint(buf, p, a); // -0 too: 0
    }
  } else if (a >= 1e-3 && a < 1e6) {
    for (let d = 1; d <= 9; d++) {
      const m = POW10[d];
      const r = Math.round(a * m);
      if (r >= 1e15) break;
      if (r / m !== a) continue;
      if (neg) buf[p++] = 45;
      const ip = Math.floor(r / m);
      p = writeUint(buf, p, ip);
      buf[p++] = 46; // .
      let f = r - ip * m;
      for (let q = p + d - 1; q >= p; q--) {
        const y = Math.floor(f / 10);
        buf[q] = 48 + (f - y * 10);
        f = y;
      }
      return p + d;
    }
  }
  const t = String(v);
  for (let q = 0; q < t.length; q++) buf[p++] = t.charCodeAt(q);
  return p;
}
