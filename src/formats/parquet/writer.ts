/**
 * Streaming Parquet file writer over hyparquet-writer's incremental `ParquetWriter`: typed columns, rows buffered
 * into column arrays and encoded as one row group every `rowGroupSize` rows (bounded memory whatever the total),
 * snappy-compressed pages, and a file that only appears under its name once complete.
 *
 * The file is written to `<path>.<pid>-<random>.tmp` beside the target; `close()` writes the footer, syncs and
 * renames it over `path`; `abort()` (or `discardSync()`, or SIGINT/SIGTERM with `removeOnSignals`) deletes it. A run
 * that fails therefore never leaves a truncated file looking like a valid Parquet file under the requested name (a
 * pre-existing file there is left untouched). See README.md in this folder.
 */
import { close, fdatasync, openSync, unlinkSync, write } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ByteWriter, ColumnSource, ParquetWriter, SchemaElement } from 'hyparquet-writer';
import { SigflowError } from '../../errors/index.js';
import { tempPath } from '../../io/index.js';

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

type Encoding = NonNullable<ColumnSource['encoding']>;

/**
 * hyparquet-writer, loaded by the first `ParquetFileWriter.open` (51 modules: a command that writes no Parquet —
 * `sigflow frames`, NDJSON decoding — does not pay for them at start-up).
 */
let hw: typeof import('hyparquet-writer') | null = null;

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

/** One column: its schema element and the values of the rows buffered since the last row group. */
export abstract class Column {
  protected count = 0;
  readonly statistics: boolean;

  constructor(
    readonly name: string,
    readonly nullable: boolean,
    opts: ColumnOptions = {},
  ) {
    this.statistics = opts.statistics ?? true;
  }

  /** The Parquet schema element of this column. */
  abstract element(): SchemaElement;

  /** The encoding to request (undefined: the library's choice — dictionary when it at least halves the size). */
  encoding(): Encoding | undefined {
    return undefined;
  }

  /** Hands over the buffered values (exactly `rows` of them; valid until the next push) and starts over. */
  abstract take(rows: number): ColumnSource['data'];

  protected repetition(): 'OPTIONAL' | 'REQUIRED' {
    return this.nullable ? 'OPTIONAL' : 'REQUIRED';
  }

  protected nullError(): ParquetWriteError {
    return new ParquetWriteError(`parquet column ${this.name} is not nullable`, 'SF_ERR_PARQUET_VALUE');
  }
}

/**
 * Values kept in a plain array (strings, bigints, nullable numbers): the library needs nulls in place. The array
 * is reused from one row group to the next (the library copies the rows it encodes).
 */
abstract class ArrayColumn<T> extends Column {
  protected data: (T | null)[] = [];

  push(v: T | null): void {
    if (v === null && !this.nullable) throw this.nullError();
    this.data[this.count++] = v;
  }

  take(rows: number): ColumnSource['data'] {
    if (this.count !== rows)
      throw new ParquetWriteError(
        `parquet column ${this.name}: ${this.count} values for ${rows} rows`,
        'SF_ERR_PARQUET_SCHEMA',
      );
    if (this.data.length !== rows) this.data.length = rows;
    this.count = 0;
    return this.data;
  }
}

/** UTF-8 strings; `dictionary` forces dictionary encoding (for repetitive names). */
export class StringColumn extends ArrayColumn<string> {
  private readonly dictionary: boolean;

  constructor(name: string, nullable: boolean, opts: ColumnOptions & { dictionary?: boolean } = {}) {
    super(name, nullable, opts);
    this.dictionary = opts.dictionary ?? false;
  }

  element(): SchemaElement {
    return {
      name: this.name,
      type: 'BYTE_ARRAY',
      converted_type: 'UTF8',
      logical_type: { type: 'STRING' },
      repetition_type: this.repetition(),
    };
  }

  override encoding(): Encoding | undefined {
    // a forced dictionary over a chunk of nulls only would be an empty dictionary page: let the library choose
    return this.dictionary && !this.nullable ? 'RLE_DICTIONARY' : undefined;
  }
}

/** Signed 64-bit integers, exact (bigint); values outside the INT64 range are refused. */
export class Int64Column extends ArrayColumn<bigint> {
  override push(v: bigint | null): void {
    if (v !== null && !fitsInt64(v))
      throw new ParquetWriteError(
        `parquet column ${this.name}: ${v} is outside the INT64 range`,
        'SF_ERR_PARQUET_VALUE',
      );
    super.push(v);
  }

  element(): SchemaElement {
    return { name: this.name, type: 'INT64', repetition_type: this.repetition() };
  }
}

/**
 * Instants as INT64 nanoseconds since the epoch, logical type TIMESTAMP(NANOS, isAdjustedToUTC=true), exact
 * (bigint in, bigint out; years 1677–2262). Delta-encoded: log timestamps are close to sorted.
 */
export class TimestampNsColumn extends Int64Column {
  override element(): SchemaElement {
    return {
      ...super.element(),
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' },
    };
  }

  override encoding(): Encoding | undefined {
    return 'DELTA_BINARY_PACKED';
  }
}

/**
 * Instants as INT64 microseconds since the epoch, logical type TIMESTAMP(MICROS, isAdjustedToUTC=true): what
 * Spark, Glue and Athena read (they refuse NANOS). Takes bigint microseconds; delta-encoded like the NANOS column.
 */
export class TimestampUsColumn extends Int64Column {
  override element(): SchemaElement {
    return {
      ...super.element(),
      converted_type: 'TIMESTAMP_MICROS',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
    };
  }

  override encoding(): Encoding | undefined {
    return 'DELTA_BINARY_PACKED';
  }
}

