/**
 * Channel values: decode one channel's raw value from a record (any data type / bit layout), apply its
 * conversion (CC), and read a whole channel of a group (generic, for non-bus files and tests).
 *
 * Conversions: identity, linear, rational, value→value tables with and without interpolation, range→value,
 * value→text, range→text (nested CCs in text tables too). Algebraic (formula) and text→value/text→text
 * conversions are not evaluated: `convert` returns the raw value for them (see README).
 */
import type { Channel, ChannelGroup, Conversion } from './blocks.js';
import type { Mdf4File } from './file.js';
import { RecordCursor } from './records.js';

export type Phys = number | string | bigint | Uint8Array;

/** Reads `bitCount` bits (≤ 64) at byteOffset/bitOffset; little- or big-endian; as number (exact ≤ 2^53) or bigint. */
export function readBits(
  b: Uint8Array,
  p: number,
  byteOffset: number,
  bitOffset: number,
  bitCount: number,
  bigEndian: boolean,
): bigint {
  const nbytes = (bitOffset + bitCount + 7) >> 3;
  let v = 0n;
  const at = p + byteOffset;
  if (bigEndian) for (let i = 0; i < nbytes; i++) v = (v << 8n) | BigInt(b[at + i]);
  else for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]);
  return (v >> BigInt(bitOffset)) & ((1n << BigInt(bitCount)) - 1n);
}

/** The raw value of a (non-VLSD, non-virtual) channel in a record starting at `p`. */
export function rawValue(ch: Channel, b: Uint8Array, view: DataView, p: number): number | bigint | string | Uint8Array {
  const dt = ch.dataType;
  const at = p + ch.byteOffset;
  if (dt === 4 || dt === 5) {
    const le = dt === 4;
    if (ch.bitCount === 64) return view.getFloat64(at, le);
    if (ch.bitCount === 32) return view.getFloat32(at, le);
    if (ch.bitCount === 16) return getFloat16(view.getUint16(at, le));
  }
  if (dt <= 3) {
    const v = readBits(b, p, ch.byteOffset, ch.bitOffset, ch.bitCount, dt === 1 || dt === 3);
    let s = v;
    if ((dt === 2 || dt === 3) && ch.bitCount > 0 && v >> BigInt(ch.bitCount - 1) === 1n)
      s = v - (1n << BigInt(ch.bitCount));
    return ch.bitCount <= 53 ? Number(s) : s;
  }
  const bytes = b.subarray(at, at + Math.floor(ch.bitCount / 8));
  if (dt >= 6 && dt <= 9) return decodeString(bytes, dt);
  return new Uint8Array(bytes);
}

function getFloat16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function decodeString(bytes: Uint8Array, dataType: number): string {
  let end = bytes.length;
  if (dataType === 8 || dataType === 9) {
    for (let i = 0; i + 1 < bytes.length; i += 2)
      if (bytes[i] === 0 && bytes[i + 1] === 0) {
        end = i;
        break;
      }
    const enc = dataType === 8 ? 'utf-16le' : 'utf-16be';
    return new TextDecoder(enc).decode(bytes.subarray(0, end));
  }
  const z = bytes.indexOf(0);
  if (z >= 0) end = z;
  return new TextDecoder(dataType === 6 ? 'latin1' : 'utf-8').decode(bytes.subarray(0, end));
}

/** Applies a conversion to a numeric raw value. */
export function convert(cc: Conversion | null, raw: number, depth = 0): number | string {
  if (!cc || depth > 16) return raw;
  const v = cc.values;
  switch (cc.type) {
    case 0:
      return raw;
    case 1:
      return v[0] + v[1] * raw;
    case 2:
      return (v[0] * raw * raw + v[1] * raw + v[2]) / (v[3] * raw * raw + v[4] * raw + v[5]);
    case 4:
    case 5: {
      const n = v.length >> 1;
      if (n === 0) return raw;
      if (raw <= v[0]) return v[1];
      if (raw >= v[2 * (n - 1)]) return v[2 * (n - 1) + 1];
      let i = 0;
      while (i < n - 1 && v[2 * (i + 1)] <= raw) i++; // v[2i] <= raw < v[2i+2]
      const k0 = v[2 * i];
      const k1 = v[2 * i + 2];
      if (raw === k0) return v[2 * i + 1];
      if (cc.type === 4) return v[2 * i + 1] + ((v[2 * i + 3] - v[2 * i + 1]) * (raw - k0)) / (k1 - k0);
      return raw - k0 <= k1 - raw ? v[2 * i + 1] : v[2 * i + 3];
    }
    case 6: {
      const n = Math.floor(v.length / 3);
      for (let i = 0; i < n; i++) if (raw >= v[3 * i] && raw <= v[3 * i + 1]) return v[3 * i + 2];
      return v.length > 3 * n ? v[3 * n] : raw;
    }
    case 7:
    case 8: {
      const n = cc.type === 7 ? v.length : v.length >> 1;
      let ref: string | Conversion | null | undefined = cc.refs[n];
      for (let i = 0; i < n; i++) {
        const hit = cc.type === 7 ? raw === v[i] : raw >= v[2 * i] && raw <= v[2 * i + 1];
        if (hit) {
          ref = cc.refs[i];
          break;
        }
      }
      if (ref === null || ref === undefined) return '';
      if (typeof ref === 'string') return ref;
      return convert(ref, raw, depth + 1);
    }
    default:
      return raw;
  }
}

/** Whether a conversion maps numbers to numbers exactly as linear a0 + a1·x (identity included). */
export function linearOf(cc: Conversion | null): { a0: number; a1: number } | null {
  if (!cc || cc.type === 0) return { a0: 0, a1: 1 };
  if (cc.type === 1 && cc.values.length >= 2) return { a0: cc.values[0], a1: cc.values[1] };
  return null;
}

export interface ChannelValues {
  raw: (number | bigint | string | Uint8Array)[];
  phys: Phys[];
}

/**
 * Reads every value of one channel of a group (raw and converted). Collects into arrays: use on groups that
 * fit in memory (tests, small files); bus logs go through bus.ts instead.
 */
export async function readChannel(mdf: Mdf4File, cg: ChannelGroup, ch: Channel): Promise<ChannelValues> {
  const dg = mdf.groups.find((g) => g.channelGroups.includes(cg));
  // internal invariant: callers pass a channel group of `mdf.groups` (API misuse otherwise, never input data)
  if (!dg) throw new Error('channel group does not belong to this file');
  const cursor = new RecordCursor(mdf, dg, cg);
  const vIndex = cursor.vlsdChannels.indexOf(ch);
  const raw: ChannelValues['raw'] = [];
  const phys: Phys[] = [];
  for await (const c of cursor.chunks()) {
    for (let i = 0; i < c.count; i++) {
      let r: number | bigint | string | Uint8Array;
      if (ch.type === 3 || ch.type === 6) r = c.index0 + i;
      else if (vIndex >= 0) {
        const col = c.vlsd[vIndex];
        const bytes = col.len[i] < 0 ? new Uint8Array(0) : col.data.slice(col.start[i], col.start[i] + col.len[i]);
        r = ch.dataType >= 6 && ch.dataType <= 9 ? decodeString(bytes, ch.dataType) : bytes;
      } else r = rawValue(ch, c.buf, c.view, c.pos[i]);
      raw.push(r);
      phys.push(typeof r === 'number' ? convert(ch.conversion, r) : r);
    }
  }
  return { raw, phys };
}
