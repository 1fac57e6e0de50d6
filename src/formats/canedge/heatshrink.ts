/**
 * Heatshrink (LZSS) decoder and encoder, written from the format description:
 *
 * - The compressed data is a bit stream, read most-significant bit first within each byte.
 * - Each item starts with a tag bit. `1` = literal: the next 8 bits are one output byte.
 *   `0` = back-reference: the next `windowBits` bits are the distance minus 1, then `lookaheadBits` bits are the
 *   count minus 1; copy `count` bytes starting `distance` bytes back in the output (overlapping copies repeat).
 * - The history before the first output byte is `2^windowBits` zero bytes (the reference implementation
 *   zero-fills its window), so a back-reference reaching before the start yields zeros.
 * - The encoder pads the final byte with zero bits; padding is always shorter than one item (< 8 bits).
 *
 * Valid parameters (as in the reference implementation): windowBits 4…15, lookaheadBits 3…windowBits-1.
 *
 * The decoder is incremental (push input in any chunking, output is delivered in bounded chunks, only the last
 * `2^windowBits` bytes of history are kept), fails on a stream that ends mid-item, and enforces an output limit so
 * garbage input cannot expand without bound (a back-reference can expand ~4000× at windowBits 15).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { SigflowError } from '../../errors/index.js';

export interface HeatshrinkParams {
  /** log2 of the back-reference window (4…15). */
  windowBits: number;
  /** log2 of the longest back-reference (3…windowBits-1). */
  lookaheadBits: number;
}

export interface HeatshrinkDecodeOptions {
  /** Refuse to produce more than this many bytes (default 1 GiB). */
  maxOutput?: number;
  /** Names the input in errors (a file path). */
  name?: string;
}

/** Default output limit: far above any CANedge log split, far below what garbage could make a decoder allocate. */
export const DEFAULT_MAX_OUTPUT = 1 << 30;

/**
 * A heatshrink stream that cannot be decoded: invalid parameters (SF_ERR_CANEDGE_CORRUPT), a stream that ends
 * inside an item (SF_ERR_CANEDGE_TRUNCATED) or output beyond the limit (SF_ERR_CANEDGE_TOO_LARGE).
 */
export class HeatshrinkError extends SigflowError {
  declare readonly code: 'SF_ERR_CANEDGE_CORRUPT' | 'SF_ERR_CANEDGE_TRUNCATED' | 'SF_ERR_CANEDGE_TOO_LARGE';

  constructor(message: string, code: HeatshrinkError['code']) {
    super(code, message);
  }
}

/** Throws a HeatshrinkError unless the parameters are within the reference implementation's bounds. */
export function checkHeatshrinkParams(p: HeatshrinkParams, name = 'heatshrink stream'): void {
  const { windowBits: w, lookaheadBits: l } = p;
  if (!Number.isInteger(w) || w < 4 || w > 15) {
    throw new HeatshrinkError(`${name}: window bits ${w} out of range 4…15`, 'SF_ERR_CANEDGE_CORRUPT');
  }
  if (!Number.isInteger(l) || l < 3 || l >= w) {
    throw new HeatshrinkError(
      `${name}: lookahead bits ${l} out of range 3…${w - 1} (window bits ${w})`,
      'SF_ERR_CANEDGE_CORRUPT',
    );
  }
}

/**
 * Incremental decoder. `push(chunk, emit)` decodes every complete item and calls `emit` with output chunks (each
 * a fresh Buffer the caller may keep); `finish(emit)` flushes and checks that the stream did not end mid-item.
 * Memory: the window plus one output chunk (`chunkSize`, default 64 KiB), whatever the input.
 */
export class HeatshrinkDecoder {
  private readonly w: number;
  private readonly l: number;
  private readonly window: number;
  private readonly maxOutput: number;
  private readonly name: string;
  private readonly growable: boolean;
  private buf: Buffer;
  private pos: number;
  private acc = 0;
  private nbits = 0;
  private inputBytes = 0;
  private produced = 0;
  private finished = false;

  constructor(
    params: HeatshrinkParams,
    opts: HeatshrinkDecodeOptions & { chunkSize?: number /** @internal */; growable?: boolean } = {},
  ) {
    this.name = opts.name ?? 'heatshrink stream';
    checkHeatshrinkParams(params, this.name);
    this.w = params.windowBits;
    this.l = params.lookaheadBits;
    this.window = 1 << this.w;
    this.maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
    this.growable = opts.growable ?? false;
    const chunk = Math.max(opts.chunkSize ?? 65536, 1 << this.l);
    // Layout: [window bytes of history | output not yet emitted]. Zero-filled: the initial history is zeros.
    this.buf = Buffer.alloc(this.window + chunk);
    this.pos = this.window;
  }

  /** Bytes of output produced so far. */
  get outputBytes(): number {
    return this.produced + (this.pos - this.window);
  }

