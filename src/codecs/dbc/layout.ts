/**
 * Bit layout of a signal inside a frame, as contiguous runs of bits per byte. Shared by the code generator
 * (decode) and the encoder so both agree on what "start bit" means for each byte order:
 *
 * - little-endian (Intel, @1): start bit = the LSB; bit i of the value is frame bit start+i (frame bit b is
 *   byte b>>3, bit b&7).
 * - big-endian (Motorola, @0): start bit = the MSB in the DBC's sawtooth numbering. In "linear" big-endian
 *   numbering (0 = MSB of byte 0, 7 = LSB of byte 0, 8 = MSB of byte 1 …) the signal is the run
 *   [m, m+length) with m = (start>>3)*8 + 7-(start&7); its LSB is at linear m+length-1.
 */
import type { ByteOrder } from './model.js';

/** A piece of a value field: `width` bits taken from `byte` at `shift` (from the byte's LSB), placed at `pos`. */
export interface BytePart {
  byte: number;
  shift: number;
  width: number;
  pos: number;
}

export interface FieldLayout {
  startBit: number;
  length: number;
  byteOrder: ByteOrder;
}

/**
 * The byte parts of bits [lo, lo+width) of a signal's value (bit 0 = the value's LSB), LSB part first.
 */
export function fieldParts(s: FieldLayout, lo: number, width: number): BytePart[] {
  const parts: BytePart[] = [];
  if (s.byteOrder === 'little_endian') {
    let bit = s.startBit + lo;
    let pos = 0;
    let left = width;
    while (left > 0) {
      const byte = bit >> 3;
      const shift = bit & 7;
      const w = Math.min(8 - shift, left);
      parts.push({ byte, shift, width: w, pos });
      bit += w;
      pos += w;
      left -= w;
    }
  } else {
    const m = (s.startBit >> 3) * 8 + (7 - (s.startBit & 7));
    // value bit j sits at linear m+length-1-j; walk from value bit lo (highest linear index) upwards in value.
    let linear = m + s.length - 1 - lo;
    let pos = 0;
    let left = width;
    while (left > 0) {
      const byte = linear >> 3;
      const shift = 7 - (linear & 7); // bit within byte of this (lowest-value) bit
      const w = Math.min(8 - shift, left);
      parts.push({ byte, shift, width: w, pos });
      linear -= w;
      pos += w;
      left -= w;
    }
  }
  return parts;
}

/** Number of bytes a frame must have for the signal to be complete (the highest byte it touches + 1). */
export function bytesNeeded(s: FieldLayout): number {
  let max = 0;
  for (const p of fieldParts(s, 0, s.length)) max = Math.max(max, p.byte);
  return max + 1;
}

/** Lowest byte index the signal touches (can be negative for malformed big-endian layouts). */
export function lowestByte(s: FieldLayout): number {
  let min = Number.POSITIVE_INFINITY;
  for (const p of fieldParts(s, 0, s.length)) min = Math.min(min, p.byte);
  return min;
}

/** Frame bit indexes (byte*8 + bit-in-byte) a signal occupies. */
export function signalBits(s: FieldLayout): number[] {
  const out: number[] = [];
  if (s.byteOrder === 'little_endian') {
    for (let i = 0; i < s.length; i++) out.push(s.startBit + i);
  } else {
    // Motorola: start bit is the MSB in sawtooth numbering; walk towards the LSB.
    let linear = (s.startBit >> 3) * 8 + (7 - (s.startBit & 7));
    for (let i = 0; i < s.length; i++, linear++) out.push((linear >> 3) * 8 + (7 - (linear & 7)));
  }
  return out;
}
