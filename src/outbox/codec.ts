/**
 * Binary encoding of a batch of TelemetryRecords, as stored in the outbox (one blob per enqueued batch).
 *
 * Layout (all varints are unsigned LEB128, at most 5 bytes / 32 bits):
 *   magic "SFB" + version byte 1
 *   strings:   varint n, then n × string
 *   series:    varint n, then n × (varint measurement string id, varint tag count, count × (key id, value id))
 *   fieldsets: varint n, then n × (varint field count, count × key id)
 *   records:   varint n, then n × (varint series id, varint fieldset id, int64 LE time, one value per field)
 *   value:     type byte, then  0 float64 LE | 1 int64 LE | 2 string (bigint beyond 64 bits, decimal)
 *                               | 3 false | 4 true | 5 string
 *   string:    varint (byteLength << 1 | utf16), then the bytes: UTF-8, or UTF-16LE when the JS string is not
 *              well-formed (lone surrogates), so every JS string round-trips exactly.
 *
 * Measurement + tag sets and field-name lists are dictionary-encoded per batch: a record costs two small varints,
 * its 8-byte time and its values. Floats keep their exact bits (so -0, NaN, ±Infinity survive); integers are
 * bigints of any size (64-bit ones in 8 bytes). Times must fit in a signed 64-bit integer (years 1677–2262).
 * Tags and fields are the objects' enumerable string keys in for-in order (plain objects: their own keys).
 *
 * The checksum is not part of the blob: the store keeps a CRC-32 of the whole blob beside it.
 */
import type { FieldValue, TelemetryRecord } from '../records/index.js';
import { BatchDecodeError, OutboxInputError } from './errors.js';

const MAGIC0 = 0x53; // S
const MAGIC1 = 0x46; // F
const MAGIC2 = 0x42; // B
const VERSION = 1;

const T_FLOAT = 0;
const T_INT64 = 1;
const T_BIGINT = 2;
const T_FALSE = 3;
const T_TRUE = 4;
const T_STRING = 5;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function wellFormed(s: string): boolean {
  if (hasIsWellFormed) return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
  return !SURROGATE.test(s) || !LONE_SURROGATE.test(s);
}

class Writer {
  buf: Buffer;
  dv: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(256, size));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  varint(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    while (v > 0x7f) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }
  i64(v: bigint): void {
    this.ensure(8);
    this.dv.setBigInt64(this.pos, v, true);
    this.pos += 8;
  }
  f64(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  str(s: string): void {
    if (!wellFormed(s)) {
      const n = s.length * 2;
      this.varint((n * 2) | 1);
      this.ensure(n);
      this.pos += this.buf.write(s, this.pos, n, 'utf16le');
      return;
    }
    const max = s.length * 3;
    if (max < 64) {
      // (byteLength << 1) fits in one varint byte: write the string first, patch its length in.
      this.ensure(1 + max);
      const at = this.pos++;
      const n = max === 0 ? 0 : this.buf.write(s, this.pos, max, 'utf8');
      this.buf[at] = n << 1;
      this.pos += n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n * 2);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }
}

interface SeriesEntry {
  measurement: string;
  id: number;
  lastFieldSet: number;
}

const EMPTY: readonly string[] = [];

/** Enumerable string keys in for-in order (what the encoder's fast paths iterate). */
function enumKeys(o: object): string[] {
  const out: string[] = [];
  for (const k in o) out.push(k);
  return out;
}

class TrieNode {
  readonly next = new Map<string, TrieNode>();
  entry: SeriesEntry | null = null;
}

