/**
 * InfluxDB line protocol, written by sigflow (no client library): one line per record,
 *   measurement[,tag=value…] field=value[,field=value…] timestamp
 *
 * Escaping (InfluxDB docs): measurement escapes comma and space; tag keys, tag values and field keys escape
 * comma, equals and space; string field values escape `"` and `\`. Integers get the `i` suffix, floats are printed
 * in the shortest form that round-trips (JS `String(x)`), booleans as true/false.
 *
 * What line protocol cannot carry is rejected per record with a reason instead of being sent mangled:
 *   - NaN and ±Infinity (no representation), integers outside int64, strings over 64 KiB
 *   - names/tag values containing CR or LF, lone UTF-16 surrogates, a backslash right before `,` `=` space `"`
 *     or at the end (the 1.x parser reads `\,` as an escaped comma, so such text cannot round-trip), a
 *     measurement starting with `#` (a comment line: InfluxDB answers 204 and stores nothing)
 *   - a field or tag named `time` (InfluxDB 1.x rejects it); NUL in a measurement or key, or a
 *     measurement or field key starting with a tab (InfluxDB mangles or skips them)
 *   - timestamps outside InfluxDB's range
 * Tags with an empty value are omitted (line protocol has no empty tag value; InfluxDB treats it as no tag).
 * A record whose fields are only partly representable is written with the good fields and reported rejected (so
 * the dead letter carries the whole record and the reason names the bad fields).
 */
import type { FieldValue, TelemetryRecord } from './record.js';
import { TagKeyOrder } from './tags.js';

export type Precision = 'ns' | 'us' | 'ms' | 's';

const DIVISOR: Record<Precision, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n };
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** InfluxDB's representable time range (models.MinNanoTime / MaxNanoTime). */
export const MIN_NANO_TIME = INT64_MIN + 2n;
export const MAX_NANO_TIME = INT64_MAX - 1n;
export const MAX_STRING_BYTES = 65_535;

/** No lone UTF-16 surrogates (they cannot be encoded as UTF-8). Node 20 has String.prototype.isWellFormed. */
export function isWellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

type NameKind = 'measurement' | 'tag key' | 'tag value' | 'field key';

/** Why `s` cannot be written as this kind of name, or null. */
function nameProblem(s: string, kind: NameKind): string | null {
  if (s.length === 0) return `empty ${kind}`;
  if (!isWellFormed(s)) return `${kind} ${JSON.stringify(s)} has a lone UTF-16 surrogate`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return `${kind} ${JSON.stringify(s)} contains a line break`;
    if (c === 0 && kind !== 'tag value') return `${kind} ${JSON.stringify(s)} contains a NUL character`;
    if (c === 92) {
      const n = i + 1 < s.length ? s.charCodeAt(i + 1) : -1;
      if (n === -1 || n === 44 || n === 61 || n === 32 || n === 34)
        return `${kind} ${JSON.stringify(s)} has a backslash before ${n === -1 ? 'its end' : JSON.stringify(String.fromCharCode(n))}, which line protocol cannot represent`;
    }
  }
  if ((kind === 'measurement' || kind === 'field key') && s.charCodeAt(0) === 9)
    return `${kind} ${JSON.stringify(s)} starts with a tab (InfluxDB skips it as whitespace)`;
  if (kind === 'measurement' && s.charCodeAt(0) === 35)
    return `measurement ${JSON.stringify(s)} starts with '#' (InfluxDB reads the line as a comment)`;
  if ((kind === 'tag key' || kind === 'field key') && s === 'time')
    return `a ${kind} named "time" is rejected by InfluxDB`;
  return null;
}

function escapeMeasurement(s: string): string {
  let out = '';
  let from = 0;
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 44 || c === 32) {
      out += `${s.slice(from, i)}\\`;
      from = i;
      changed = true;
    }
  }
  return changed ? out + s.slice(from) : s;
}

function escapeKey(s: string): string {
  let out = '';
  let from = 0;
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 44 || c === 32 || c === 61) {
      out += `${s.slice(from, i)}\\`;
      from = i;
      changed = true;
    }
  }
  return changed ? out + s.slice(from) : s;
}

function escapeString(s: string): string {
  let out = '';
  let from = 0;
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 92) {
      out += `${s.slice(from, i)}\\`;
      from = i;
      changed = true;
    }
  }
  return changed ? out + s.slice(from) : s;
}

/** Bounded memo of validated + escaped names (measurements, tag keys/values and field keys repeat a lot). */
class NameCache {
  private readonly map = new Map<string, string | { problem: string }>();
  constructor(
    private readonly kind: NameKind,
    private readonly escapeFn: (s: string) => string,
    private readonly max = 50_000,
  ) {}
  get(s: string): string | { problem: string } {
    let v = this.map.get(s);
    if (v !== undefined) return v;
    const p = nameProblem(s, this.kind);
    v = p ? { problem: p } : this.escapeFn(s);
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(s, v);
    return v;
  }
}

/** Floor division by a positive bigint (BigInt `/` truncates toward zero). */
function floorDiv(a: bigint, d: bigint): bigint {
  const q = a / d;
  return a % d < 0n ? q - 1n : q;
}