/** 64-bit floats (NaN and ±Infinity kept as such). Non-null columns use a Float64Array. */
export class DoubleColumn extends Column {
  private values: Float64Array | (number | null)[];

  constructor(name: string, nullable: boolean, opts: ColumnOptions = {}) {
    super(name, nullable, opts);
    this.values = nullable ? [] : new Float64Array(1024);
  }

  push(v: number | null): void {
    const a = this.values;
    if (a instanceof Float64Array) {
      if (v === null) throw this.nullError();
      if (this.count === a.length) this.values = grow(a, new Float64Array(a.length * 2));
      (this.values as Float64Array)[this.count] = v;
    } else a[this.count] = v;
    this.count++;
  }

  element(): SchemaElement {
    return { name: this.name, type: 'DOUBLE', repetition_type: this.repetition() };
  }

  take(rows: number): ColumnSource['data'] {
    if (this.count !== rows)
      throw new ParquetWriteError(
        `parquet column ${this.name}: ${this.count} values for ${rows} rows`,
        'SF_ERR_PARQUET_SCHEMA',
      );
    const a = this.values;
    this.count = 0;
    // the library copies the rows it encodes (a slice per row group), so the buffer is reused
    if (a instanceof Float64Array) return a.subarray(0, rows);
    if (a.length !== rows) a.length = rows;
    return a;
  }
}

/** 32-bit signed integers. Non-null columns use an Int32Array. */
export class Int32Column extends Column {
  private values: Int32Array | (number | null)[];

  constructor(name: string, nullable: boolean, opts: ColumnOptions = {}) {
    super(name, nullable, opts);
    this.values = nullable ? [] : new Int32Array(1024);
  }

  push(v: number | null): void {
    const a = this.values;
    if (a instanceof Int32Array) {
      if (v === null) throw this.nullError();
      if (this.count === a.length) this.values = grow(a, new Int32Array(a.length * 2));
      (this.values as Int32Array)[this.count] = v;
    } else a[this.count] = v;
    this.count++;
  }

  element(): SchemaElement {
    return { name: this.name, type: 'INT32', repetition_type: this.repetition() };
  }

  take(rows: number): ColumnSource['data'] {
    if (this.count !== rows)
      throw new ParquetWriteError(
        `parquet column ${this.name}: ${this.count} values for ${rows} rows`,
        'SF_ERR_PARQUET_SCHEMA',
      );
    const a = this.values;
    this.count = 0;
    if (a instanceof Int32Array) return a.subarray(0, rows);
    if (a.length !== rows) a.length = rows;
    return a;
  }
}

function grow<T extends Float64Array | Int32Array>(a: T, b: T): T {
  b.set(a);
  return b;
}

export interface ParquetFileOptions {
  /** Rows per row group (default DEFAULT_ROW_GROUP_SIZE). */
  rowGroupSize?: number;
  /** At most this many rows × columns per row group (default DEFAULT_MAX_CELLS_PER_ROW_GROUP). */
  maxCellsPerRowGroup?: number;
  /** FileMetaData created_by (default "sigflow"). */
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
  private pw: ParquetWriter | null = null;
  private cols: Column[] = [];
  private readonly bytes: ByteWriter;
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
  ) {
    this.bytes = new (hw as typeof import('hyparquet-writer')).ByteWriter(1 << 16);
  }

  /**
   * Creates `<path>.<pid>-<random>.tmp`; throws ParquetWriteError naming the path when it cannot be created. The
   * file is created synchronously, together with the signal handlers of `removeOnSignals`: a signal handler runs only
   * between JavaScript steps, so it either finds no file or finds its handler installed.
   */
  static async open(path: string, opts: ParquetFileOptions = {}): Promise<ParquetFileWriter> {
    hw ??= await import('hyparquet-writer');
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
    if (this.pw) throw new ParquetWriteError('parquet schema already set', 'SF_ERR_PARQUET_SCHEMA');
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
    const schema: SchemaElement[] = [
      { name: 'root', num_children: columns.length },
      ...columns.map((c) => c.element()),
    ];
    const kv = Object.entries(this.opts.metadata ?? {}).map(([key, value]) => ({ key, value }));
    this.pw = new (hw as typeof import('hyparquet-writer')).ParquetWriter({
      writer: this.bytes,
      schema,
      codec: 'SNAPPY',
      createdBy: this.opts.createdBy ?? 'sigflow',
      kvMetadata: kv.length > 0 ? kv : undefined,
    });
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
    const pw = this.pw;
    if (!pw) throw new ParquetWriteError('parquet schema not set', 'SF_ERR_PARQUET_SCHEMA');
    const n = this.rows;
    if (n === 0) return;
    const columnData: ColumnSource[] = this.cols.map((c) => ({
      name: c.name,
      data: c.take(n),
      encoding: c.encoding(),
      nullable: c.nullable,
      statistics: c.statistics,
    }));
    try {
      // our ByteWriter has no async flush, so write() is synchronous
      void pw.write({ columnData, rowGroupSize: n });
    } catch (e) {
      throw new ParquetWriteError(
        `cannot encode a row group of ${this.path}: ${(e as Error).message}`,
        'SF_ERR_PARQUET_WRITE',
        {
          where: this.path,
          cause: e,
        },
      );
    }
    this.rows = 0;
    this.totalRows += n;
    this.rowGroups++;
    this.takeBytes();
  }

  private takeBytes(): void {
    const b = this.bytes;
    if (b.index === 0) return;
    this.pending.push(Buffer.from(b.getBytes()));
    b.index = 0;
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
    const pw = this.pw;
    if (!pw) throw new ParquetWriteError('parquet schema not set', 'SF_ERR_PARQUET_SCHEMA');
    this.flushRowGroup();
    void pw.finish();
    this.takeBytes();
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
