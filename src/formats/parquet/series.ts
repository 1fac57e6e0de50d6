/**
 * A purpose-built encoder for one shape of Parquet file — a time series table: `t`, INT64 TIMESTAMP(MICROS, UTC),
 * not null, and nullable DOUBLE columns — written whole, in memory, in one pass. The lake writes tens of thousands
 * of such files per GB of logs (CSS's layout: a file per log × message × day), so their per-file cost is the
 * lake's speed: the general writer (writer.ts) would spend a small file's time on what this shape does not need
 * (column objects, dictionaries, bigint values). Both write through thrift.ts, encodings.ts and file.ts.
 *
 * The file: one row group; per column one data page (v1), snappy-compressed; `t` DELTA_BINARY_PACKED with min/max
 * statistics (what time-range queries prune by), the doubles PLAIN with RLE/bit-packed definition levels and a
 * null count; the footer (thrift compact protocol) with the schema, `created_by` and key/value metadata. Read by
 * DuckDB, Arrow, Spark/Athena and hyparquet (test/formats/parquet/series.test.ts reads it back with two of them).
 */
import { writeFileAtomic } from '../../io/index.js';
import { CREATED_BY } from '../../version/index.js';
import { definitionLevels, deltaInt64 } from './encodings.js';
import {
  type Chunk,
  CONVERTED_TIMESTAMP_MICROS,
  DELTA_BINARY_PACKED,
  DOUBLE,
  INT64,
  type Leaf,
  MAGIC,
  OPTIONAL,
  PLAIN,
  REQUIRED,
  RLE,
  writeFooter,
  writePage,
} from './file.js';
import { Bytes } from './thrift.js';

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

/**
 * Encodes the table as a complete Parquet file. Throws a RangeError when a time is not an integral number of
 * microseconds within ±2^53 (the caller's invariant, not input).
 */
export function encodeSeriesParquet(table: SeriesTable): Uint8Array {
  const { t, order } = table;
  const rows = order.length;
  // the file and its page bodies are built in scratch buffers shared by every call (encoding is synchronous); only
  // the finished file is copied out
  const body = scratch.body;
  const out = scratch.out;
  out.n = 0;
  out.bytes(MAGIC);
  const chunks: Chunk[] = [];
  const chunk = (leaf: Leaf, encodings: number[], values: number, encoding: number, stats: Chunk['stats']) => {
    const dataPageOffset = out.n;
    const size = writePage(out, body.take(), values, encoding);
    chunks.push({ leaf, encodings, dataPageOffset, dictionaryPageOffset: -1, ...size, values, stats });
  };

  // t: DELTA_BINARY_PACKED over the rows' times, as INT64 halves (exact for every |t| < 2^53, whatever the gaps)
  const hi = new Int32Array(rows);
  const lo = new Uint32Array(rows);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < rows; i++) {
    const x = t[order[i]];
    if (!Number.isInteger(x) || Math.abs(x) >= 2 ** 53)
      throw new RangeError(`encodeSeriesParquet: time ${x} is not an integral µs count below 2^53`);
    const h = Math.floor(x / 4294967296);
    hi[i] = h;
    lo[i] = x - h * 4294967296;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  body.n = 0;
  deltaInt64(body, hi, lo, rows);
  chunk(T_LEAF, [DELTA_BINARY_PACKED], rows, DELTA_BINARY_PACKED, {
    nulls: 0,
    min: rows > 0 ? int64Bytes(min) : null,
    max: rows > 0 ? int64Bytes(max) : null,
  });

  // the doubles: definition levels (RLE/bit-packed hybrid, bit width 1, u32 length prefix), then PLAIN values
  for (const c of table.columns) {
    body.n = 0;
    const nulls = definitionLevels(body, c.present, rows, order);
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
    chunk({ name: c.name, type: DOUBLE, repetition: OPTIONAL }, [PLAIN, RLE], rows, PLAIN, {
      nulls,
      min: null,
      max: null,
    });
  }

  writeFooter(
    out,
    chunks.map((c) => c.leaf),
    [{ rows, chunks }],
    table.metadata,
    table.createdBy ?? CREATED_BY,
  );
  return out.take().slice(); // the file's bytes alone (the scratch buffer is the next call's)
}

const T_LEAF: Leaf = {
  name: 't',
  type: INT64,
  repetition: REQUIRED,
  convertedType: CONVERTED_TIMESTAMP_MICROS,
  logical: 'TIMESTAMP_MICROS',
};
const scratch = { out: new Bytes(1 << 16), body: new Bytes(1 << 16) };

/** An integral double (|x| < 2^53) as the 8 bytes of an INT64 (a statistic). */
function int64Bytes(x: number): Uint8Array {
  const b = new Bytes(8);
  b.i64le(x);
  return b.take();
}

/** Writes the table as a Parquet file at `path`, complete or not at all (src/io writeFileAtomic). */
export async function writeSeriesParquet(path: string, table: SeriesTable): Promise<void> {
  await writeFileAtomic(path, encodeSeriesParquet(table));
}