/** Length-prefixed join, so that no two different string lists give the same key. */
function listKey(items: readonly string[]): string {
  let k = '';
  for (let i = 0; i < items.length; i++) {
    const s = items[i];
    k += `${s.length}:${s}`;
  }
  return k;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Encodes records into one blob. Throws OutboxInputError naming the record index and the offending part when a
 * record is not a valid TelemetryRecord (the same rules as validateRecord, plus time within int64).
 *
 * Long on purpose: this is the per-record hot loop of every enqueue (bench/_outbox_enqueue.ts). Validation,
 * dictionary lookups and writing share one pass over each record, with the cursor and buffers in locals.
 */
export function encodeBatch(records: readonly TelemetryRecord[]): Buffer {
  const n = records.length;
  const strings: string[] = [];
  const stringIds = new Map<string, number>();
  const intern = (s: string): number => {
    let id = stringIds.get(s);
    if (id === undefined) {
      id = strings.length;
      strings.push(s);
      stringIds.set(s, id);
    }
    return id;
  };
  const series: number[][] = []; // [measurementId, keyId, valueId, ...]
  const trie = new Map<string, TrieNode>();
  let lastTags: object | null = null;
  let lastMeasurement = '';
  let lastSeries: SeriesEntry | null = null;
  const vals: unknown[] = [];
  const fieldSets: string[][] = [];
  const fieldSetByKey = new Map<string, number>();

  const body = new Writer(n * 48 + 64);
  body.varint(n);
  for (let i = 0; i < n; i++) {
    const r = records[i];
    if (r === null || typeof r !== 'object')
      throw new OutboxInputError(`record ${i}: expected an object, got ${describe(r)}`);
    const { time, measurement, tags, fields } = r;
    if (typeof time !== 'bigint')
      throw new OutboxInputError(`record ${i}: time must be a bigint (ns), got ${describe(time)}`);
    if (time < I64_MIN || time > I64_MAX) {
      throw new OutboxInputError(`record ${i}: time ${time} ns is outside the signed 64-bit range`);
    }
    if (typeof measurement !== 'string' || measurement.length === 0) {
      throw new OutboxInputError(`record ${i}: measurement must be a non-empty string`);
    }
    if (tags === null || typeof tags !== 'object') throw new OutboxInputError(`record ${i}: tags must be an object`);
    if (fields === null || typeof fields !== 'object')
      throw new OutboxInputError(`record ${i}: fields must be an object`);

    // Series: same tags object as the previous record (producers often share one per series), else a trie walk
    // over measurement, key, value, key, value… (Map lookups of existing strings; no key string is built).
    let se: SeriesEntry | undefined;
    if (tags === lastTags && measurement === lastMeasurement) se = lastSeries as SeriesEntry;
    else {
      let node: TrieNode | undefined = trie.get(measurement);
      if (node === undefined) {
        node = new TrieNode();
        trie.set(measurement, node);
      }
      for (const k in tags) {
        const v = tags[k];
        if (typeof v !== 'string')
          throw new OutboxInputError(`record ${i}: tag ${k} must be a string, got ${describe(v)}`);
        let kn: TrieNode | undefined = node.next.get(k);
        if (kn === undefined) {
          if (k.length === 0) throw new OutboxInputError(`record ${i}: tag keys must be non-empty`);
          node.next.set(k, (kn = new TrieNode()));
        }
        let vn: TrieNode | undefined = kn.next.get(v);
        if (vn === undefined) kn.next.set(v, (vn = new TrieNode()));
        node = vn;
      }
      se = node.entry ?? undefined;
      if (se === undefined) {
        const keys = enumKeys(tags);
        const def = [intern(measurement)];
        for (let j = 0; j < keys.length; j++) def.push(intern(keys[j]), intern(tags[keys[j]]));
        se = { measurement, id: series.length, lastFieldSet: -1 };
        series.push(def);
        node.entry = se;
      }
      lastTags = tags;
      lastMeasurement = measurement;
      lastSeries = se;
    }

    // Field set: usually the same as this series' previous record. Values are gathered in the same pass.
    let fs = se.lastFieldSet;
    let nf = 0;
    const prev = fs >= 0 ? fieldSets[fs] : EMPTY;
    for (const k in fields) {
      if (nf >= vals.length) vals.push(undefined);
      vals[nf] = fields[k];
      if (fs >= 0 && (nf >= prev.length || prev[nf] !== k)) fs = -1;
      nf++;
    }
    if (fs >= 0 && nf !== prev.length) fs = -1;
    if (fs < 0) {
      const fkeys = enumKeys(fields);
      if (nf === 0) throw new OutboxInputError(`record ${i}: a record needs at least one field`);
      const key = listKey(fkeys);
      const found = fieldSetByKey.get(key);
      if (found === undefined) {
        for (let j = 0; j < nf; j++) {
          if (fkeys[j].length === 0) throw new OutboxInputError(`record ${i}: field keys must be non-empty`);
        }
        for (let j = 0; j < nf; j++) intern(fkeys[j]);
        fs = fieldSets.length;
        fieldSets.push(fkeys);
        fieldSetByKey.set(key, fs);
      } else fs = found;
      se.lastFieldSet = fs;
    }
    const fkeys = fieldSets[fs];

    body.varint(se.id);
    body.varint(fs);
    body.i64(time);
    for (let j = 0; j < nf; j++) {
      const v: unknown = vals[j];
      switch (typeof v) {
        case 'number':
          body.ensure(9);
          body.buf[body.pos++] = T_FLOAT;
          body.dv.setFloat64(body.pos, v, true);
          body.pos += 8;
          break;
        case 'bigint':
          if (v >= I64_MIN && v <= I64_MAX) {
            body.ensure(9);
            body.buf[body.pos++] = T_INT64;
            body.dv.setBigInt64(body.pos, v, true);
            body.pos += 8;
          } else {
            body.byte(T_BIGINT);
            body.str(v.toString());
          }
          break;
        case 'boolean':
          body.byte(v ? T_TRUE : T_FALSE);
          break;
        case 'string':
          body.byte(T_STRING);
          body.str(v);
          break;
        default:
          throw new OutboxInputError(
            `record ${i}: field ${fkeys[j]} has type ${describe(v)} (want number, bigint, boolean or string)`,
          );
      }
    }
  }

  const head = new Writer(64 + strings.length * 16 + series.length * 8 + fieldSets.length * 8);
  head.byte(MAGIC0);
  head.byte(MAGIC1);
  head.byte(MAGIC2);
  head.byte(VERSION);
  head.varint(strings.length);
  for (const s of strings) head.str(s);
  head.varint(series.length);
  for (const def of series) {
    head.varint(def[0]);
    head.varint((def.length - 1) >> 1);
    for (let j = 1; j < def.length; j++) head.varint(def[j]);
  }
  head.varint(fieldSets.length);
  for (const keys of fieldSets) {
    head.varint(keys.length);
    for (const k of keys) head.varint(stringIds.get(k) as number);
  }
  const out = Buffer.allocUnsafe(head.pos + body.pos);
  head.buf.copy(out, 0, 0, head.pos);
  body.buf.copy(out, head.pos, 0, body.pos);
  return out;
}

class Reader {
  pos = 0;
  readonly dv: DataView;
  constructor(readonly buf: Buffer) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  fail(what: string): never {
    throw new BatchDecodeError(`corrupt outbox batch: ${what}`, this.pos);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) this.fail(`truncated ${what}`);
  }
  byte(what: string): number {
    if (this.pos >= this.buf.length) this.fail(`truncated ${what}`);
    return this.buf[this.pos++];
  }
  varint(what: string): number {
    let v = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte(what);
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (v > 0xffffffff) this.fail(`${what} varint overflows 32 bits`);
        return v;
      }
      shift += 7;
    }
    return this.fail(`${what} varint longer than 5 bytes`);
  }
  /** A count of items that each take at least `minBytes`: bounded by what is left, so garbage cannot allocate. */
  count(what: string, minBytes: number): number {
    const at = this.pos;
    const n = this.varint(what);
    if (n * minBytes > this.buf.length - this.pos) {
      this.pos = at;
      this.fail(`${what} ${n} exceeds the remaining ${this.buf.length - this.pos} bytes`);
    }
    return n;
  }
  str(what: string): string {
    const h = this.varint(what);
    const n = Math.floor(h / 2);
    this.need(n, what);
    const s = this.buf.toString(h & 1 ? 'utf16le' : 'utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

/**
 * Builds a record's fields object from its values, for one field-name list: a generated object literal, so every
 * record of a field set gets the same hidden class (fast to build, and fast for the sinks' for-in loops). Names
 * travel as JSON string literals; `__proto__` becomes a computed key, which defines an own property instead of
 * setting the prototype. Builders are cached by name list (bounded: the cache is dropped when it grows too big).
 */
type FieldsBuilder = (v: FieldValue[]) => Record<string, FieldValue>;
const builders = new Map<string, FieldsBuilder>();
const MAX_BUILDERS = 4096;
function fieldsBuilder(keys: readonly string[]): FieldsBuilder {
  const key = listKey(keys);
  let b = builders.get(key);
  if (b === undefined) {
    b = generatedBuilder(keys) ?? loopBuilder(keys);
    if (builders.size >= MAX_BUILDERS) builders.clear();
    builders.set(key, b);
  }
  return b;
}

/** The generated literal, or null where code generation from strings is disallowed (a hardening flag). */
function generatedBuilder(keys: readonly string[]): FieldsBuilder | null {
  const props = keys.map((k, j) => `${k === '__proto__' ? `[${JSON.stringify(k)}]` : JSON.stringify(k)}: v[${j}]`);
  try {
    return new Function('v', `return { ${props.join(', ')} };`) as FieldsBuilder;
  } catch (e) {
    if (e instanceof EvalError) return null;
    throw e;
  }
}

function loopBuilder(keys: readonly string[]): FieldsBuilder {
  return (v) => {
    const o: Record<string, FieldValue> = {};
    for (let j = 0; j < keys.length; j++) setKey(o, keys[j], v[j]);
    return o;
  };
}

function setKey(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

/**
 * Decodes a blob made by encodeBatch. Throws BatchDecodeError (with the byte offset) on any malformed input; never
 * reads out of bounds and never allocates more than the blob's size justifies. Records of one series share one
 * frozen tags object.
 *
 * Long on purpose: the per-record hot loop of every read-back from disk, one pass with the cursor in locals.
 */
export function decodeBatch(data: Buffer): TelemetryRecord[] {
  const r = new Reader(data);
  if (data.length < 4 || data[0] !== MAGIC0 || data[1] !== MAGIC1 || data[2] !== MAGIC2)
    r.fail('bad magic (not an outbox batch)');
  if (data[3] !== VERSION) {
    r.pos = 3;
    r.fail(`unsupported batch version ${data[3]}`);
  }
  r.pos = 4;
  const nStrings = r.count('string count', 1);
  const strings: string[] = new Array(nStrings);
  for (let i = 0; i < nStrings; i++) strings[i] = r.str('string');
  const sid = (what: string): number => {
    const at = r.pos;
    const id = r.varint(what);
    if (id >= nStrings) {
      r.pos = at;
      r.fail(`${what} ${id} out of range (${nStrings} strings)`);
    }
    return id;
  };
  const nSeries = r.count('series count', 2);
  const seriesM: string[] = new Array(nSeries);
  const seriesT: Readonly<Record<string, string>>[] = new Array(nSeries);
  for (let i = 0; i < nSeries; i++) {
    seriesM[i] = strings[sid('measurement id')];
    const nt = r.count('tag count', 2);
    const tags: Record<string, string> = {};
    for (let j = 0; j < nt; j++) {
      const k = strings[sid('tag key id')];
      setKey(tags, k, strings[sid('tag value id')]);
    }
    seriesT[i] = Object.freeze(tags);
  }
  const nSets = r.count('field set count', 1);
  const sets: string[][] = new Array(nSets);
  const build: FieldsBuilder[] = new Array(nSets);
  for (let i = 0; i < nSets; i++) {
    const nf = r.count('field count', 1);
    const keys: string[] = new Array(nf);
    for (let j = 0; j < nf; j++) keys[j] = strings[sid('field key id')];
    sets[i] = keys;
    build[i] = fieldsBuilder(keys);
  }
  const vals: FieldValue[] = [];
  const n = r.count('record count', 11);
  const out: TelemetryRecord[] = new Array(n);
  const dv = r.dv;
  for (let i = 0; i < n; i++) {
    let at = r.pos;
    const s = r.varint('series id');
    if (s >= nSeries) {
      r.pos = at;
      r.fail(`record ${i}: series id ${s} out of range`);
    }
    at = r.pos;
    const f = r.varint('field set id');
    if (f >= nSets) {
      r.pos = at;
      r.fail(`record ${i}: field set id ${f} out of range`);
    }
    r.need(8, 'time');
    const time = dv.getBigInt64(r.pos, true);
    r.pos += 8;
    const keys = sets[f];
    vals.length = keys.length;
    for (let j = 0; j < keys.length; j++) {
      const t = r.byte('value type');
      let v: FieldValue;
      switch (t) {
        case T_FLOAT:
          r.need(8, 'float');
          v = dv.getFloat64(r.pos, true);
          r.pos += 8;
          break;
        case T_INT64:
          r.need(8, 'integer');
          v = dv.getBigInt64(r.pos, true);
          r.pos += 8;
          break;
        case T_BIGINT: {
          const at2 = r.pos;
          const text = r.str('big integer');
          if (!/^-?[0-9]+$/.test(text)) {
            r.pos = at2;
            r.fail(`record ${i}: big integer is not decimal`);
          }
          v = BigInt(text);
          break;
        }
        case T_FALSE:
          v = false;
          break;
        case T_TRUE:
          v = true;
          break;
        case T_STRING:
          v = r.str('string value');
          break;
        default:
          r.pos--;
          return r.fail(`record ${i}: unknown value type ${t}`);
      }
      vals[j] = v;
    }
    out[i] = { time, measurement: seriesM[s], tags: seriesT[s], fields: build[f](vals) };
  }
  if (r.pos !== data.length) r.fail(`${data.length - r.pos} trailing bytes after ${n} records`);
  return out;
}
