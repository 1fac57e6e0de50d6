/**
 * Compiles a packet spec into one straight-line JavaScript decoder (like the DBC engine): every field's byte
 * indexes, shifts and masks are constants, every selector an if/else chain, values land in one Float64Array of
 * slots and a row is announced with its kind's index — no object and no interpretive loop per field.
 *
 * The generated source is built from numbers only: names in the spec never reach it (they index the slot table
 * here and come back in messages and rows).
 *
 * Generated signature:  fn(b, n, v, emit, st, L) → void
 *   b: the message bytes, n: their count; v: the value slots (NaN = no value in this row);
 *   emit(kind): a row of that kind is complete in v; st: on an error, [code, packet, byte, need/value, section];
 *   L: lookup tables (maps), arrays indexed by raw − their smallest key.
 */
import { SigflowError } from '../../errors/index.js';
import { type Condition, type FieldSpec, type PacketSpec, specError } from './spec.js';

/** A column of a row kind: where its value is and, for text, the strings its slot indexes. */
export interface Column {
  readonly name: string;
  readonly slot: number;
  /** Text column: the slot holds an index into these. */
  readonly texts?: readonly string[];
}

/** A kind of row (gps, tag, tbr …): its columns, in the order the spec first names them, and its time. */
export interface RowKind {
  readonly index: number;
  readonly name: string;
  readonly columns: readonly Column[];
  /** Slots of the UNIX seconds and milliseconds that make the row's time (from the spec's `rows:`). */
  readonly time?: { readonly seconds: number; readonly milliseconds?: number };
}

/** Why a message stopped before its end; the rows before it were emitted. */
export interface PacketError {
  /** 0: the header or a block; 1, 2 …: the packet. */
  readonly packet: number;
  /** Byte offset where the failing part starts. */
  readonly byte: number;
  readonly message: string;
}

export type Generated = (
  b: Uint8Array,
  n: number,
  v: Float64Array,
  emit: (kind: number) => void,
  st: Float64Array,
  L: readonly (readonly (number | undefined)[])[],
) => void;

export const ERR_TRUNCATED = 1;
export const ERR_NO_VARIANT = 2;
/** Bytes after the last block of a spec without packets (nothing says what they are). */
export const ERR_TRAILING = 3;

interface Slot {
  readonly name: string;
  readonly index: number;
  /** text: values are indexes into `texts`. */
  text: boolean | undefined;
  readonly texts: string[];
  /** A plain integer (no scale, no map): may be tested by `when`, used as a lookup key or a base. */
  plain: boolean;
}

interface Lookup {
  readonly key: string;
  readonly min: number;
  readonly table: (number | undefined)[];
}

/** What compiling produced: the generated function and the tables it and the row readers need. */
export interface CompiledParts {
  readonly fn: Generated;
  readonly kinds: readonly RowKind[];
  readonly slotCount: number;
  readonly lookups: readonly (readonly (number | undefined)[])[];
  /** Section names by index, for messages ("header", "block gps", "packet"). */
  readonly sections: readonly string[];
  /** Per packet section: the discriminator's slot, or -1. */
  readonly discriminator: { readonly name: string; readonly slot: number } | undefined;
  /** The generated source, for tests and curiosity. */
  readonly source: string;
}

const pow2 = (e: number) => 2 ** e;

