/**
 * Streaming Parquet file writer: typed columns, rows buffered into column arrays and encoded as one row group every
 * `rowGroupSize` rows (bounded memory whatever the total), snappy-compressed pages, and a file that only appears
 * under its name once complete. The encoding is sigflow's own (encodings.ts, file.ts): per column chunk one data
 * page, dictionary-encoded strings, delta-encoded timestamps, PLAIN numbers.
 *
 * The file is written to `<path>.<pid>-<random>.tmp` beside the target; `close()` writes the footer, syncs and
 * renames it over `path`; `abort()` (or `discardSync()`, or SIGINT/SIGTERM with `removeOnSignals`) deletes it. A run
 * that fails therefore never leaves a truncated file looking like a valid Parquet file under the requested name (a
 * pre-existing file there is left untouched). See README.md in this folder.
 */
import { close, fdatasync, openSync, unlinkSync, write } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { SigflowError } from '../../errors/index.js';
import { tempPath } from '../../io/index.js';
import { CREATED_BY } from '../../version/index.js';
import { BitsDictionary } from './dictionary.js';
import { bitWidth, definitionLevels, deltaInt64, dictionaryIndices } from './encodings.js';
import {
  BYTE_ARRAY,
  type Chunk,
  CONVERTED_TIMESTAMP_MICROS,
  CONVERTED_UTF8,
  DELTA_BINARY_PACKED,
  DOUBLE,
  INT32,
  INT64,
  type Leaf,
  MAGIC,
  OPTIONAL,
  PLAIN,
  REQUIRED,
  RLE,
  RLE_DICTIONARY,
  type RowGroup,
  writeFooter,
  writePage,
} from './file.js';
import { Bytes, utf8 } from './thrift.js';

export type ParquetErrorCode = 'SF_ERR_PARQUET_WRITE' | 'SF_ERR_PARQUET_VALUE' | 'SF_ERR_PARQUET_SCHEMA';

/**
 * A problem writing a Parquet file: the file cannot be created, encoded or written (SF_ERR_PARQUET_WRITE, the
 * default), a value its column cannot hold (SF_ERR_PARQUET_VALUE), or the writer used against its schema
 * (SF_ERR_PARQUET_SCHEMA).
 */
export class ParquetWriteError extends SigflowError {
  declare readonly code: ParquetErrorCode;

