/**
 * Message compiler: turns each message into a specialised JavaScript function (mask/shift code, no interpretive
 * per-signal loop) that decodes one frame into the batch output arrays.
 *
 * Generated signature:  fn(d, o, n, out, p) → new p, or SHORT (-1) / MUX (-2)
 *   d: Uint8Array holding the payload at d[o .. o+n)
 *   out: the output columns (DecodedBatch):
 *     signal: Uint32Array ← global signal index    phys: Float64Array ← physical value
 *     raw: Float64Array ← raw value (unless the variant omits raw)
 *     choice: Int32Array ← choice label index (-1: raw not in VAL_)
 *     wideRaw/widePhys: arrays ← exact bigint raw/phys for "wide" signals (raw > 53 bits, or phys beyond 2^53)
 *   p: first free output slot; the function writes at most message.signals.length slots.
 * On MUX the undefined multiplexer's global signal index and raw value are left in `muxError` for the detail.
 *
 * Variants: `truncated` adds a per-signal guard "fully inside the received bytes" (a multiplexed signal also
 * needs its multiplexer); `choices` adds the VAL_ lookup (a switch on the raw value).
 */
import { SigflowError } from '../../errors/index.js';
import { bytesNeeded, fieldParts } from './layout.js';
import type { Message, MuxRange, Signal } from './model.js';

export const SHORT = -1;
/** After a MUX result: [global index of the multiplexer signal, its raw value]. */
export const muxError = new Float64Array(2);
export const MUX = -2;

/** The output columns a compiled decoder writes (implemented by DecodedBatch). */
export interface OutputColumns {
  signal: Uint32Array;
  phys: Float64Array;
  raw: Float64Array;
  choice: Int32Array;
  wideRaw: (bigint | undefined)[];
  widePhys: (bigint | undefined)[];
}

export type CompiledFn = (d: Uint8Array, o: number, n: number, out: OutputColumns, p: number) => number;

export interface CompileContext {
  /** Interns a choice label and returns its index in the database's label table. */
  label(text: string): number;
}

const TWO53 = 2 ** 53;

/** True when the signal needs bigint for an exact raw or physical value. */
export function isWide(s: Signal): { raw: boolean; phys: boolean } {
  if (s.valueType !== 'int') return { raw: false, phys: false };
  const raw = s.length > 53;
  const integral = Number.isInteger(s.factor) && Number.isInteger(s.offset);
  let phys = raw && integral;
  if (!phys && integral && !(s.factor === 1 && s.offset === 0)) {
    const maxAbs = s.signed ? 2 ** (s.length - 1) : 2 ** s.length - 1;
    phys = maxAbs * Math.abs(s.factor) + Math.abs(s.offset) > TWO53;
  }
  return { raw, phys };
}

/** JS expression (a non-negative number) for value bits [lo, lo+width) of signal s, width ≤ 53. */
function fieldExpr(s: Signal, lo: number, width: number, byteVar: (i: number) => string): string {
  if (width > 32) {
    return `(${fieldExpr(s, lo, 32, byteVar)} + ${fieldExpr(s, lo + 32, width - 32, byteVar)} * 4294967296)`;
  }
  const parts = fieldParts(s, lo, width).map((pt) => {
    let e = byteVar(pt.byte);
    if (pt.shift) e = `(${e} >>> ${pt.shift})`;
    if (pt.width < 8 - pt.shift) e = `(${e} & ${(1 << pt.width) - 1})`;
    if (pt.pos) e = `(${e} << ${pt.pos})`;
    return e;
  });
  const joined = parts.length === 1 ? parts[0] : `(${parts.join(' | ')})`;
  // Bits at position 31 make the int32 result negative: reinterpret as unsigned.
  return width === 32 ? `(${joined} >>> 0)` : joined;
}

function num(x: number): string {
  if (Object.is(x, -0)) return '-0';
  return Number.isFinite(x) ? String(x) : x > 0 ? 'Infinity' : x < 0 ? '-Infinity' : 'NaN';
}

function rangeCond(v: string, ranges: MuxRange[]): string {
  return (
    ranges.map((r) => (r.lo === r.hi ? `${v} === ${r.lo}` : `(${v} >= ${r.lo} && ${v} <= ${r.hi})`)).join(' || ') ||
    'false'
  );
}

export interface CompileOptions {
  truncated: boolean;
  choices: boolean;
  /** Write raw values (default true). */
  raw?: boolean;
}

