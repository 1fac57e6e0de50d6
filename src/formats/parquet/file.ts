/**
 * The structure of a Parquet file as sigflow writes it: pages (data page v1, dictionary page; snappy-compressed,
 * thrift compact headers) and the footer (FileMetaData: flat schema, row groups with their column chunks and
 * statistics, key/value metadata). Shared by the streaming writer (writer.ts) and the time-series encoder
 * (series.ts). Readers it is tested with: hyparquet, DuckDB (test/formats/parquet/).
 */
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import { Bytes, T_BINARY, T_I32, T_STRUCT, Thrift, utf8 } from './thrift.js';

// Parquet enums (parquet.thrift)
export const BOOLEAN = 0;
export const INT32 = 1;
export const INT64 = 2;
export const DOUBLE = 5;
export const BYTE_ARRAY = 6;
export const REQUIRED = 0;
export const OPTIONAL = 1;
export const CONVERTED_UTF8 = 0;
export const CONVERTED_TIMESTAMP_MICROS = 10;
export const PLAIN = 0;
export const RLE = 3;
export const DELTA_BINARY_PACKED = 5;
export const RLE_DICTIONARY = 8;
const SNAPPY = 1;
const DATA_PAGE = 0;
const DICTIONARY_PAGE = 2;

export const MAGIC = utf8.encode('PAR1');

/** A leaf of the flat schema. */
export interface Leaf {
  name: string;
  type: number;
  repetition: number;
  convertedType?: number;
  /** Logical type: STRING, or TIMESTAMP (UTC) in a unit. */
  logical?: 'STRING' | 'TIMESTAMP_MILLIS' | 'TIMESTAMP_MICROS' | 'TIMESTAMP_NANOS';
}

/** Column chunk statistics: null count, and min/max as their PLAIN bytes (absent when unknown). */
export interface ChunkStats {
  nulls: number;
  min: Uint8Array | null;
  max: Uint8Array | null;
}

/** One column chunk as the footer describes it. */
export interface Chunk {
  leaf: Leaf;
  encodings: number[];
  /** File offsets of the first data page and of the dictionary page (-1: none). */
  dataPageOffset: number;
  dictionaryPageOffset: number;
  /** Bytes of the chunk's pages, headers included, before and after compression. */
  uncompressed: number;
  compressed: number;
  /** Values, nulls included (the rows of a flat column). */
  values: number;
  /** null: no Statistics struct at all. */
  stats: ChunkStats | null;
}

export interface RowGroup {
  rows: number;
  chunks: Chunk[];
}

/** Page header scratch (pages are written synchronously). */
const headerScratch = new Bytes(256);

/**
 * Writes one page — header, then `raw` snappy-compressed — at the end of `out`; returns its size in the file
 * before and after compression, header included. A data page (v1) of `values` values in `encoding` (levels RLE),
 * or, with `dictionary`, the dictionary page of `values` PLAIN entries.
 */
export function writePage(
  out: Bytes,
  raw: Uint8Array,
  values: number,
  encoding: number,
  dictionary = false,
): { uncompressed: number; compressed: number } {
  const data = snappyCompress(raw);
  const header = headerScratch;
  header.n = 0;
  const th = new Thrift(header);
  th.i32(1, dictionary ? DICTIONARY_PAGE : DATA_PAGE);
  th.i32(2, raw.length);
  th.i32(3, data.length);
  if (dictionary) {
    th.begin(7); // DictionaryPageHeader
    th.i32(1, values);
    th.i32(2, PLAIN);
    th.end();
  } else {
    th.begin(5); // DataPageHeader
    th.i32(1, values);
    th.i32(2, encoding);
    th.i32(3, RLE);
    th.i32(4, RLE);
    th.end();
  }
  header.byte(0); // end of PageHeader
  out.bytes(header.take());
  out.bytes(data);
  return { uncompressed: header.n + raw.length, compressed: header.n + data.length };
}

