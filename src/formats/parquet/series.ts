/**
 * A purpose-built encoder for one shape of Parquet file — a time series table: `t`, INT64 TIMESTAMP(MICROS, UTC),
 * not null, and nullable DOUBLE columns — written whole, in memory, in one pass. The lake writes tens of thousands
 * of such files per GB of logs (CSS's layout: a file per log × message × day), so their per-file cost is the
 * lake's speed: the general writer (writer.ts, over hyparquet-writer) spends most of a small file's time on
 * choices this shape does not need (dictionary trials, bigint values, generic thrift structs).
 *
 * The file: one row group; per column one data page (v1), snappy-compressed; `t` DELTA_BINARY_PACKED with min/max
 * statistics (what time-range queries prune by), the doubles PLAIN with RLE/bit-packed definition levels and a
 * null count; the footer (thrift compact protocol) with the schema, `created_by` and key/value metadata. Read by
 * DuckDB, Arrow, Spark/Athena and hyparquet (test/formats/parquet/series.test.ts reads it back with two of them).
 */
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import { writeFileAtomic } from '../../io/index.js';

export interface SeriesColumn {
  name: string;
  /** Values by row (only where `present` is 1). */
  values: Float64Array;
  /** 1 where the row has a value, 0 where it is null. */
  present: Uint8Array;
}

export interface SeriesTable {
  /** Row times, µs since the epoch, integral (exact as doubles: |t| < 2^53). */
  t: Float64Array;
  /** Rows to write, in this order (indexes into `t` and the columns); must be time-ordered for `t`'s statistics. */
  order: Uint32Array;
  columns: readonly SeriesColumn[];
  /** Footer key/value metadata. */
  metadata?: Record<string, string>;
  createdBy?: string;
}

// Parquet enums (parquet.thrift)
const INT64 = 2;
const DOUBLE = 5;
const REQUIRED = 0;
const OPTIONAL = 1;
const TIMESTAMP_MICROS = 10;
const PLAIN = 0;
const RLE = 3;
const DELTA_BINARY_PACKED = 5;
const SNAPPY = 1;
const DATA_PAGE = 0;
// thrift compact types
const T_TRUE = 1;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

