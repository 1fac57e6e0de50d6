/**
 * Parquet value and level encodings, into a Bytes buffer: definition levels (RLE/bit-packed hybrid, bit width 1),
 * dictionary indices (the same hybrid at the dictionary's width), and DELTA_BINARY_PACKED of 64-bit integers held
 * in two 32-bit halves (times in ns or µs, any INT64).
 */
import type { Bytes } from './thrift.js';

/**
 * Definition levels of a nullable column (bit width 1) with their u32 length prefix (data page v1): level 1 where
 * `present[row]` is non-zero. Rows are `order[0..rows)` when `order` is given, else `0..rows`. Returns the nulls.
 */
export function definitionLevels(body: Bytes, present: Uint8Array, rows: number, order: Uint32Array | null): number {
  let nulls = 0;
  if (order) for (let i = 0; i < rows; i++) nulls += present[order[i]] === 0 ? 1 : 0;
  else for (let i = 0; i < rows; i++) nulls += present[i] === 0 ? 1 : 0;
  const lenAt = body.n;
  body.u32le(0);
  if (nulls === 0 || nulls === rows) {
    // one RLE run: the count, then the level in one byte
    if (rows > 0) {
      body.uvarint(rows * 2);
      body.byte(nulls === 0 ? 1 : 0);
    }
  } else {
    // one bit-packed run of ceil(rows / 8) groups of 8 levels, least significant bit first
    const groups = Math.ceil(rows / 8);
    body.uvarint(groups * 2 + 1);
    body.ensure(groups);
    const b = body.buf;
    const at = body.n;
    b.fill(0, at, at + groups);
    if (order) for (let i = 0; i < rows; i++) b[at + (i >> 3)] |= (present[order[i]] === 0 ? 0 : 1) << (i & 7);
    else for (let i = 0; i < rows; i++) b[at + (i >> 3)] |= (present[i] === 0 ? 0 : 1) << (i & 7);
    body.n = at + groups;
  }
  body.u32leAt(lenAt, body.n - lenAt - 4);
  return nulls;
}

/** Bits needed for the values 0 … `size - 1` (at least 1). */
export function bitWidth(size: number): number {
  let w = 1;
  while (w < 32 && 2 ** w < size) w++;
  return w;
}

/**
 * RLE_DICTIONARY data: one byte of bit width, then the `n` indices (each < 2^width, width ≤ 24) in the RLE /
 * bit-packed hybrid: runs of 8 or more equal indices as RLE runs, the rest bit-packed in groups of 8 (least
 * significant bit first; only the last group is padded).
 */
export function dictionaryIndices(body: Bytes, idx: Int32Array, n: number, width: number): void {
  body.byte(width);
  let lit = 0; // first index not yet written (a literal run pending from here)
  let i = 0;
  while (i < n) {
    const v = idx[i];
    let j = i + 1;
    while (j < n && idx[j] === v) j++;
    if (j - i >= 8) {
      // the pending literals must fill whole groups of 8: take the first few of the run into them
      const pad = (8 - ((i - lit) & 7)) & 7;
      if (j - i - pad >= 8) {
        if (i + pad > lit) bitPacked(body, idx, lit, i + pad, width);
        body.uvarint((j - i - pad) * 2);
        for (let k = 0; k < width; k += 8) body.byte((v >>> k) & 0xff);
        lit = j;
      }
    }
    i = j;
  }
  if (n > lit) bitPacked(body, idx, lit, n, width);
}

/** One bit-packed run of idx[from, to) (a multiple of 8 values, except at the end: zero-padded). */
function bitPacked(body: Bytes, idx: Int32Array, from: number, to: number, width: number): void {
  const groups = Math.ceil((to - from) / 8);
  body.uvarint(groups * 2 + 1);
  body.ensure(groups * width);
  body.n = packWhole(body.buf, body.n, idx, from, to, from + groups * 8, width);
}

/**
 * Packs src[from, to) — then zeros up to `end` — at `width` bits each (≤ 24, values below 2^width), least
 * significant bit first, into `b` at `p` through a 32-bit accumulator (pending bits stay below 8 + width); returns
 * the position after them. `end - from` values times `width` must be a multiple of 8 bits (groups of 8 values).
 */