  constructor(
    message: string,
    code: ParquetErrorCode = 'SF_ERR_PARQUET_WRITE',
    options: { where?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

/** The default row-group size in rows (DuckDB and Arrow use ~120k–1M; 128 Ki keeps buffers to a few MB). */
export const DEFAULT_ROW_GROUP_SIZE = 131_072;

/** The default bound on rows × columns buffered per row group (wide tables get shorter row groups). */
export const DEFAULT_MAX_CELLS_PER_ROW_GROUP = 2_097_152;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** True when a bigint fits a Parquet INT64. */
export function fitsInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

export interface ColumnOptions {
  /** Write min/max/null-count statistics (default true; they cost a comparison per value when encoding). */
  statistics?: boolean;
}

/** Scratch buffers of one writer, lent to its columns while they encode. */
interface Scratch {
  /** The data page's body: definition levels, then the values. */
  body: Bytes;
  /** The dictionary page's body. */
  dict: Bytes;
  /** Dictionary indexes of the values. */
  idx: Int32Array;
  /** The dictionary of a number column. */
  numbers: BitsDictionary;
}

/** `s.idx` with room for `n` indexes. */
function indexes(s: Scratch, n: number): Int32Array {
  if (s.idx.length < n) s.idx = new Int32Array(Math.max(n, s.idx.length * 2));
  return s.idx;
}

/**
 * Dictionary-encodes `n` numbers of `stride` 32-bit words each (their bits: the words of a little-endian Int32Array
 * or Float64Array) into `s.dict` and `s.body`, if the dictionary and its indexes take at most half the PLAIN
 * size; returns the entries, or -1 (nothing written).
 */
function numberDictionary(s: Scratch, words: Uint32Array, stride: 1 | 2, n: number): number {
  if (!LITTLE_ENDIAN || n < 16) return -1;
  const dict = s.numbers;
  dict.reset();
  const idx = indexes(s, n);
  const limit = Math.min(MAX_DICTIONARY, n >> 1);
  for (let i = 0; i < n; i++) {
    const j = stride === 1 ? dict.index(words[i], 0, limit) : dict.index(words[2 * i], words[2 * i + 1], limit);
    if (j < 0) return -1;
    idx[i] = j;
  }
  const d = dict.size;
  const width = bitWidth(d);
  if (d * 4 * stride + Math.ceil((n * width) / 8) > n * 2 * stride) return -1;
  const b = s.dict;
  b.ensure(d * 4 * stride);
  for (let e = 0; e < d; e++) {
    b.u32le(dict.lo[e]);
    if (stride === 2) b.u32le(dict.hi[e]);
  }
  dictionaryIndices(s.body, idx, n, width);
  return d;
}

/** How a column wrote its values into the data page body (and the dictionary page body, when it made one). */
interface Encoded {
  encoding: number;
  /** Dictionary entries written to `Scratch.dict`; -1: no dictionary. */
  dictionary: number;
  min: Uint8Array | null;
  max: Uint8Array | null;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A copy of `a` with twice its length (the growth of every column buffer). */
function doubled<T extends Uint8Array | Int32Array | Uint32Array | Float64Array>(a: T): T {
  const b = new (a.constructor as new (length: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** A signed 64-bit integer's halves, read through views of one BigInt64Array element. */
const SPLIT64 = new BigInt64Array(1);
const SPLIT_I32 = new Int32Array(SPLIT64.buffer);
const SPLIT_U32 = new Uint32Array(SPLIT64.buffer);
const HI_WORD = LITTLE_ENDIAN ? 1 : 0;

/**
 * One column: its schema leaf and the values of the rows buffered since the last row group — dense (the non-null
 * values only), with a presence byte per row when nullable. Buffers keep their capacity from one row group to the
 * next.
 */
export abstract class Column {
  /** Rows buffered. */
  protected rows = 0;
  /** Non-null values buffered. */
  protected n = 0;
  private present: Uint8Array | null;
  readonly statistics: boolean;

  constructor(
    readonly name: string,
    readonly nullable: boolean,
    opts: ColumnOptions = {},
  ) {
    this.statistics = opts.statistics ?? true;
    this.present = nullable ? new Uint8Array(1024) : null;
  }

  /** The column's place in the schema. */
  abstract leaf(): Leaf;

  /** Writes the `n` buffered values into `s.body` (and a dictionary into `s.dict`); min/max when statistics. */
  protected abstract encodeValues(s: Scratch): Encoded;

  /** Counts a row holding a value (the value stored at index `n` first). */
  protected value(): void {
    if (this.present !== null) this.mark(1);
    this.rows++;
    this.n++;
  }

  /** Counts a null row (refused in a non-null column). */
  protected nul(): void {
    if (this.present === null) throw this.nullError();
    this.mark(0);
    this.rows++;
  }

  private mark(level: number): void {
    let p = this.present as Uint8Array;
    if (this.rows === p.length) this.present = p = doubled(p);
    p[this.rows] = level;
  }

  /**
   * Encodes the `rows` buffered rows as one column chunk (a dictionary page when the column made one, then one
   * data page) at the end of `out`, whose first byte is at file offset `base`; starts over.
   */
  encode(rows: number, out: Bytes, base: number, s: Scratch): Chunk {
    if (this.rows !== rows)
      throw new ParquetWriteError(
        `parquet column ${this.name}: ${this.rows} values for ${rows} rows`,
        'SF_ERR_PARQUET_SCHEMA',
      );
    s.body.n = 0;
    s.dict.n = 0;
    const nulls = this.present ? definitionLevels(s.body, this.present, rows, null) : 0;
    const e = this.encodeValues(s);
    // a page's sizes are i32 fields of its header: a row group of long strings could pass them
    if (s.body.n > MAX_PAGE || s.dict.n > MAX_PAGE)
      throw new ParquetWriteError(
        `parquet column ${this.name}: a page of ${Math.max(s.body.n, s.dict.n)} bytes is more than a Parquet page can hold (2 GiB); write fewer rows per row group`,
        'SF_ERR_PARQUET_VALUE',
      );
    let dictionaryPageOffset = -1;
    let uncompressed = 0;
    let compressed = 0;
    if (e.dictionary >= 0) {
      dictionaryPageOffset = base + out.n;
      const d = writePage(out, s.dict.take(), e.dictionary, PLAIN, true);
      uncompressed += d.uncompressed;
      compressed += d.compressed;
    }
    const dataPageOffset = base + out.n;
    const p = writePage(out, s.body.take(), rows, e.encoding);
    this.rows = 0;
    this.n = 0;
    const encodings = e.dictionary >= 0 ? [PLAIN, RLE_DICTIONARY] : [e.encoding];
    if (this.present && !encodings.includes(RLE)) encodings.push(RLE);
    return {
      leaf: this.leaf(),
      encodings,
      dataPageOffset,
      dictionaryPageOffset,
      uncompressed: uncompressed + p.uncompressed,
      compressed: compressed + p.compressed,
      values: rows,
      stats: this.statistics ? { nulls, min: e.min, max: e.max } : null,
    };
  }

  protected repetition(): number {
    return this.nullable ? OPTIONAL : REQUIRED;
  }

  protected nullError(): ParquetWriteError {
    return new ParquetWriteError(`parquet column ${this.name} is not nullable`, 'SF_ERR_PARQUET_VALUE');
  }
}

/** Byte-wise comparison of b[a, a+al) and b[c, c+cl) (Parquet's order of BYTE_ARRAY statistics). */
function compareBytes(b: Uint8Array, a: number, al: number, c: number, cl: number): number {
  const m = Math.min(al, cl);
  for (let i = 0; i < m; i++) {
    const d = b[a + i] - b[c + i];
    if (d !== 0) return d;
  }
  return al - cl;
}

/** Longest min/max string statistic written (a longer one is left out rather than truncated). */
const MAX_STAT_BYTES = 256;
/** The largest page body written (page sizes are i32 header fields; room left for snappy's worst case). */
const MAX_PAGE = 2_000_000_000;
/** The most entries a dictionary may have: a column chunk with more distinct values is written PLAIN. */
const MAX_DICTIONARY = 1 << 16;

/**
 * Writes `n` strings — `strings[idx[i]]`, or `strings[i]` without `idx` — as u32 length + UTF-8 bytes at the end
 * of `b`; with `stats`, returns the byte-wise smallest and largest (null when one is longer than MAX_STAT_BYTES).
 */
function plainStrings(
  b: Bytes,
  strings: readonly string[],
  idx: Int32Array | null,
  n: number,
  stats: boolean,
): { min: Uint8Array | null; max: Uint8Array | null } {
  let minAt = -1;
  let minLen = 0;
  let maxAt = -1;
  let maxLen = 0;
  for (let i = 0; i < n; i++) {
    const s = strings[idx === null ? i : idx[i]];
    const len = s.length;
    b.ensure(4 + 3 * len);
    const buf = b.buf;
    const at = b.n + 4;
    let k = 0;
    for (; k < len; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80) break;
      buf[at + k] = c;
    }
    const written = k === len ? len : utf8.encodeInto(s, buf.subarray(at)).written;
    b.u32leAt(at - 4, written);
    b.n = at + written;
    if (stats) {
      if (minAt < 0 || compareBytes(buf, at, written, minAt, minLen) < 0) {
        minAt = at;
        minLen = written;
      }
      if (maxAt < 0 || compareBytes(buf, at, written, maxAt, maxLen) > 0) {
        maxAt = at;
        maxLen = written;
      }
    }
  }
  if (minAt < 0 || minLen > MAX_STAT_BYTES || maxLen > MAX_STAT_BYTES) return { min: null, max: null };
  return { min: b.buf.slice(minAt, minAt + minLen), max: b.buf.slice(maxAt, maxAt + maxLen) };
}

/**
 * UTF-8 strings, dictionary-encoded while the distinct values stay few (`dictionary: true`: up to 65 536 per row
 * group; otherwise while they are at most half the values), else PLAIN. Statistics compare UTF-8 bytes.
 */
export class StringColumn extends Column {
  private readonly dictionary: boolean;
  /** The distinct values of the row group in order of appearance, their indexes, and each value's index. */
  private readonly index = new Map<string, number>();
  private entries: string[] = [];
  private idx = new Int32Array(1024);
  /** The last value pushed and its index (names repeat row after row). */
  private last: string | null = null;
  private lastIdx = 0;

  constructor(name: string, nullable: boolean, opts: ColumnOptions & { dictionary?: boolean } = {}) {
    super(name, nullable, opts);
    this.dictionary = opts.dictionary ?? false;
  }

  push(v: string | null): void {
    if (v === null) {
      this.nul();
      return;
    }
    if (v !== this.last) {
      let j = this.index.get(v);
      if (j === undefined) {
        j = this.entries.length;
        this.index.set(v, j);
        this.entries.push(v);
      }
      this.last = v;
      this.lastIdx = j;
    }
    const k = this.n;
    if (k === this.idx.length) this.idx = doubled(this.idx);
    this.idx[k] = this.lastIdx;
    this.value();
  }

  leaf(): Leaf {
    return {
      name: this.name,
      type: BYTE_ARRAY,
      repetition: this.repetition(),
      convertedType: CONVERTED_UTF8,
      logical: 'STRING',
    };
  }

  protected encodeValues(s: Scratch): Encoded {
    const { n, idx, entries } = this;
    const d = entries.length;
    const dictionary = n > 0 && d <= MAX_DICTIONARY && (this.dictionary || d <= Math.max(16, n >> 1));
    let e: Encoded;
    if (dictionary) {
      const stats = plainStrings(s.dict, entries, null, d, this.statistics);
      dictionaryIndices(s.body, idx, n, bitWidth(d));
      e = { encoding: RLE_DICTIONARY, dictionary: d, ...stats };
    } else e = { encoding: PLAIN, dictionary: -1, ...plainStrings(s.body, entries, idx, n, this.statistics) };
    this.index.clear();
    this.entries = [];
    this.last = null;
    return e;
  }
}

/**
 * Signed 64-bit integers, exact (bigint in; values outside the INT64 range are refused), held as two 32-bit halves
 * (no bigint per value while encoding). PLAIN.
 */
export class Int64Column extends Column {
  private hi = new Int32Array(1024);
  private lo = new Uint32Array(1024);
  /** The last value pushed and its halves: repeated values (a frame's time, per signal) are split once. */
  private last: bigint | null = null;
  private lastHi = 0;
  private lastLo = 0;

  push(v: bigint | null): void {
    if (v === null) {
      this.nul();
      return;
    }
    if (v !== this.last) {
      if (!fitsInt64(v))
        throw new ParquetWriteError(
          `parquet column ${this.name}: ${v} is outside the INT64 range`,
          'SF_ERR_PARQUET_VALUE',
        );
      this.last = v;
      SPLIT64[0] = v; // (no bigint arithmetic: a store, and two 32-bit reads)
      this.lastHi = SPLIT_I32[HI_WORD];
      this.lastLo = SPLIT_U32[1 - HI_WORD];
    }
    const k = this.n;
    if (k === this.hi.length) {
      this.hi = doubled(this.hi);
      this.lo = doubled(this.lo);
    }
    this.hi[k] = this.lastHi;
    this.lo[k] = this.lastLo;
    this.value();
  }

  leaf(): Leaf {
    return { name: this.name, type: INT64, repetition: this.repetition() };
  }

  /** PLAIN (Int64Column) or DELTA_BINARY_PACKED (the timestamp columns). */
  protected delta(): boolean {
    return false;
  }

  protected encodeValues(s: Scratch): Encoded {
    const { hi, lo, n } = this;
    const body = s.body;
    if (this.delta()) deltaInt64(body, hi, lo, n);
    else {
      body.ensure(8 * n);
      for (let i = 0; i < n; i++) {
        body.u32le(lo[i]);
        body.u32le(hi[i]);
      }
    }
    let min = -1;
    let max = -1;
    if (this.statistics)
      for (let i = 0; i < n; i++) {
        if (min < 0 || hi[i] < hi[min] || (hi[i] === hi[min] && lo[i] < lo[min])) min = i;
        if (max < 0 || hi[i] > hi[max] || (hi[i] === hi[max] && lo[i] > lo[max])) max = i;
      }
    const bytes = (i: number) => {
      const b = new Bytes(8);
      b.u32le(lo[i]);
      b.u32le(hi[i]);
      return b.take();
    };
    return {
      encoding: this.delta() ? DELTA_BINARY_PACKED : PLAIN,
      dictionary: -1,
      min: min < 0 ? null : bytes(min),
      max: max < 0 ? null : bytes(max),
    };
  }
}

/**
 * Instants as INT64 nanoseconds since the epoch, logical type TIMESTAMP(NANOS, isAdjustedToUTC=true), exact
 * (bigint in, bigint out; years 1677–2262). Delta-encoded: log timestamps are close to sorted.
 */
export class TimestampNsColumn extends Int64Column {
  override leaf(): Leaf {
    return { ...super.leaf(), logical: 'TIMESTAMP_NANOS' };
  }

  protected override delta(): boolean {
    return true;
  }
}

/**
 * Instants as INT64 microseconds since the epoch, logical type TIMESTAMP(MICROS, isAdjustedToUTC=true): what
 * Spark, Glue and Athena read (they refuse NANOS). Takes bigint microseconds; delta-encoded like the NANOS column.
 */
export class TimestampUsColumn extends Int64Column {
  override leaf(): Leaf {
    return { ...super.leaf(), convertedType: CONVERTED_TIMESTAMP_MICROS, logical: 'TIMESTAMP_MICROS' };
  }

  protected override delta(): boolean {
    return true;
  }
}

/**
 * Numbers in a typed array (the non-null values, dense): a dictionary when it and its indexes take at most half the
 * PLAIN size, else PLAIN (the array's bytes as they are on a little-endian machine).
 */
abstract class NumberColumn<A extends Float64Array | Int32Array> extends Column {
  constructor(
    name: string,
    nullable: boolean,
    opts: ColumnOptions,
    protected values: A,
  ) {
    super(name, nullable, opts);
  }

  push(v: number | null): void {
    if (v === null) {
      this.nul();
      return;
    }
    const k = this.n;
    if (k === this.values.length) this.values = doubled(this.values);
    this.values[k] = v;
    this.value();
  }

  /** The values into `s` (dictionary or PLAIN); statistics are the subclass's. */
  protected encodeNumbers(s: Scratch): { encoding: number; dictionary: number } {
    const { values, n } = this;
    const size = values.BYTES_PER_ELEMENT;
    const stride = size === 8 ? 2 : 1;
    const dictionary = numberDictionary(s, new Uint32Array(values.buffer, 0, stride * n), stride, n);
    if (dictionary >= 0) return { encoding: RLE_DICTIONARY, dictionary };
    const body = s.body;
    body.ensure(size * n);
    if (LITTLE_ENDIAN) body.bytes(new Uint8Array(values.buffer, 0, size * n));
    else {
      const dv = new DataView(body.buf.buffer, body.buf.byteOffset);
      for (let i = 0; i < n; i++)
        if (size === 8) dv.setFloat64(body.n + 8 * i, values[i], true);
        else dv.setInt32(body.n + 4 * i, values[i], true);
      body.n += size * n;
    }
    return { encoding: PLAIN, dictionary: -1 };
  }
}

/**
 * 64-bit floats (NaN and ±Infinity kept as such). Statistics leave NaN out and widen ±0 as the format asks (a zero
 * bound is written as -0 for min, +0 for max: readers may not know which zero they got).
 */
export class DoubleColumn extends NumberColumn<Float64Array> {
  constructor(name: string, nullable: boolean, opts: ColumnOptions = {}) {
    super(name, nullable, opts, new Float64Array(1024));
  }

  leaf(): Leaf {
    return { name: this.name, type: DOUBLE, repetition: this.repetition() };
  }

  protected encodeValues(s: Scratch): Encoded {
    const e = this.encodeNumbers(s);
    if (!this.statistics) return { ...e, min: null, max: null };
    const { values, n } = this;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let any = false;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (Number.isNaN(v)) continue; // not ordered
      any = true;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (!any) return { ...e, min: null, max: null };
    if (min === 0) min = -0;
    if (max === 0) max = 0;
    const b = new Bytes(16);
    const dv = new DataView(b.buf.buffer);
    dv.setFloat64(0, min, true);
    dv.setFloat64(8, max, true);
    return { ...e, min: b.buf.slice(0, 8), max: b.buf.slice(8, 16) };
  }
}

/** 32-bit signed integers. */
export class Int32Column extends NumberColumn<Int32Array> {
  constructor(name: string, nullable: boolean, opts: ColumnOptions = {}) {
    super(name, nullable, opts, new Int32Array(1024));
  }

  leaf(): Leaf {
    return { name: this.name, type: INT32, repetition: this.repetition() };
  }

  protected encodeValues(s: Scratch): Encoded {
    const e = this.encodeNumbers(s);
    const { values, n } = this;
    if (!this.statistics || n === 0) return { ...e, min: null, max: null };
    let min = values[0];
    let max = values[0];
    for (let i = 1; i < n; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const b = new Bytes(8);
    b.u32le(min);
    b.u32le(max);
    return { ...e, min: b.buf.slice(0, 4), max: b.buf.slice(4, 8) };
  }
}

export interface ParquetFileOptions {
  /** Rows per row group (default DEFAULT_ROW_GROUP_SIZE). */
  rowGroupSize?: number;
  /** At most this many rows × columns per row group (default DEFAULT_MAX_CELLS_PER_ROW_GROUP). */
  maxCellsPerRowGroup?: number;
  /** FileMetaData created_by (default "sigflow version <version>"). */
  createdBy?: string;
  /** Extra key/value metadata in the footer. */
  metadata?: Record<string, string>;
  /**
   * Remove the temporary file when the process gets SIGINT or SIGTERM (then die of the signal). The handlers are
   * installed in the same synchronous step that creates the file, so no signal can find the file without them;
   * they are removed by `close()` / `abort()`.
   */
  removeOnSignals?: boolean;
  /**
   * Called right after the temporary file exists, before `open` returns (a test seam: a signal sent from here
   * must not leave the file behind).
   */
  onCreated?: (tmpPath: string) => void | Promise<void>;
}

const CLEANUP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

const writeP = promisify(write);
const closeFd = promisify(close);
const datasyncFd = promisify(fdatasync);

/** Writes `length` bytes of `buf` from `at` to the file's current position; returns how many were written. */
async function writeFd(fd: number, buf: Buffer, at: number, length: number): Promise<number> {
  return (await writeP(fd, buf, at, length, null)).bytesWritten;
}

/**
 * One Parquet file being written. `open(path)` creates the temporary file (so an unwritable target fails before
 * any work); `begin(columns)` fixes the schema; then per row: push a value into every column and call `endRow()`.
 * Every `rowGroupSize` rows a row group is encoded (synchronously) into memory; `drain()` writes the encoded bytes
 * to disk (call it between batches); `close()` writes the last row group and the footer and renames the file into
 * place; `abort()` removes it.
 */
export class ParquetFileWriter {
  private cols: Column[] | null = null;
  /** The row group being encoded, and the columns' scratch buffers. */
  private readonly out = new Bytes(1 << 16);
  private readonly scratch: Scratch = {
    body: new Bytes(1 << 16),
    dict: new Bytes(1 << 12),
    idx: new Int32Array(1024),
    numbers: new BitsDictionary(),
  };
  /** Bytes of the file encoded so far (the file offset of the next row group). */
  private offset = 0;
  private readonly groups: RowGroup[] = [];
  private pending: Buffer[] = [];
  private rows = 0;
  private done = false;
  /** Rows per row group, fixed by `begin` (rowGroupSize, bounded by maxCellsPerRowGroup / columns). */
  rowGroupSize = 0;
  /** Rows in the row groups encoded so far. */
  totalRows = 0;
  /** Row groups written so far. */
  rowGroups = 0;

  /** The SIGINT/SIGTERM handler of `removeOnSignals`, while installed. */
  private onSignal: ((signal: NodeJS.Signals) => void) | null = null;

  private constructor(
    readonly path: string,
    readonly tmpPath: string,
    /** The temporary file's descriptor (opened synchronously, see open()). */
    private readonly fd: number,
    private readonly opts: ParquetFileOptions,
  ) {}

  /**
   * Creates `<path>.<pid>-<random>.tmp`; throws ParquetWriteError naming the path when it cannot be created. The
   * file is created synchronously, together with the signal handlers of `removeOnSignals`: a signal handler runs only
   * between JavaScript steps, so it either finds no file or finds its handler installed.
   */
  static async open(path: string, opts: ParquetFileOptions = {}): Promise<ParquetFileWriter> {
    const tmp = tempPath(path);
    let fd: number;
    try {
      fd = openSync(tmp, 'w');
    } catch (e) {
      throw new ParquetWriteError(
        `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        'SF_ERR_PARQUET_WRITE',
        { where: path, cause: e },
      );
    }
    const discard = () => {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    };
    let onSignal: ((signal: NodeJS.Signals) => void) | null = null;
    if (opts.removeOnSignals) {
      onSignal = (signal) => {
        discard();
        for (const s of CLEANUP_SIGNALS) if (onSignal) process.removeListener(s, onSignal);
        process.kill(process.pid, signal); // die of the signal, as without a handler
      };
      for (const s of CLEANUP_SIGNALS) process.on(s, onSignal);
    }
    // from here on the file is removed on a signal; wrapping the descriptor and the seam may take turns
    let w: ParquetFileWriter;
    try {
      await opts.onCreated?.(tmp);
      w = new ParquetFileWriter(path, tmp, fd, opts);
    } catch (e) {
      if (onSignal) for (const s of CLEANUP_SIGNALS) process.removeListener(s, onSignal);
      await closeFd(fd).catch(() => {});
      discard();
      throw e;
    }
    w.onSignal = onSignal;
    return w;
  }

  private removeSignalHandlers(): void {
    const h = this.onSignal;
    this.onSignal = null;
    if (h) for (const s of CLEANUP_SIGNALS) process.removeListener(s, h);
  }

  /** Fixes the schema (once, before the first row). */
  begin(columns: Column[]): void {
    if (this.cols) throw new ParquetWriteError('parquet schema already set', 'SF_ERR_PARQUET_SCHEMA');
    const names = new Set<string>();
    for (const c of columns) {
      if (names.has(c.name))
        throw new ParquetWriteError(`parquet column ${c.name} defined twice`, 'SF_ERR_PARQUET_SCHEMA');
      names.add(c.name);
    }
    this.cols = columns;
    const rows = Math.floor(this.opts.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE);
    const byCells = Math.floor((this.opts.maxCellsPerRowGroup ?? DEFAULT_MAX_CELLS_PER_ROW_GROUP) / columns.length);
    this.rowGroupSize = Math.max(1, Math.min(rows, byCells));
    this.pending.push(Buffer.from(MAGIC));
    this.offset = MAGIC.length;
  }

  /** Call after pushing one value into every column; encodes a row group when `rowGroupSize` rows are buffered. */
  endRow(): void {
    if (++this.rows >= this.rowGroupSize) this.flushRowGroup();
  }

  /** Encoded row groups are waiting for `drain()`. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Encodes the buffered rows as one row group (no-op without rows). */
  flushRowGroup(): void {
    const cols = this.cols;
    if (!cols) throw new ParquetWriteError('parquet schema not set', 'SF_ERR_PARQUET_SCHEMA');
    const n = this.rows;
    if (n === 0) return;
    const out = this.out;
    out.n = 0;
    const chunks = cols.map((c) => c.encode(n, out, this.offset, this.scratch));
    this.groups.push({ rows: n, chunks });
    this.pending.push(Buffer.from(out.take())); // a copy: `out` is the next row group's
    this.offset += out.n;
    this.rows = 0;
    this.totalRows += n;
    this.rowGroups++;
  }

  /** Writes the encoded row groups to disk. */
  async drain(): Promise<void> {
    const parts = this.pending;
    this.pending = [];
    for (const p of parts) {
      let at = 0;
      try {
        while (at < p.length) at += await writeFd(this.fd, p, at, p.length - at);
      } catch (e) {
        throw new ParquetWriteError(
          `cannot write ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          'SF_ERR_PARQUET_WRITE',
          { where: this.path, cause: e },
        );
      }
    }
  }

  /** Writes the last row group and the footer, syncs, and renames the file into place. */
  async close(): Promise<void> {
    if (this.done) throw new ParquetWriteError(`${this.path} already closed`, 'SF_ERR_PARQUET_SCHEMA');
    const cols = this.cols;
    if (!cols) throw new ParquetWriteError('parquet schema not set', 'SF_ERR_PARQUET_SCHEMA');
    this.flushRowGroup();
    const out = this.out;
    out.n = 0;
    writeFooter(
      out,
      cols.map((c) => c.leaf()),
      this.groups,
      this.opts.metadata,
      this.opts.createdBy ?? CREATED_BY,
    );
    this.pending.push(Buffer.from(out.take()));
    await this.drain();
    try {
      await datasyncFd(this.fd);
      await closeFd(this.fd);
      this.done = true;
      await rename(this.tmpPath, this.path);
      this.removeSignalHandlers(); // only now: until the rename a signal must still remove the temporary file
    } catch (e) {
      throw new ParquetWriteError(
        `cannot write ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        'SF_ERR_PARQUET_WRITE',
        { where: this.path, cause: e },
      );
    }
  }

  /** Closes and deletes the temporary file (after an error). Never throws. */
  async abort(): Promise<void> {
    this.pending = [];
    if (!this.done) {
      this.done = true;
      await closeFd(this.fd).catch(() => {});
    }
    await unlink(this.tmpPath).catch(() => {});
    this.removeSignalHandlers();
  }

  /** Deletes the temporary file synchronously (from a signal handler, just before the process ends). */
  discardSync(): void {
    try {
      unlinkSync(this.tmpPath);
    } catch {
      // already gone
    }
  }
}

/**
 * Writes a whole table: `columns` are the schema, `fill(i)` pushes row i's value into every column. The file is
 * complete or not there (the writer's temporary file and rename; removed on any error); encoded row groups go to
 * disk as they fill.
 */
export async function writeParquetRows(
  path: string,
  columns: Column[],
  rows: number,
  fill: (i: number) => void,
  opts: ParquetFileOptions = {},
): Promise<void> {
  const w = await ParquetFileWriter.open(path, opts);
  try {
    w.begin(columns);
    for (let i = 0; i < rows; i++) {
      fill(i);
      w.endRow();
      if ((i & 0xffff) === 0xffff && w.hasPending) await w.drain();
    }
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
}