/** A growable byte buffer with the little writers this file needs. */
class Bytes {
  buf: Uint8Array;
  n = 0;
  constructor(size = 1024) {
    this.buf = new Uint8Array(size);
  }

  ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let c = this.buf.length * 2;
    while (c < this.n + extra) c *= 2;
    const b = new Uint8Array(c);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  byte(x: number): void {
    this.ensure(1);
    this.buf[this.n++] = x;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  /** Unsigned LEB128 of a non-negative integer (< 2^53). */
  uvarint(x: number): void {
    this.ensure(8);
    while (x >= 0x80) {
      this.buf[this.n++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.n++] = x;
  }
  /** Zigzag LEB128 of an integer (|x| < 2^52). */
  zigzag(x: number): void {
    this.uvarint(x >= 0 ? 2 * x : -2 * x - 1);
  }
  u32le(x: number): void {
    this.ensure(4);
    const b = this.buf;
    const n = this.n;
    b[n] = x & 0xff;
    b[n + 1] = (x >>> 8) & 0xff;
    b[n + 2] = (x >>> 16) & 0xff;
    b[n + 3] = (x >>> 24) & 0xff;
    this.n = n + 4;
  }
  /** An integral double (|x| < 2^53) as 8 little-endian bytes of an INT64. */
  i64le(x: number): void {
    const lo = x >= 0 ? x % 0x100000000 : (0x100000000 - (-x % 0x100000000)) % 0x100000000;
    const hi = Math.floor(x / 0x100000000);
    this.u32le(lo);
    this.u32le(hi | 0);
  }
  take(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** Thrift compact protocol, field by field (ids ascending within a struct; the writer keeps the last id). */
class Thrift {
  private last: number[] = [0];
  constructor(readonly out: Bytes) {}
  private field(id: number, type: number): void {
    const d = id - this.last[this.last.length - 1];
    if (d > 0 && d <= 15) this.out.byte((d << 4) | type);
    else {
      this.out.byte(type);
      this.out.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, T_I32);
    this.out.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, T_I64);
    this.out.zigzag(v);
  }
  bool(id: number, v: boolean): void {
    this.field(id, v ? T_TRUE : 2);
  }
  binary(id: number, b: Uint8Array): void {
    this.field(id, T_BINARY);
    this.out.uvarint(b.length);
    this.out.bytes(b);
  }
  string(id: number, s: string): void {
    this.binary(id, utf8.encode(s));
  }
  begin(id: number): void {
    this.field(id, T_STRUCT);
    this.last.push(0);
  }
  end(): void {
    this.out.byte(0);
    this.last.pop();
  }
  list(id: number, type: number, size: number): void {
    this.field(id, T_LIST);
    if (size < 15) this.out.byte((size << 4) | type);
    else {
      this.out.byte(0xf0 | type);
      this.out.uvarint(size);
    }
  }
  /** A struct as a list element (no field header). */
  beginElement(): void {
    this.last.push(0);
  }
  i32Element(v: number): void {
    this.out.zigzag(v);
  }
  stringElement(s: string): void {
    const b = utf8.encode(s);
    this.out.uvarint(b.length);
    this.out.bytes(b);
  }
}

const utf8 = new TextEncoder();

interface Chunk {
  type: number;
  encodings: number[];
  name: string;
  offset: number;
  uncompressed: number;
  compressed: number;
  nulls: number;
  stats: { min: number; max: number } | null;
}

/**
 * Encodes the table as a complete Parquet file. Throws a RangeError when a time is not an integral number of
 * microseconds within ±2^53 (the caller's invariant, not input).
 */
export function encodeSeriesParquet(table: SeriesTable): Uint8Array {
  const { t, order } = table;
  const rows = order.length;
  // the file, its page bodies and headers are built in scratch buffers shared by every call (encoding is
  // synchronous); only the finished file is copied out
  const body = scratch.body;
  const header = scratch.header;
  const out = scratch.out;
  out.n = 0;
  out.bytes(MAGIC);
  const chunks: Chunk[] = [];

  // t: DELTA_BINARY_PACKED over the rows' times
  const times = new Float64Array(rows);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < rows; i++) {
    const x = t[order[i]];
    if (!Number.isInteger(x) || Math.abs(x) >= 2 ** 53)
      throw new RangeError(`encodeSeriesParquet: time ${x} is not an integral µs count below 2^53`);
    times[i] = x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  body.n = 0;
  deltaBinaryPacked(body, times);
  chunks.push(
    writePage(out, header, body.take(), rows, DELTA_BINARY_PACKED, {
      type: INT64,
      encodings: [DELTA_BINARY_PACKED],
      name: 't',
      nulls: 0,
      stats: rows > 0 ? { min, max } : null,
    }),
  );

  // the doubles: definition levels (RLE/bit-packed hybrid, bit width 1, u32 length prefix), then PLAIN values
  for (const c of table.columns) {
    body.n = 0;
    const nulls = definitionLevels(body, c.present, order);
    body.ensure((rows - nulls) * 8);
    const b = body.buf;
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    let at = body.n;
    const { values, present } = c;
    for (let i = 0; i < rows; i++) {
      const r = order[i];
      if (present[r] === 0) continue;
      dv.setFloat64(at, values[r], true);
      at += 8;
    }
    body.n = at;
    chunks.push(
      writePage(out, header, body.take(), rows, PLAIN, {
        type: DOUBLE,
        encodings: [PLAIN, RLE],
        name: c.name,
        nulls,
        stats: null,
      }),
    );
  }

  const footerAt = out.n;
  footer(out, table, chunks, rows);
  out.u32le(out.n - footerAt);
  out.bytes(MAGIC);
  return out.take().slice(); // the file's bytes alone (the scratch buffer is the next call's)
}

const MAGIC = utf8.encode('PAR1');
const scratch = { out: new Bytes(1 << 16), body: new Bytes(1 << 16), header: new Bytes(256) };

/** Writes one data page (header + snappy body) at the end of `out`; returns its column chunk's description. */
function writePage(
  out: Bytes,
  header: Bytes,
  raw: Uint8Array,
  rows: number,
  encoding: number,
  c: Omit<Chunk, 'offset' | 'uncompressed' | 'compressed'>,
): Chunk {
  const data = snappyCompress(raw);
  header.n = 0;
  const th = new Thrift(header);
  th.i32(1, DATA_PAGE);
  th.i32(2, raw.length);
  th.i32(3, data.length);
  th.begin(5); // DataPageHeader
  th.i32(1, rows);
  th.i32(2, encoding);
  th.i32(3, RLE);
  th.i32(4, RLE);
  th.end();
  header.byte(0); // end of PageHeader
  const offset = out.n;
  out.bytes(header.take());
  out.bytes(data);
  return { ...c, offset, uncompressed: header.n + raw.length, compressed: header.n + data.length };
}

/** Definition levels of a nullable column (bit width 1) with their u32 length; returns the number of nulls. */
function definitionLevels(body: Bytes, present: Uint8Array, order: Uint32Array): number {
  const rows = order.length;
  let nulls = 0;
  for (let i = 0; i < rows; i++) if (present[order[i]] === 0) nulls++;
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
    for (let i = 0; i < rows; i++) if (present[order[i]] !== 0) b[at + (i >> 3)] |= 1 << (i & 7);
    body.n = at + groups;
  }
  const len = body.n - lenAt - 4;
  const b = body.buf;
  b[lenAt] = len & 0xff;
  b[lenAt + 1] = (len >>> 8) & 0xff;
  b[lenAt + 2] = (len >>> 16) & 0xff;
  b[lenAt + 3] = (len >>> 24) & 0xff;
  return nulls;
}

const BLOCK = 128;
const MINIBLOCKS = 4;
const PER_MINI = BLOCK / MINIBLOCKS;

/**
 * DELTA_BINARY_PACKED of integral doubles: a header (block size, miniblocks, count, first value), then per block
 * of 128 deltas the minimum delta and four miniblocks of 32 (delta − minimum) bit-packed at their own width.
 * Deltas up to 2^53 (a compacted file's gaps between logs are hours of µs: more than 32 bits).
 */
function deltaBinaryPacked(out: Bytes, v: Float64Array): void {
  const n = v.length;
  out.uvarint(BLOCK);
  out.uvarint(MINIBLOCKS);
  out.uvarint(n);
  out.zigzag(n > 0 ? v[0] : 0);
  const deltas = new Float64Array(BLOCK);
  for (let start = 1; start < n; start += BLOCK) {
    const count = Math.min(BLOCK, n - start);
    let minDelta = Number.POSITIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      const d = v[start + i] - v[start + i - 1];
      deltas[i] = d;
      if (d < minDelta) minDelta = d;
    }
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
}

/** Packs 32 non-negative integral doubles from `at` at `width` bits each, least significant bit first. */
function packBits(out: Bytes, x: Float64Array, at: number, width: number): void {
  if (width === 0) return;
  out.ensure(4 * width);
  const b = out.buf;
  let n = out.n;
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

function footer(out: Bytes, table: SeriesTable, chunks: Chunk[], rows: number): void {
  const th = new Thrift(out);
  th.i32(1, 1); // version
  th.list(2, T_STRUCT, chunks.length + 1);
  // the root
  th.beginElement();
  th.string(4, 'root');
  th.i32(5, chunks.length);
  th.end();
  for (const c of chunks) {
    th.beginElement();
    th.i32(1, c.type);
    th.i32(3, c.type === INT64 ? REQUIRED : OPTIONAL);
    th.string(4, c.name);
    if (c.type === INT64) {
      th.i32(6, TIMESTAMP_MICROS);
      th.begin(10); // LogicalType
      th.begin(8); // TIMESTAMP
      th.bool(1, true); // isAdjustedToUTC
      th.begin(2); // unit
      th.begin(2); // MICROS
      th.end();
      th.end();
      th.end();
      th.end();
    }
    th.end();
  }
  th.i64(3, rows);
  th.list(4, T_STRUCT, 1);
  th.beginElement(); // the row group
  th.list(1, T_STRUCT, chunks.length);
  let total = 0;
  let compressed = 0;
  for (const c of chunks) {
    total += c.uncompressed;
    compressed += c.compressed;
    th.beginElement(); // ColumnChunk
    th.i64(2, c.offset);
    th.begin(3); // ColumnMetaData
    th.i32(1, c.type);
    th.list(2, T_I32, c.encodings.length);
    for (const e of c.encodings) th.i32Element(e);
    th.list(3, T_BINARY, 1);
    th.stringElement(c.name);
    th.i32(4, SNAPPY);
    th.i64(5, rows);
    th.i64(6, c.uncompressed);
    th.i64(7, c.compressed);
    th.i64(9, c.offset);
    th.begin(12); // Statistics
    th.i64(3, c.nulls);
    if (c.stats) {
      const b = new Bytes(16);
      b.i64le(c.stats.max);
      b.i64le(c.stats.min);
      th.binary(5, b.buf.subarray(0, 8));
      th.binary(6, b.buf.subarray(8, 16));
    }
    th.end();
    th.end(); // ColumnMetaData
    th.end(); // ColumnChunk
  }
  th.i64(2, total);
  th.i64(3, rows);
  th.i64(5, chunks.length > 0 ? chunks[0].offset : 4);
  th.i64(6, compressed);
  th.end(); // RowGroup
  const kv = Object.entries(table.metadata ?? {});
  if (kv.length > 0) {
    th.list(5, T_STRUCT, kv.length);
    for (const [k, v] of kv) {
      th.beginElement();
      th.string(1, k);
      th.string(2, v);
      th.end();
    }
  }
  th.string(6, table.createdBy ?? 'sigflow');
  out.byte(0); // end of FileMetaData
}

/** Writes the table as a Parquet file at `path`, complete or not at all (src/io writeFileAtomic). */
export async function writeSeriesParquet(path: string, table: SeriesTable): Promise<void> {
  await writeFileAtomic(path, encodeSeriesParquet(table));
}