  push(input: Uint8Array, emit: (chunk: Buffer) => void): void {
    // internal invariant: callers (the Transform below, heatshrinkDecode) never push after finish()
    if (this.finished) throw new Error(`${this.name}: push after finish`);
    const w = this.w;
    const l = this.l;
    const backrefBits = 1 + w + l;
    const wMask = (1 << w) - 1;
    const lMask = (1 << l) - 1;
    const maxCount = 1 << l;
    const n = input.length;
    let ip = 0;
    let acc = this.acc;
    let nbits = this.nbits;
    let buf = this.buf;
    let pos = this.pos;
    let cap = buf.length;
    for (;;) {
      // Refill: keep at least 25 valid bits when input remains (acc holds at most 32 bits).
      while (nbits <= 24 && ip < n) {
        acc = (acc << 8) | input[ip++];
        nbits += 8;
      }
      if (nbits === 0) break;
      if (pos + maxCount > cap) {
        this.pos = pos;
        this.makeRoom(emit);
        buf = this.buf;
        pos = this.pos;
        cap = buf.length;
      }
      if ((acc >>> (nbits - 1)) & 1) {
        if (nbits < 9) break; // incomplete literal: wait for more input
        buf[pos++] = (acc >>> (nbits - 9)) & 0xff;
        nbits -= 9;
      } else {
        if (nbits < backrefBits) {
          // acc holds at most 32 bits: a long back-reference may need bits still in the input.
          if (nbits + 8 * (n - ip) < backrefBits) break; // incomplete: wait for more input (or finish() fails)
          const index = (acc >>> (nbits - 1 - w)) & wMask;
          nbits -= 1 + w;
          while (nbits <= 24 && ip < n) {
            acc = (acc << 8) | input[ip++];
            nbits += 8;
          }
          const count = ((acc >>> (nbits - l)) & lMask) + 1;
          nbits -= l;
          pos = copyBack(buf, pos, index + 1, count);
          continue;
        }
        const shift = nbits - backrefBits;
        const index = (acc >>> (shift + l)) & wMask;
        const count = ((acc >>> shift) & lMask) + 1;
        nbits = shift;
        pos = copyBack(buf, pos, index + 1, count);
      }
    }
    // Keep only the unconsumed bits.
    this.acc = nbits === 0 ? 0 : acc & (nbits >= 32 ? -1 : (1 << nbits) - 1);
    this.nbits = nbits;
    this.pos = pos;
    this.inputBytes += n;
    if (this.outputBytes > this.maxOutput) {
      throw new HeatshrinkError(
        `${this.name}: output exceeds the limit of ${this.maxOutput} bytes (at input byte ~${this.inputBytes})`,
        'SF_ERR_CANEDGE_TOO_LARGE',
      );
    }
    if (!this.growable) this.flush(emit);
  }

  /** Flushes output and checks the end of the stream: leftover bits must be padding (< 8 bits). */
  finish(emit: (chunk: Buffer) => void): void {
    if (this.finished) return;
    this.finished = true;
    this.flush(emit);
    this.checkEnd();
  }

  /** Throws if the input so far ends inside an item (more than 7 bits left over). */
  checkEnd(): void {
    if (this.nbits >= 8) {
      const kind = (this.acc >>> (this.nbits - 1)) & 1 ? 'literal' : 'back-reference';
      throw new HeatshrinkError(
        `${this.name}: truncated: the stream ends inside a ${kind} (${this.nbits} bits left over after ` +
          `${this.inputBytes} input bytes, ${this.outputBytes} bytes decoded)`,
        'SF_ERR_CANEDGE_TRUNCATED',
      );
    }
  }

  /** Emits everything decoded so far (keeping the window as history). */
  private flush(emit: (chunk: Buffer) => void): void {
    const n = this.pos - this.window;
    if (n <= 0) return;
    emit(Buffer.from(this.buf.subarray(this.window, this.pos)));
    this.buf.copyWithin(0, this.pos - this.window, this.pos);
    this.pos = this.window;
    this.produced += n;
  }

  /** Called when the buffer may not hold one more item: grow (whole-buffer mode) or flush. */
  private makeRoom(emit: (chunk: Buffer) => void): void {
    if (this.outputBytes > this.maxOutput) {
      throw new HeatshrinkError(
        `${this.name}: output exceeds the limit of ${this.maxOutput} bytes (at input byte ~${this.inputBytes})`,
        'SF_ERR_CANEDGE_TOO_LARGE',
      );
    }
    if (this.growable) {
      const next = Buffer.allocUnsafe(Math.min(this.buf.length * 2, this.window + this.maxOutput + (1 << this.l)));
      if (next.length <= this.buf.length) {
        throw new HeatshrinkError(
          `${this.name}: output exceeds the limit of ${this.maxOutput} bytes`,
          'SF_ERR_CANEDGE_TOO_LARGE',
        );
      }
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    } else {
      this.flush(emit);
    }
  }

  /** @internal whole-buffer mode: the decoded bytes, without copying. */
  takeAll(): Buffer {
    return this.buf.subarray(this.window, this.pos);
  }
}

