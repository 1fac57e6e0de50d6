/**
 * Encoder: physical (or raw) signal values → payload bytes, for every signal type, multiplexing included.
 * Used by simulators, tests and senders. Not a hot path: clarity over speed (bigint bit arithmetic).
 */
import { SigflowError } from '../../errors/index.js';
import { fieldParts } from './layout.js';
import type { Message, Signal } from './model.js';

/** A physical value, a raw value (with scaling: false), a bigint for wide integers, or a VAL_ label. */
export type EncodeValue = number | bigint | string;

export interface EncodeOptions {
  /** Values are physical (raw = (phys - offset) / factor). Default true; false: values are raw. */
  scaling?: boolean;
  /** Byte value of bits no signal covers (default 0x00). */
  fill?: number;
}

/** Values that cannot be encoded into the message (SF_ERR_DBC_ENCODE); the message names the signal. */
export class EncodeError extends SigflowError {
  constructor(message: string) {
    super('SF_ERR_DBC_ENCODE', message);
  }
}

const f32buf = new DataView(new ArrayBuffer(8));

/** The raw bit pattern (unsigned, `length` bits) for a signal value. */
export function rawBits(s: Signal, value: EncodeValue, scaling = true): bigint {
  let v: number | bigint = value as number | bigint;
  if (typeof value === 'string') {
    const c = s.choices?.find((x) => x.label === value);
    if (!c) throw new EncodeError(`signal ${s.name}: "${value}" is not one of its value descriptions`);
    v = c.value;
    scaling = false;
  }
  if (s.valueType !== 'int') {
    let x = Number(v);
    if (scaling && !(s.factor === 1 && s.offset === 0)) x = (x - s.offset) / s.factor;
    if (s.valueType === 'float32') {
      f32buf.setFloat32(0, x, true);
      return BigInt(f32buf.getUint32(0, true));
    }
    f32buf.setFloat64(0, x, true);
    return f32buf.getBigUint64(0, true);
  }
  let raw: bigint;
  if (typeof v === 'bigint') {
    if (scaling && !(s.factor === 1 && s.offset === 0)) {
      if (Number.isInteger(s.factor) && Number.isInteger(s.offset) && s.factor !== 0) {
        const num = v - BigInt(s.offset);
        const f = BigInt(s.factor);
        if (num % f !== 0n) throw new EncodeError(`signal ${s.name}: ${v} is not reachable with factor ${s.factor}`);
        raw = num / f;
      } else {
        raw = BigInt(Math.round((Number(v) - s.offset) / s.factor));
      }
    } else {
      raw = v;
    }
  } else {
    if (!Number.isFinite(v)) throw new EncodeError(`signal ${s.name}: ${v} is not a finite number`);
    const x = scaling && !(s.factor === 1 && s.offset === 0) ? Math.round((v - s.offset) / s.factor) : Math.round(v);
    raw = BigInt(x);
  }
  const L = BigInt(s.length);
  const min = s.signed ? -(1n << (L - 1n)) : 0n;
  const max = s.signed ? (1n << (L - 1n)) - 1n : (1n << L) - 1n;
  if (raw < min || raw > max) {
    throw new EncodeError(
      `signal ${s.name}: raw value ${raw} does not fit ${s.length} ${s.signed ? 'signed' : 'unsigned'} bits`,
    );
  }
  return BigInt.asUintN(s.length, raw);
}

/** Writes a signal's raw bit pattern into the payload. */
export function writeBits(s: Signal, bits: bigint, data: Uint8Array): void {
  for (const p of fieldParts(s, 0, s.length)) {
    if (p.byte < 0 || p.byte >= data.length)
      throw new EncodeError(`signal ${s.name} does not fit the ${data.length}-byte payload`);
    const mask = (1 << p.width) - 1;
    const v = Number((bits >> BigInt(p.pos)) & BigInt(mask));
    data[p.byte] = (data[p.byte] & ~(mask << p.shift)) | (v << p.shift);
  }
}

/** The signals present for the given values: always-present ones plus the active multiplexed branches. */
export function activeSignals(m: Message, values: Record<string, EncodeValue>, scaling = true): Signal[] {
  const out: Signal[] = [];
  const byParent = new Map<string, Signal[]>();
  for (const s of m.signals) {
    if (!s.multiplexerSignal) continue;
    const l = byParent.get(s.multiplexerSignal) ?? [];
    l.push(s);
    byParent.set(s.multiplexerSignal, l);
  }
  const visit = (s: Signal) => {
    out.push(s);
    if (!s.isMultiplexer) return;
    const v = values[s.name] ?? values[s.shortName];
    if (v === undefined) throw new EncodeError(`message ${m.name}: multiplexer ${s.name} needs a value`);
    const raw = BigInt.asIntN(64, rawBits(s, v, scaling));
    const muxValue = Number(s.signed ? BigInt.asIntN(s.length, raw) : BigInt.asUintN(s.length, raw));
    for (const c of byParent.get(s.name) ?? []) {
      if ((c.multiplexerRanges ?? []).some((r) => muxValue >= r.lo && muxValue <= r.hi)) visit(c);
    }
  };
  for (const s of m.signals) if (!s.multiplexerSignal) visit(s);
  return out;
}

/**
 * Encodes a message. Every signal present for the given multiplexer values must have a value; values for
 * absent signals are ignored. Out-of-range values are an EncodeError naming the signal.
 */
export function encodeMessage(
  m: Message,
  values: Record<string, EncodeValue>,
  options: EncodeOptions = {},
): Uint8Array {
  const scaling = options.scaling ?? true;
  const data = new Uint8Array(m.length).fill(options.fill ?? 0);
  for (const s of activeSignals(m, values, scaling)) {
    const v = values[s.name] ?? values[s.shortName];
    if (v === undefined) throw new EncodeError(`message ${m.name}: signal ${s.name} needs a value`);
    writeBits(s, rawBits(s, v, scaling), data);
  }
  return data;
}