/** Compiles a validated spec; layout mistakes (a field that is not plain where it must be …) → SF_ERR_PACKETS_SPEC. */
export function compileSpec(spec: PacketSpec, where = spec.name): CompiledParts {
  const slots = new Map<string, Slot>();
  const lookups: Lookup[] = [];
  const kinds = new Map<string, { index: number; columns: string[] }>();
  const sections: string[] = [];
  const lines: string[] = [];
  const fail = (path: string, message: string): never => {
    throw specError(`${where}: ${path}`, message);
  };

  const slotOf = (fieldName: string, path: string, text: boolean | undefined): Slot => {
    let s = slots.get(fieldName);
    if (!s) {
      s = { name: fieldName, index: slots.size, text, texts: [], plain: false };
      slots.set(fieldName, s);
    } else if (text !== undefined && s.text !== undefined && s.text !== text) {
      fail(path, `"${fieldName}" is text in one place and a number in another`);
    } else if (s.text === undefined) s.text = text;
    return s;
  };
  const textIndex = (s: Slot, text: string) => {
    const i = s.texts.indexOf(text);
    if (i >= 0) return i;
    s.texts.push(text);
    return s.texts.length - 1;
  };
  const lookupOf = (s: Slot, map: Record<string, string | number>, path: string): number => {
    const keys = Object.keys(map).map(Number);
    const min = Math.min(...keys);
    const max = Math.max(...keys);
    if (max - min > 65535) fail(path, 'map keys span more than 65536 values');
    const isText = Object.values(map).every((x) => typeof x === 'string');
    if (!isText && !Object.values(map).every((x) => typeof x === 'number'))
      fail(path, 'a map gives all texts or all numbers');
    if (s.text === undefined) s.text = isText;
    else if (s.text !== isText) fail(path, `"${s.name}" is text in one place and a number in another`);
    const table: (number | undefined)[] = new Array(max - min + 1).fill(undefined);
    for (const [k, x] of Object.entries(map)) table[Number(k) - min] = typeof x === 'string' ? textIndex(s, x) : x;
    // The same map written in several variants (a frequency table) is one table.
    const key = `${min}:${table.join(',')}`;
    const same = lookups.findIndex((l) => l.key === key);
    if (same >= 0) return same;
    lookups.push({ min, table, key });
    return lookups.length - 1;
  };

  /** Names visible at a point: the fields of the enclosing sections read so far. */
  type Scope = Map<string, Slot>;
  const need = (scope: Scope, ref: string, path: string, plain: boolean): Slot => {
    const s = scope.get(ref);
    if (!s) return fail(path, `"${ref}" is not a field read before this point`);
    if (plain && !s.plain) fail(path, `"${ref}" must be a plain integer field (no scale, offset or map)`);
    return s;
  };

  /** Bits → expression. `c` = bit offset from the section start (at byte p), `w` = width. */
  const readExpr = (c: number, w: number, fieldEndian: 'big' | 'little' | undefined): string => {
    const order = spec.endian;
    const i0 = c >> 3;
    const i1 = (c + w - 1) >> 3;
    const terms: { byte: number; shift: number; bits: number; weight: number }[] = [];
    if (fieldEndian !== undefined && fieldEndian !== order) {
      // Whole bytes on a byte boundary, in the other byte order.
      for (let k = i0; k <= i1; k++)
        terms.push({ byte: k, shift: 0, bits: 8, weight: fieldEndian === 'little' ? 8 * (k - i0) : 8 * (i1 - k) });
    } else {
      for (let k = i0; k <= i1; k++) {
        const lo = Math.max(c, 8 * k);
        const hi = Math.min(c + w, 8 * k + 8);
        if (order === 'big') terms.push({ byte: k, shift: 8 * k + 8 - hi, bits: hi - lo, weight: c + w - hi });
        else terms.push({ byte: k, shift: lo - 8 * k, bits: hi - lo, weight: lo - c });
      }
    }
    const parts = terms.map((t) => {
      let e = `b[p + ${t.byte}]`;
      if (t.shift) e = `(${e} >> ${t.shift})`;
      if (t.bits < 8 && t.shift + t.bits < 8) e = `(${e} & ${(1 << t.bits) - 1})`;
      return { e, weight: t.weight };
    });
    if (w <= 31) return parts.map((x) => (x.weight ? `(${x.e} << ${x.weight})` : x.e)).join(' | ');
    if (w === 32) return `(${parts.map((x) => (x.weight ? `(${x.e} << ${x.weight})` : x.e)).join(' | ')}) >>> 0`;
    return parts.map((x) => (x.weight ? `${x.e} * ${pow2(x.weight)}` : x.e)).join(' + ');
  };

  const lookupExpr = (li: number, key: string) =>
    `((x = L[${li}][${key} - ${lookups[li].min}]) === undefined ? NaN : x)`;

  /**
   * One section's fields: returns its length in bits from `startBit` and the names it assigned.
   * `scope` grows with the fields read.
   */
  const fieldsCode = (fields: readonly FieldSpec[], startBit: number, scope: Scope, path: string) => {
    let c = startBit;
    let end = startBit;
    const assigned: string[] = [];
    fields.forEach((f, i) => {
      const at = `${path}.fields[${i}]`;
      if (scope.has(f.name) || (f.raw_as !== undefined && (scope.has(f.raw_as) || f.raw_as === f.name)))
        fail(at, `"${scope.has(f.name) ? f.name : f.raw_as}" is already a field here (each name once per row)`);
      if (f.bits !== undefined) {
        const w = f.bits;
        if (f.endian !== undefined && f.endian !== spec.endian && (c % 8 !== 0 || w % 8 !== 0))
          fail(at, `endian ${f.endian} needs whole bytes on a byte boundary (bit ${c}, ${w} bits)`);
        let e = readExpr(c, w, f.endian);
        lines.push(`r = ${e};`);
        if (f.signed) {
          if (w < 32) lines.push(`r = (r << ${32 - w}) >> ${32 - w};`);
          else if (w === 32) lines.push('r = r | 0;');
          else lines.push(`if (r >= ${pow2(w - 1)}) r -= ${pow2(w)};`);
        }
        if (f.raw_as !== undefined) {
          const rs = slotOf(f.raw_as, at, false);
          rs.plain = true;
          lines.push(`v[${rs.index}] = r;`);
          scope.set(f.raw_as, rs);
          assigned.push(f.raw_as);
        }
        let s: Slot;
        if (f.map !== undefined) {
          s = slotOf(f.name, at, undefined);
          e = lookupExpr(lookupOf(s, f.map, `${at}.map`), 'r');
        } else {
          s = slotOf(f.name, at, false);
          // 1/scale and offset/scale whole (0.1 → 10, 1e-5 → 100000): divide, so 9.2 stays 9.2 (not 9.200000000000001).
          const inv = Math.round(1 / f.scale);
          const shift = Math.round(f.offset * inv);
          if (f.scale === 1 && f.offset === 0) {
            e = 'r';
            s.plain = true;
          } else if (inv !== 0 && Math.abs(inv * f.scale - 1) < 1e-12 && Math.abs(shift - f.offset * inv) < 1e-9)
            e = shift === 0 ? `r / ${inv}` : `(r + ${shift}) / ${inv}`;
          else e = `r * ${f.scale} + ${f.offset}`;
        }
        lines.push(`v[${s.index}] = ${e};`);
        if (f.emit) assigned.push(f.name);
        scope.set(f.name, s);
        end = Math.max(end, c + w);
        if (!f.peek) c += w;
        return;
      }
      let s: Slot;
      if (f.copy !== undefined) {
        const src = need(scope, f.copy, `${at}.copy`, false);
        s = slotOf(f.name, at, src.text);
        if (src.text) for (const t of src.texts) textIndex(s, t);
        s.plain = src.plain;
        lines.push(`v[${s.index}] = v[${src.index}];`);
      } else if (f.value !== undefined) {
        s = slotOf(f.name, at, typeof f.value === 'string');
        lines.push(`v[${s.index}] = ${typeof f.value === 'string' ? textIndex(s, f.value) : f.value};`);
      } else if (f.lookup !== undefined) {
        const from = need(scope, f.lookup.from, `${at}.lookup.from`, true);
        s = slotOf(f.name, at, undefined);
        lines.push(`v[${s.index}] = ${lookupExpr(lookupOf(s, f.lookup.map, `${at}.lookup.map`), `v[${from.index}]`)};`);
      } else {
        const wo = f.wrap_offset as NonNullable<FieldSpec['wrap_offset']>;
        const base = need(scope, wo.base, `${at}.wrap_offset.base`, true);
        const off = need(scope, wo.offset, `${at}.wrap_offset.offset`, true);
        s = slotOf(f.name, at, false);
        s.plain = true;
        lines.push(
          `v[${s.index}] = v[${off.index}] > ${wo.above} ? v[${base.index}] - (${wo.modulus} - v[${off.index}]) : v[${base.index}] + v[${off.index}];`,
        );
      }
      if (f.emit) assigned.push(f.name);
      scope.set(f.name, s);
    });
    // bits: how far the cursor moved; need: bits that must be present (a peek may read past the cursor).
    return { bits: c - startBit, need: end - startBit, assigned };
  };

  const conditionCode = (when: Condition | undefined, scope: Scope, path: string): string => {
    if (!when || Object.keys(when).length === 0) return 'true';
    return Object.entries(when)
      .map(([ref, test]) => {
        const s = need(scope, ref, `${path}.${ref}`, true);
        const x = `v[${s.index}]`;
        if (typeof test === 'number') return `${x} === ${test}`;
        if (Array.isArray(test)) return `(${test.map((t) => `${x} === ${t}`).join(' || ')})`;
        const parts = [];
        if (test.min !== undefined) parts.push(`${x} >= ${test.min}`);
        if (test.max !== undefined) parts.push(`${x} <= ${test.max}`);
        return `(${parts.join(' && ')})`;
      })
      .join(' && ');
  };

  /** Registers a row of `kind` whose path assigned `names`; returns the code that blanks the rest and emits. */
  const rowCode = (kind: string, names: readonly string[]): (() => string) => {
    let k = kinds.get(kind);
    if (!k) {
      k = { index: kinds.size, columns: [] };
      kinds.set(kind, k);
    }
    for (const nm of names) if (!k.columns.includes(nm)) k.columns.push(nm);
    const kk = k;
    // Deferred: the kind's full column list is known only once every path is compiled.
    return () => {
      const blank = kk.columns
        .filter((c) => !names.includes(c))
        .map((c) => `v[${(slots.get(c) as Slot).index}] = NaN;`);
      return `${blank.join(' ')} emit(${kk.index});`;
    };
  };

  const truncated = (sectionIndex: number, bytes: number, packet: string) =>
    `if (n - p < ${bytes}) { st[0] = ${ERR_TRUNCATED}; st[1] = ${packet}; st[2] = p; st[3] = ${bytes}; st[4] = ${sectionIndex}; return; }`;

  const deferred: { at: number; code: () => string }[] = [];
  const placeholder = (code: () => string) => {
    deferred.push({ at: lines.length, code });
    lines.push('');
  };

  // ── header
  const headerScope: Scope = new Map();
  sections.push('header');
  const headerAt = lines.length;
  lines.push('');
  const header = fieldsCode(spec.header.fields, 0, headerScope, 'header');
  if (header.bits % 8) fail('header', `${header.bits} bits: a header is whole bytes`);
  lines[headerAt] = truncated(0, Math.ceil(Math.max(header.bits, header.need) / 8), '0');
  lines.push(`p += ${header.bits / 8};`);

  // ── blocks
  spec.blocks.forEach((blk, i) => {
    const path = `blocks[${i}]`;
    const scope: Scope = new Map(headerScope);
    lines.push(`if (${conditionCode(blk.when, scope, `${path}.when`)}) {`);
    sections.push(`block ${blk.row}`);
    const at = lines.length;
    lines.push('');
    const body = fieldsCode(blk.fields, 0, scope, path);
    if (body.bits % 8) fail(path, `${body.bits} bits: a block is whole bytes`);
    lines[at] = truncated(sections.length - 1, Math.ceil(Math.max(body.bits, body.need) / 8), '0');
    placeholder(rowCode(blk.row, [...header.assigned, ...body.assigned]));
    lines.push(`p += ${body.bits / 8};`, '}');
  });

  // ── packets
  let discriminator: CompiledParts['discriminator'];
  if (spec.packets) {
    const pk = spec.packets;
    const scope: Scope = new Map(headerScope);
    lines.push('while (p < n) {', 'k++;');
    sections.push('packet');
    const commonSection = sections.length - 1;
    const at = lines.length;
    lines.push('');
    const common = fieldsCode(pk.fields, 0, scope, 'packets');
    lines[at] = truncated(commonSection, Math.ceil(Math.max(common.bits, common.need) / 8), 'k');
    const discName = pk.discriminator ?? Object.keys(pk.variants[0]?.when ?? {})[0];
    if (discName !== undefined)
      discriminator = { name: discName, slot: need(scope, discName, 'packets.discriminator', false).index };
    if (pk.row !== undefined) {
      if (common.bits % 8) fail('packets', `${common.bits} bits: a packet is whole bytes`);
      if (common.bits === 0) fail('packets', 'a packet is at least one byte (a packet of none would never end)');
      placeholder(rowCode(pk.row, [...header.assigned, ...common.assigned]));
      lines.push(`p += ${common.bits / 8};`);
    } else {
      pk.variants.forEach((vr, i) => {
        const path = `packets.variants[${i}]`;
        const vscope: Scope = new Map(scope);
        lines.push(`${i === 0 ? '' : 'else '}if (${conditionCode(vr.when, vscope, `${path}.when`)}) {`);
        const lineAt = lines.length;
        lines.push('');
        const body = fieldsCode(vr.fields, common.bits, vscope, path);
        const total = common.bits + body.bits;
        if (total % 8) fail(path, `${total} bits with the common fields: a packet is whole bytes`);
        if (total === 0) fail(path, 'a packet is at least one byte (a packet of none would never end)');
        const need = Math.max(total, common.need, common.bits + body.need);
        lines[lineAt] = truncated(commonSection, Math.ceil(need / 8), 'k');
        placeholder(rowCode(vr.row, [...header.assigned, ...common.assigned, ...body.assigned]));
        lines.push(`p += ${total / 8};`, '}');
      });
      lines.push(
        `else { st[0] = ${ERR_NO_VARIANT}; st[1] = k; st[2] = p; st[3] = ${discriminator ? `v[${discriminator.slot}]` : 'NaN'}; st[4] = ${commonSection}; return; }`,
      );
    }
    lines.push('}');
  } else {
    // no packets to read the rest: bytes left over are not dropped unseen
    lines.push(
      `if (p < n) { st[0] = ${ERR_TRAILING}; st[1] = 0; st[2] = p; st[3] = n - p; st[4] = ${sections.length - 1}; return; }`,
    );
  }
  for (const d of deferred) lines[d.at] = d.code();

  const rowKinds: RowKind[] = [...kinds.entries()].map(([kindName, k]) => {
    const time = spec.rows[kindName]?.time;
    const slotOfName = (nm: string, key: string) => {
      if (!k.columns.includes(nm)) fail(`rows.${kindName}.time.${key}`, `"${nm}" is not a column of ${kindName} rows`);
      return (slots.get(nm) as Slot).index;
    };
    return {
      index: k.index,
      name: kindName,
      columns: k.columns.map((nm) => {
        const s = slots.get(nm) as Slot;
        return s.text ? { name: nm, slot: s.index, texts: s.texts } : { name: nm, slot: s.index };
      }),
      time: time
        ? {
            seconds: slotOfName(time.seconds, 'seconds'),
            milliseconds: time.milliseconds === undefined ? undefined : slotOfName(time.milliseconds, 'milliseconds'),
          }
        : undefined,
    };
  });
  for (const kindName of Object.keys(spec.rows))
    if (!kinds.has(kindName)) fail(`rows.${kindName}`, `no block or variant makes "${kindName}" rows`);

  const source = ['let p = 0, r = 0, x = 0, k = 0;', ...lines].map((l) => `  ${l}`).join('\n');
  let fn: Generated;
  try {
    fn = new Function('b', 'n', 'v', 'emit', 'st', 'L', source) as Generated;
  } catch (err) {
    // internal invariant: the source is built from numbers only, so it always parses
    throw new SigflowError('SF_ERR_INTERNAL', `bit-field decoder did not compile: ${(err as Error).message}`);
  }
  return {
    fn,
    kinds: rowKinds,
    slotCount: slots.size,
    lookups: lookups.map((l) => l.table),
    sections,
    discriminator,
    source,
  };
}