/** ns → integer at `precision`, truncating toward −∞ (precisions coarser than the data drop the sub-unit part). */
export function toPrecision(ns: bigint, precision: Precision): bigint {
  const d = DIVISOR[precision];
  return d === 1n ? ns : floorDiv(ns, d);
}

export function formatFloat(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

export interface EncodedBatch {
  /** The line-protocol body (lines joined by \n, trailing \n). */
  body: string;
  /** For each line, the index of its record in the batch. */
  lineRecord: number[];
  /** For each line, its text (to map the server's "unable to parse '<line>'" back to a record). */
  lines: string[];
  /** Records (or parts of records) that cannot be written, with the reason. */
  rejected: { index: number; reason: string }[];
}

export class LineEncoder {
  readonly precision: Precision;
  private readonly measurements = new NameCache('measurement', escapeMeasurement);
  private readonly tagKeys = new NameCache('tag key', escapeKey);
  private readonly tagValues = new NameCache('tag value', escapeKey);
  private readonly fieldKeys = new NameCache('field key', escapeKey);
  private readonly keyOrder = new TagKeyOrder();

  constructor(precision: Precision = 'ns') {
    this.precision = precision;
  }

  /**
   * Encodes a batch. Field types are not checked across records: only the server knows a field's stored type.
   * (InfluxDB 1.x refuses a whole body that brings a *new* field with two types; the sink then has the batch split
   * until the offending line is isolated and named by the server.)
   */
  encode(batch: readonly TelemetryRecord[]): EncodedBatch {
    const lines: string[] = [];
    const lineRecord: number[] = [];
    const rejected: { index: number; reason: string }[] = [];
    for (let i = 0; i < batch.length; i++) {
      const r = this.encodeOne(batch[i]);
      if (r.line !== null) {
        lines.push(r.line);
        lineRecord.push(i);
      }
      if (r.problems) rejected.push({ index: i, reason: r.problems });
    }
    return { body: lines.length ? `${lines.join('\n')}\n` : '', lineRecord, lines, rejected };
  }

  /** One record → one line (or null when no field is writable) and the problems found. */
  encodeOne(r: TelemetryRecord): { line: string | null; problems: string | null } {
    const m = this.measurements.get(r.measurement);
    if (typeof m !== 'string') return { line: null, problems: m.problem };
    const t = r.time;
    if (typeof t !== 'bigint' || t < MIN_NANO_TIME || t > MAX_NANO_TIME)
      return { line: null, problems: `time ${String(t)} ns is outside InfluxDB's range` };
    let head = m;
    const tagKeys = this.keyOrder.sorted(r.tags); // InfluxDB's preferred order: saves the server a sort
    for (const k of tagKeys) {
      const v = r.tags[k];
      if (v === '') continue;
      const ek = this.tagKeys.get(k);
      if (typeof ek !== 'string') return { line: null, problems: ek.problem };
      const ev = this.tagValues.get(v);
      if (typeof ev !== 'string') return { line: null, problems: `tag ${JSON.stringify(k)}: ${ev.problem}` };
      head += `,${ek}=${ev}`;
    }
    let fields = '';
    let problems: string | null = null;
    const bad = (why: string) => {
      problems = problems ? `${problems}; ${why}` : why;
    };
    for (const k in r.fields) {
      const ek = this.fieldKeys.get(k);
      if (typeof ek !== 'string') {
        bad(ek.problem);
        continue;
      }
      const v: FieldValue = r.fields[k];
      let text: string;
      switch (typeof v) {
        case 'number':
          if (!Number.isFinite(v)) {
            bad(`field ${JSON.stringify(k)}: ${v} is not representable in line protocol`);
            continue;
          }
          text = formatFloat(v);
          break;
        case 'bigint':
          if (v < INT64_MIN || v > INT64_MAX) {
            bad(`field ${JSON.stringify(k)}: integer ${v} is outside int64`);
            continue;
          }
          text = `${v}i`;
          break;
        case 'boolean':
          text = v ? 'true' : 'false';
          break;
        case 'string': {
          if (!isWellFormed(v)) {
            bad(`field ${JSON.stringify(k)}: string has a lone UTF-16 surrogate`);
            continue;
          }
          if (v.length > MAX_STRING_BYTES / 3 && Buffer.byteLength(v, 'utf8') > MAX_STRING_BYTES) {
            bad(
              `field ${JSON.stringify(k)}: string of ${Buffer.byteLength(v, 'utf8')} bytes exceeds InfluxDB's 64 KiB`,
            );
            continue;
          }
          text = `"${escapeString(v)}"`;
          break;
        }
        default:
          bad(`field ${JSON.stringify(k)}: unsupported type ${typeof v}`);
          continue;
      }
      fields += fields ? `,${ek}=${text}` : `${ek}=${text}`;
    }
    if (!fields) return { line: null, problems: problems ?? 'record has no fields' };
    return { line: `${head} ${fields} ${toPrecision(t, this.precision)}`, problems };
  }
}