/** Writes the footer — FileMetaData, its u32 length and the closing magic — at the end of `out`. */
export function writeFooter(
  out: Bytes,
  leaves: readonly Leaf[],
  groups: readonly RowGroup[],
  metadata: Record<string, string> | undefined,
  createdBy: string,
): void {
  const footerAt = out.n;
  const th = new Thrift(out);
  th.i32(1, 1); // version
  th.list(2, T_STRUCT, leaves.length + 1);
  th.beginElement(); // the root
  th.string(4, 'root');
  th.i32(5, leaves.length);
  th.end();
  for (const l of leaves) schemaElement(th, l);
  th.i64(
    3,
    groups.reduce((a, g) => a + g.rows, 0),
  );
  th.list(4, T_STRUCT, groups.length);
  for (const g of groups) rowGroup(th, g);
  const kv = Object.entries(metadata ?? {});
  if (kv.length > 0) {
    th.list(5, T_STRUCT, kv.length);
    for (const [k, v] of kv) {
      th.beginElement();
      th.string(1, k);
      th.string(2, v);
      th.end();
    }
  }
  th.string(6, createdBy);
  // column_orders: TYPE_ORDER for every leaf. Without it a reader may not trust min_value/max_value (Arrow C++
  // then reads only the deprecated min/max fields, which are not written: no row group could be skipped)
  th.list(7, T_STRUCT, leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    th.beginElement(); // ColumnOrder (a union)
    th.begin(1); // TypeDefinedOrder
    th.end();
    th.end();
  }
  out.byte(0); // end of FileMetaData
  out.u32le(out.n - footerAt);
  out.bytes(MAGIC);
}

function schemaElement(th: Thrift, l: Leaf): void {
  th.beginElement();
  th.i32(1, l.type);
  th.i32(3, l.repetition);
  th.string(4, l.name);
  if (l.convertedType !== undefined) th.i32(6, l.convertedType);
  if (l.logical) {
    th.begin(10); // LogicalType (a union)
    if (l.logical === 'STRING') {
      th.begin(1); // StringType
      th.end();
    } else {
      th.begin(8); // TimestampType
      th.bool(1, true); // isAdjustedToUTC
      th.begin(2); // TimeUnit (a union)
      th.begin(l.logical === 'TIMESTAMP_MILLIS' ? 1 : l.logical === 'TIMESTAMP_MICROS' ? 2 : 3);
      th.end();
      th.end();
      th.end();
    }
    th.end();
  }
  th.end();
}

function rowGroup(th: Thrift, g: RowGroup): void {
  th.beginElement();
  th.list(1, T_STRUCT, g.chunks.length);
  let total = 0;
  let compressed = 0;
  for (const c of g.chunks) {
    total += c.uncompressed;
    compressed += c.compressed;
    const first = c.dictionaryPageOffset >= 0 ? c.dictionaryPageOffset : c.dataPageOffset;
    th.beginElement(); // ColumnChunk
    th.i64(2, first); // file_offset
    th.begin(3); // ColumnMetaData
    th.i32(1, c.leaf.type);
    th.list(2, T_I32, c.encodings.length);
    for (const e of c.encodings) th.i32Element(e);
    th.list(3, T_BINARY, 1);
    th.stringElement(c.leaf.name);
    th.i32(4, SNAPPY);
    th.i64(5, c.values);
    th.i64(6, c.uncompressed);
    th.i64(7, c.compressed);
    th.i64(9, c.dataPageOffset);
    if (c.dictionaryPageOffset >= 0) th.i64(11, c.dictionaryPageOffset);
    if (c.stats) {
      th.begin(12); // Statistics
      th.i64(3, c.stats.nulls);
      if (c.stats.max && c.stats.min) {
        th.binary(5, c.stats.max);
        th.binary(6, c.stats.min);
      }
      th.end();
    }
    th.end(); // ColumnMetaData
    th.end(); // ColumnChunk
  }
  th.i64(2, total);
  th.i64(3, g.rows);
  const c0 = g.chunks[0];
  th.i64(5, c0 ? (c0.dictionaryPageOffset >= 0 ? c0.dictionaryPageOffset : c0.dataPageOffset) : MAGIC.length);
  th.i64(6, compressed);
  th.end(); // RowGroup
}
