/**
 * One lake table file being assembled: the rows of one message folder on one day from one log (or, compacted,
 * from several). Columns: `t` — TIMESTAMP(MICROS, UTC), what Spark/Glue/Athena read — and one nullable DOUBLE per
 * signal, the stable type CSS's lake uses (a signal is DOUBLE in every file, whatever its DBC type; absent from a
 * row — another multiplexer branch, a short frame — it is null). Rows are kept in growing typed arrays until
 * written; a table is one log's worth of one message, so it is bounded by the log's size.
 */
import { writeSeriesParquet } from '../parquet/index.js';

export class LakeTable {
  rows = 0;
  /** Row times, µs since the epoch (exact as doubles until the year 2255). */
  private t = new Float64Array(256);
  private values: Float64Array[];
  private present: Uint8Array[];

  constructor(
    /** The signal columns, in order. */
    readonly columns: readonly string[],
  ) {
    this.values = columns.map(() => new Float64Array(256));
    this.present = columns.map(() => new Uint8Array(256));
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
    const t = new Float64Array(n);
    t.set(this.t);
    this.t = t;
    this.values = this.values.map((a) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    });
    this.present = this.present.map((a) => {
      const b = new Uint8Array(n);
      b.set(a);
      return b;
    });
  }

  /**
   * Writes the rows to `path` in time order (stable: rows of the same time keep their order) as one Parquet file,
   * complete or not at all (the writer's temporary file and rename).
   */
  async write(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await writeSeriesParquet(path, {
      t: this.t,
      order: this.timeOrder(),
      columns: this.columns.map((name, c) => ({ name, values: this.values[c], present: this.present[c] })),
      metadata,
    });
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