function copyBack(buf: Buffer, pos: number, dist: number, count: number): number {
  let src = pos - dist;
  if (count >= 64 && dist >= count) {
    buf.copyWithin(pos, src, src + count);
    return pos + count;
  }
  const end = pos + count;
  while (pos < end) buf[pos++] = buf[src++];
  return pos;
}

/**
 * Decodes a whole heatshrink stream held in memory. Fast path for containers (a few MB): one growing buffer.
 */
export function heatshrinkDecode(
  input: Uint8Array,
  params: HeatshrinkParams,
  opts: HeatshrinkDecodeOptions = {},
): Buffer {
  const maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  // Typical CANedge ratio is ~4×; start there and grow by doubling.
  const guess = Math.min(Math.max(input.length * 4 + 1024, 65536), maxOutput + 1);
  const dec = new HeatshrinkDecoder(params, { ...opts, chunkSize: guess, growable: true });
  const noEmit = () => {
    // internal invariant: a growable decoder grows its buffer instead of emitting
    throw new Error('unreachable: whole-buffer decoder emitted a chunk');
  };
  dec.push(input, noEmit);
  dec.checkEnd();
  const out = dec.takeAll();
  // A view is cheapest; copy only when the view would pin much more memory than it shows (growth slack).
  return out.buffer.byteLength > out.length + Math.max(1 << 16, out.length >> 2) ? Buffer.from(out) : out;
}

/** A Transform stream that decodes heatshrink; memory stays bounded by the window plus one output chunk. */
export function createHeatshrinkDecodeStream(
  params: HeatshrinkParams,
  opts: HeatshrinkDecodeOptions & { chunkSize?: number } = {},
): Transform {
  const dec = new HeatshrinkDecoder(params, opts);
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        dec.push(chunk, (b) => this.push(b));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        dec.finish((b) => this.push(b));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/**
 * Greedy LZSS encoder producing a stream the decoder above (and the reference heatshrink decoder) reads.
 * Hash chains over 3-byte prefixes, bounded search depth; uses a back-reference only when it is shorter than the
 * literals it replaces. Does not reference the implicit zero history.
 */
export function heatshrinkEncode(
  input: Uint8Array,
  params: HeatshrinkParams,
  opts: { maxChain?: number } = {},
): Buffer {
  checkHeatshrinkParams(params);
  const w = params.windowBits;
  const l = params.lookaheadBits;
  const window = 1 << w;
  const maxLen = 1 << l;
  const backrefBits = 1 + w + l;
  // A back-reference must beat `len` literals (9 bits each).
  const minLen = Math.floor(backrefBits / 9) + 1;
  const maxChain = opts.maxChain ?? 32;
  const n = input.length;
  const HASH_BITS = 15;
  const head = new Int32Array(1 << HASH_BITS).fill(-1);
  const prev = new Int32Array(window).fill(-1);
  const hash = (i: number) =>
    (((input[i] << 16) | (input[i + 1] << 8) | input[i + 2]) * 2654435761) >>> (32 - HASH_BITS);
  const insert = (i: number) => {
    if (i + 2 < n) {
      const h = hash(i);
      prev[i & (window - 1)] = head[h];
      head[h] = i;
    }
  };

  const out = Buffer.alloc(Math.ceil((n * 9) / 8) + 8);
  let op = 0;
  let acc = 0; // bits not yet written, right-aligned
  let nbits = 0;
  const put = (value: number, bits: number) => {
    // bits <= 16 per call keeps acc within 32 bits (nbits < 8 before the call).
    acc = (acc << bits) | (value & ((1 << bits) - 1));
    nbits += bits;
    while (nbits >= 8) {
      out[op++] = (acc >>> (nbits - 8)) & 0xff;
      nbits -= 8;
    }
    acc &= (1 << nbits) - 1;
  };

  let i = 0;
  while (i < n) {
    let bestLen = 0;
    let bestDist = 0;
    if (i + 2 < n && minLen <= maxLen) {
      const limit = Math.min(maxLen, n - i);
      let cand = head[hash(i)];
      let chain = maxChain;
      while (cand >= 0 && i - cand <= window && chain-- > 0) {
        if (input[cand + bestLen] === input[i + bestLen]) {
          let len = 0;
          while (len < limit && input[cand + len] === input[i + len]) len++;
          if (len > bestLen) {
            bestLen = len;
            bestDist = i - cand;
            if (len === limit) break;
          }
        }
        const nxt = prev[cand & (window - 1)];
        if (nxt >= cand) break; // the ring slot was overwritten by a newer position
        cand = nxt;
      }
    }
    if (bestLen >= minLen) {
      put(0, 1);
      put(bestDist - 1, w);
      put(bestLen - 1, l);
      for (let k = 0; k < bestLen; k++) insert(i + k);
      i += bestLen;
    } else {
      put(1, 1);
      put(input[i], 8);
      insert(i);
      i++;
    }
  }
  if (nbits > 0) out[op++] = (acc << (8 - nbits)) & 0xff;
  return out.subarray(0, op);
}
