/**
 * One lake table file being assembled: the rows of one message folder on one day from one log (or, compacted,
 * from several). Columns: `t` — TIMESTAMP(MICROS, UTC), what Spark/Glue/Athena read — and one nullable DOUBLE per
 * signal, the stable type CSS's lake uses (a signal is DOUBLE in every file, whatever its DBC type; absent from a
 * row — another multiplexer branch, a short frame — it is null). Rows are kept in growing typed arrays until
 * encoded; a table is one log's worth of one message, so it is bounded by the log's size.
 */
import { encodeSeriesParquet } from '../parquet/index.js';

/**
 * Column buffers of encoded tables, by capacity, for the next tables: a lake writer assembles thousands of tables
 * of similar sizes, and fresh (growing) buffers for each made V8 collect garbage every few logs. Bounded in bytes.
 */
const spareF64 = new Map<number, Float64Array[]>();
const spareU8 = new Map<number, Uint8Array[]>();
let spareBytes = 0;
const SPARE_MAX_BYTES = 32 * 1024 * 1024;

function takeF64(n: number): Float64Array {
  const a = spareF64.get(n)?.pop();
  if (!a) return new Float64Array(n);
  spareBytes -= a.byteLength;
  return a;
}

/** A presence column of `n` zeros (absent cells). */
function takeU8(n: number): Uint8Array {
  const a = spareU8.get(n)?.pop();
  if (!a) return new Uint8Array(n);
  spareBytes -= a.byteLength;
  return a.fill(0);
}

function give(a: Float64Array | Uint8Array): void {
  if (spareBytes + a.byteLength > SPARE_MAX_BYTES) return;
  spareBytes += a.byteLength;
  const pool = a instanceof Float64Array ? spareF64 : spareU8;
  const list = pool.get(a.length);
  if (list) list.push(a as never);
  else pool.set(a.length, [a as never]);
}

const EMPTY_F64 = new Float64Array(0);

export class LakeTable {
  rows = 0;
  /** Row times, µs since the epoch (exact as doubles until the year 2255). */
  private t: Float64Array;
  private values: Float64Array[];
  private present: Uint8Array[];

  constructor(
    /** The signal columns, in order. */
    readonly columns: readonly string[],
  ) {
    this.t = takeF64(256);
    this.values = columns.map(() => takeF64(256));
    this.present = columns.map(() => takeU8(256));
  }

  /** Starts a row at `tUs`; returns its index (cells are absent until set). */
  addRow(tUs: number): number {
    const r = this.rows;
    if (r === this.t.length) this.grow(r * 2);
    this.t[r] = tUs;
    // its cells are absent already: rows are only appended, and new slots are zero (fresh or grown arrays)
    this.rows = r + 1;
    return r;
  }

  set(row: number, column: number, v: number): void {
    this.values[column][row] = v;
    this.present[column][row] = 1;
  }

  /** The time of row `r` (µs). */
  timeOf(r: number): number {
    return this.t[r];
  }

  /** The value of a cell, or null when absent. */
  cell(r: number, column: number): number | null {
    return this.present[column][r] ? this.values[column][r] : null;
  }

  /** The smallest and largest row time (µs); null when empty. */
  span(): { first: number; last: number } | null {
    if (this.rows === 0) return null;
    let first = this.t[0];
    let last = first;
    for (let r = 1; r < this.rows; r++) {
      const x = this.t[r];
      if (x < first) first = x;
      if (x > last) last = x;
    }
    return { first, last };
  }

  private grow(n: number): void {
    const t = takeF64(n);
    t.set(this.t);
    give(this.t);
    this.t = t;
    this.values = this.values.map((a) => {
      const b = takeF64(n);
      b.set(a);
      give(a);
      return b;
    });
    this.present = this.present.map((a) => {
      const b = takeU8(n);
      b.set(a);
      give(a);
      return b;
    });
  }

  /**
   * The rows in time order (stable: rows of the same time keep their order) as one Parquet file's bytes
   * (src/formats/parquet series.ts). The table is spent: its buffers go to the next tables, its rows are gone
   * (`rows` keeps the count).
   */
  encode(metadata: Record<string, string> = {}): Uint8Array {
    // internal invariant: a table is encoded once (its buffers are given away)
    if (this.t === EMPTY_F64) throw new Error('LakeTable encoded twice');
    const bytes = encodeSeriesParquet({
      t: this.t,
      order: this.timeOrder(),
      columns: this.columns.map((name, c) => ({ name, values: this.values[c], present: this.present[c] })),
      metadata,
    });
    give(this.t);
    for (const a of this.values) give(a);
    for (const a of this.present) give(a);
    this.t = EMPTY_F64;
    this.values = [];
    this.present = [];
    return bytes;
  }

  /** Row indexes in time order (the identity when already sorted, the common case). */
  private timeOrder(): Uint32Array {
    const n = this.rows;
    const order = new Uint32Array(n);
    let sorted = true;
    for (let r = 0; r < n; r++) {
      order[r] = r;
      if (r > 0 && this.t[r] < this.t[r - 1]) sorted = false;
    }
    if (!sorted) {
      const t = this.t;
      const idx = Array.from(order).sort((a, b) => t[a] - t[b] || a - b);
      order.set(idx);
    }
    return order;
  }
}