export function compileMessage(msg: Message, ctx: CompileContext, opts: CompileOptions): CompiledFn {
  const usedBytes = new Set<number>();
  const byteVar = (i: number) => {
    usedBytes.add(i);
    return `b${i}`;
  };
  const bigMaps: Map<bigint, number>[] = [];
  const children = new Map<string, Signal[]>();
  const roots: Signal[] = [];
  for (const s of msg.signals) {
    if (s.multiplexerSignal) {
      const list = children.get(s.multiplexerSignal) ?? [];
      list.push(s);
      children.set(s.multiplexerSignal, list);
    } else {
      roots.push(s);
    }
  }

  const emitSignal = (s: Signal, indent: string, muxVar: string | null) => {
    const w = isWide(s);
    const out: string[] = [];
    const gi = s.globalIndex;
    if (s.valueType === 'float32') {
      out.push(`u32[0] = ${fieldExpr(s, 0, 32, byteVar)};`, 'r = f32[0];');
    } else if (s.valueType === 'float64') {
      out.push(
        `u32[0] = ${fieldExpr(s, 0, 32, byteVar)};`,
        `u32[1] = ${fieldExpr(s, 32, 32, byteVar)};`,
        'r = f64[0];',
      );
    } else if (w.raw) {
      out.push(
        `rb = (BigInt(${fieldExpr(s, 32, s.length - 32, byteVar)}) << 32n) | BigInt(${fieldExpr(s, 0, 32, byteVar)});`,
      );
      if (s.signed) out.push(`rb = BigInt.asIntN(${s.length}, rb);`);
      out.push('r = Number(rb);', `WR[p] = rb;`);
    } else {
      out.push(`r = ${fieldExpr(s, 0, s.length, byteVar)};`);
      if (s.signed) {
        if (s.length <= 32)
          out.push(s.length === 32 ? 'r = r | 0;' : `r = (r << ${32 - s.length}) >> ${32 - s.length};`);
        else out.push(`if (r >= ${2 ** (s.length - 1)}) r -= ${2 ** s.length};`);
      }
      if (w.phys) out.push('rb = BigInt(r);');
    }
    out.push(`S[p] = ${gi};`);
    if (opts.raw !== false) out.push('R[p] = r;');
    if (s.factor === 1 && s.offset === 0) {
      out.push('P[p] = r;');
      if (w.phys || w.raw) out.push('WP[p] = rb;');
    } else if (w.phys) {
      out.push(`pb = rb * ${BigInt(s.factor)}n + ${BigInt(s.offset)}n;`, 'WP[p] = pb;', 'P[p] = Number(pb);');
    } else {
      out.push(`P[p] = r * ${num(s.factor)} + ${num(s.offset)};`);
      // A wide raw value scaled by a non-integral factor has a double phys: clear the slot's bigint.
      if (w.raw) out.push('WP[p] = undefined;');
    }
    if (opts.choices && s.choices && s.choices.length > 0) {
      const allSafe = !w.raw && s.choices.every((c) => c.value >= -(2n ** 53n) && c.value <= 2n ** 53n);
      if (allSafe) {
        const cases = new Map<string, number>();
        for (const c of s.choices) cases.set(String(c.value), ctx.label(c.label));
        out.push(
          `switch (r) { ${[...cases].map(([v, l]) => `case ${v}: C[p] = ${l}; break;`).join(' ')} default: C[p] = -1; }`,
        );
      } else {
        const m = new Map<bigint, number>();
        for (const c of s.choices) m.set(c.value, ctx.label(c.label));
        bigMaps.push(m);
        const key = w.raw ? 'rb' : 'BigInt(r)';
        out.push(
          `{ const c = big[${bigMaps.length - 1}].get(Number.isInteger(r) ? ${key} : null); C[p] = c === undefined ? -1 : c; }`,
        );
      }
    }
    out.push('p++;');
    if (s.isMultiplexer) out.push(`${muxVar} = r;`);
    return out.map((l) => indent + l);
  };

  let muxCounter = 0;
  const emitGroup = (signals: Signal[], indent: string): string[] => {
    const out: string[] = [];
    for (const s of signals) {
      const muxVar = s.isMultiplexer ? `m${muxCounter++}` : null;
      const guarded = opts.truncated || bytesNeeded(s) > msg.length;
      const body = emitSignal(s, guarded ? `${indent}  ` : indent, muxVar);
      const kids = s.isMultiplexer ? (children.get(s.name) ?? []) : [];
      const muxBody: string[] = [];
      if (s.isMultiplexer && muxVar) {
        const inner = guarded ? `${indent}  ` : indent;
        const defined: MuxRange[] = [];
        for (const k of kids) defined.push(...(k.multiplexerRanges ?? []));
        for (const c of s.choices ?? []) {
          if (c.value >= 0n && c.value <= 2n ** 53n) defined.push({ lo: Number(c.value), hi: Number(c.value) });
        }
        // A multiplexer that nothing depends on (no m<n> signal, no VAL_) defines no values: nothing to check.
        if (defined.length > 0) {
          muxBody.push(
            `${inner}if (!(${rangeCond(muxVar, defined)})) { err[0] = ${s.globalIndex}; err[1] = ${muxVar}; return ${MUX}; }`,
          );
        }
        // Children with the same activating ranges share one condition.
        const groups = new Map<string, { ranges: MuxRange[]; signals: Signal[] }>();
        for (const k of kids) {
          const key = JSON.stringify(k.multiplexerRanges);
          const g = groups.get(key) ?? { ranges: k.multiplexerRanges ?? [], signals: [] };
          g.signals.push(k);
          groups.set(key, g);
        }
        for (const g of groups.values()) {
          muxBody.push(`${inner}if (${rangeCond(muxVar, g.ranges)}) {`);
          muxBody.push(...emitGroup(g.signals, `${inner}  `));
          muxBody.push(`${inner}}`);
        }
      }
      // Truncated mode guards every signal; a signal that reaches past the message length (a defect some files
      // have) is always guarded, so it decodes only from bytes the frame really carries.
      const need = bytesNeeded(s);
      if (opts.truncated || need > msg.length) {
        out.push(`${indent}if (n >= ${need}) {`, ...body, ...muxBody, `${indent}}`);
      } else {
        out.push(...body, ...muxBody);
      }
    }
    return out;
  };

  const body = emitGroup(roots, '  ');
  const muxDecls = Array.from({ length: muxCounter }, (_, i) => `m${i} = 0`);
  const byteIndexes = [...usedBytes].sort((a, b) => a - b);
  const byteDecls = byteIndexes.map((i) => `b${i} = d[o + ${i}]`);
  const text = body.join('\n');
  const cols = [
    ['S', 'signal'],
    ['P', 'phys'],
    ['R', 'raw'],
    ['C', 'choice'],
    ['WR', 'wideRaw'],
    ['WP', 'widePhys'],
  ].filter(([v]) => new RegExp(`\\b${v}\\[`).test(text));
  const src = [
    `return function decode_${msg.shortName.replace(/\W/g, '_')}(d, o, n, out, p) {`,
    opts.truncated ? '' : `  if (n < ${msg.length}) return ${SHORT};`,
    cols.length ? `  const ${cols.map(([v, f]) => `${v} = out.${f}`).join(', ')};` : '',
    `  let r = 0${/\brb\b/.test(text) ? ', rb = 0n' : ''}${/\bpb\b/.test(text) ? ', pb = 0n' : ''}${muxDecls.length ? `, ${muxDecls.join(', ')}` : ''};`,
    // Bytes past the received length read as undefined → 0 via |0 in truncated mode (guards keep them unused).
    byteDecls.length
      ? `  const ${byteDecls.map((b, i) => (opts.truncated || byteIndexes[i] >= msg.length ? `${b} | 0` : b)).join(', ')};`
      : '',
    ...body,
    '  return p;',
    '};',
  ].join('\n');
  const factory = new Function('u32', 'f32', 'f64', 'big', 'err', src) as (
    u32: Uint32Array,
    f32: Float32Array,
    f64: Float64Array,
    big: Map<bigint, number>[],
    err: Float64Array,
  ) => CompiledFn;
  return factory(scratchU32, scratchF32, scratchF64, bigMaps, muxError);
}

// Scratch words for reinterpreting integer bits as IEEE floats (host byte order; checked at load).
const scratch = new ArrayBuffer(8);
const scratchU32 = new Uint32Array(scratch);
const scratchF32 = new Float32Array(scratch);
const scratchF64 = new Float64Array(scratch);
scratchF64[0] = 1;
if (scratchU32[1] !== 0x3ff00000)
  throw new SigflowError('SF_ERR_DBC_HOST_BYTE_ORDER', 'sigflow DBC decoder requires a little-endian host');