function packWhole(
  b: Uint8Array,
  p: number,
  src: Int32Array | Float64Array,
  from: number,
  to: number,
  end: number,
  width: number,
): number {
  let acc = 0;
  let bits = 0;
  for (let i = from; i < end; i++) {
    const v = i < to ? src[i] : 0;
    acc = (acc | (v << bits)) >>> 0;
    bits += width;
    while (bits >= 8) {
      b[p++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  return p;
}

const BLOCK = 128;
const MINIBLOCKS = 4;
const PER_MINI = BLOCK / MINIBLOCKS;

const scratchDeltas = new Float64Array(BLOCK);

/** One block: the minimum delta, the four widths, the miniblocks (deltas − minimum, each < 2^53). */
function packBlock(out: Bytes, deltas: Float64Array, count: number, minDelta: number): void {
  out.zigzag(minDelta);
  const widthsAt = out.n;
  out.ensure(MINIBLOCKS);
  out.n += MINIBLOCKS;
  for (let m = 0; m < MINIBLOCKS; m++) {
    const from = m * PER_MINI;
    let width = 0;
    if (from < count) {
      let top = 0;
      for (let i = from; i < Math.min(count, from + PER_MINI); i++) {
        const x = deltas[i] - minDelta;
        deltas[i] = x;
        if (x > top) top = x;
      }
      width = top === 0 ? 0 : Math.floor(Math.log2(top)) + 1;
      while (width < 53 && 2 ** width <= top) width++; // log2 rounding near powers of two
      for (let i = count; i < from + PER_MINI; i++) deltas[i] = 0; // padding of the last miniblock
      packBits(out, deltas, from, width);
    }
    out.buf[widthsAt + m] = width;
  }
}

/** Packs 32 non-negative integral doubles from `at` at `width` bits each, least significant bit first. */
function packBits(out: Bytes, x: Float64Array, at: number, width: number): void {
  if (width === 0) return;
  out.ensure(4 * width);
  const b = out.buf;
  let n = out.n;
  if (width <= 24) {
    // the common case (deltas of times below 16 ms in ns): whole values into a 32-bit accumulator
    out.n = packWhole(b, n, x, at, at + PER_MINI, at + PER_MINI, width);
    return;
  }
  let acc = 0; // pending bits (< 2^32 as an unsigned int)
  let bits = 0;
  for (let i = at; i < at + PER_MINI; i++) {
    let v = x[i];
    let left = width;
    while (left > 0) {
      const k = Math.min(left, 16);
      const part = (v % 65536) & ((1 << k) - 1);
      v = Math.floor(v / (1 << k));
      left -= k;
      acc = (acc | (part << bits)) >>> 0;
      bits += k;
      while (bits >= 8) {
        b[n++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
  }
  if (bits > 0) b[n++] = acc & 0xff;
  out.n = n;
}

const TWO32 = 4294967296;
const scratchBig: bigint[] = new Array(BLOCK).fill(0n);

/**
 * DELTA_BINARY_PACKED of signed 64-bit integers held as `hi` (signed upper 32 bits) and `lo` (unsigned lower 32
 * bits). A block whose deltas differ by less than 2^20 in their upper halves — so |delta| ≤ 2^52 − 1: every block
 * of real timestamps — is computed in doubles (the minimum delta zigzags exactly, each delta minus it is below
 * 2^53); any other block in bigints, with the wrapping 64-bit arithmetic the encoding defines.
 */
export function deltaInt64(out: Bytes, hi: Int32Array, lo: Uint32Array, n: number): void {
  out.uvarint(BLOCK);
  out.uvarint(MINIBLOCKS);
  out.uvarint(n);
  out.zigzagBig(n > 0 ? (BigInt(hi[0]) << 32n) | BigInt(lo[0]) : 0n);
  const deltas = scratchDeltas;
  for (let start = 1; start < n; start += BLOCK) {
    const count = Math.min(BLOCK, n - start);
    let minDelta = Number.POSITIVE_INFINITY;
    let small = true;
    for (let i = 0; i < count; i++) {
      const k = start + i;
      const dh = hi[k] - hi[k - 1];
      if (dh >= 1 << 20 || dh <= -(1 << 20)) {
        small = false;
        break;
      }
      const d = dh * TWO32 + (lo[k] - lo[k - 1]);
      deltas[i] = d;
      if (d < minDelta) minDelta = d;
    }
    if (small) packBlock(out, deltas, count, minDelta);
    else packBlockBig(out, hi, lo, start, count);
  }
}

/** A block in bigints: deltas wrap at 64 bits, (delta − minimum) as unsigned 64-bit values, widths up to 64. */
function packBlockBig(out: Bytes, hi: Int32Array, lo: Uint32Array, start: number, count: number): void {
  const at = (k: number) => (BigInt(hi[k]) << 32n) | BigInt(lo[k]);
  const d = scratchBig;
  let min = 0n;
  for (let i = 0; i < count; i++) {
    d[i] = BigInt.asIntN(64, at(start + i) - at(start + i - 1));
    if (i === 0 || d[i] < min) min = d[i];
  }
  out.zigzagBig(min);
  const widthsAt = out.n;
  out.ensure(MINIBLOCKS);
  out.n += MINIBLOCKS;
  for (let m = 0; m < MINIBLOCKS; m++) {
    const from = m * PER_MINI;
    let width = 0;
    if (from < count) {
      let top = 0n;
      for (let i = from; i < from + PER_MINI; i++) {
        const x = i < count ? BigInt.asUintN(64, d[i] - min) : 0n;
        d[i] = x;
        if (x > top) top = x;
      }
      width = top.toString(2).length - (top === 0n ? 1 : 0);
      if (width > 0) {
        out.ensure(4 * width);
        let acc = 0n;
        let bits = 0;
        for (let i = from; i < from + PER_MINI; i++) {
          acc |= d[i] << BigInt(bits);
          bits += width;
          while (bits >= 8) {
            out.buf[out.n++] = Number(acc & 0xffn);
            acc >>= 8n;
            bits -= 8;
          }
        }
      }
    }
    out.buf[widthsAt + m] = width;
  }
}
