/**
 * The resampler behind the wide tables (`--resample`): one row per (device, bucket) where bucket =
 * floor(t / step) · step; one column per `<message>.<signal>` that has a value anywhere; a cell holds the last value
 * of that signal in the bucket in read order (time order within a file; files in tree order), empty when the bucket
 * has none (no fill). Rows are held in memory until the end, bounded by `maxCells` (SF_ERR_LOGDECODE_RESAMPLE_LIMIT
 * beyond). Written as wide CSV here, as wide Parquet by parquet.ts.
 */
import type { DecodedBatch } from '../../../codecs/dbc/index.js';
import { SigflowError } from '../../../errors/index.js';
import type { DecoderConfig } from '../dbcset.js';
import { type BatchView, forEachValue } from '../pipeline.js';
import { type ByteWriter, utf8 } from './byte-writer.js';
import { csvField } from './format.js';

/** One cell of the wide table: a double, an exact integer (wide signals), or empty. */
export type WideCell = number | bigint | undefined;

/** A row of the wide table: interval start, device, and cells indexed like `WideSource.names`. */
export interface WideRow {
  t: bigint;
  device: string;
  cells: WideCell[];
}

export interface WideSource {
  /** Column names in output order. */
  names: string[];
  /** The rows in output order (iterated twice by the Parquet writer: once to choose column types, once to write). */
  rows: () => Iterable<WideRow>;
}

export class WideTable {
  private readonly columns = new Map<string, number>();
  private readonly rows = new Map<string, Map<bigint, WideCell[]>>();
  private cells = 0;

  constructor(
    private readonly step: bigint,
    private readonly maxCells: number,
  ) {}

  /** Takes the values of one batch of `device`'s log into their buckets. */
  add(view: BatchView, config: DecoderConfig, device: string): void {
    const b = view.frames;
    const decoded = view.decoded as DecodedBatch[];
    const dbs = config.databases;
    const rows = this.rowsOf(device);
    let lastI = -1;
    let row: WideCell[] = [];
    forEachValue(view, (i, d, k) => {
      if (i !== lastI) {
        lastI = i;
        row = this.bucket(rows, view.time.bigint(b.offsetNs[i]));
      }
      const out = decoded[d];
      const gi = out.signal[k];
      const c = this.column(dbs[d].column[gi]);
      if (row[c] === undefined && ++this.cells > this.maxCells) {
        throw new SigflowError(
          'SF_ERR_LOGDECODE_RESAMPLE_LIMIT',
          `--resample: more than ${this.maxCells} cells (rows × columns) to hold; use a longer interval, --signals, --from/--to, or --max-cells`,
        );
      }
      row[c] = dbs[d].wide[gi] ? (out.widePhys[k] ?? out.phys[k]) : out.phys[k];
    });
  }

  private rowsOf(device: string): Map<bigint, WideCell[]> {
    let rows = this.rows.get(device);
    if (!rows) {
      rows = new Map();
      this.rows.set(device, rows);
    }
    return rows;
  }

  private bucket(rows: Map<bigint, WideCell[]>, t: bigint): WideCell[] {
    const r = t % this.step;
    const start = t - (r < 0n ? r + this.step : r);
    let row = rows.get(start);
    if (!row) {
      row = [];
      rows.set(start, row);
    }
    return row;
  }

  private column(name: string): number {
    let c = this.columns.get(name);
    if (c === undefined) {
      c = this.columns.size;
      this.columns.set(name, c);
    }
    return c;
  }

  /** The table in output order: columns sorted by name; devices sorted, each with its rows by interval. */
  sorted(): WideSource {
    const names = [...this.columns.keys()].sort();
    const order = names.map((n) => this.columns.get(n) as number);
    const rows = this.rows;
    function* iterate(): Generator<WideRow> {
      for (const device of [...rows.keys()].sort()) {
        const byBucket = rows.get(device) as Map<bigint, WideCell[]>;
        const keys = [...byBucket.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const k of keys) {
          const r = byBucket.get(k) as WideCell[];
          yield { t: k, device, cells: order.map((c) => r[c]) };
        }
      }
    }
    return { names, rows: iterate };
  }
}

/** Writes the wide table as CSV: `t,device,<message.signal>…`, empty cells for buckets without a value. */
export async function writeWideCsv(table: WideSource, w: ByteWriter): Promise<void> {
  const { names, rows } = table;
  w.push(`t,device,${names.map(csvField).join(',')}\n`);
  let device = '';
  let deviceBytes = utf8(',');
  for (const r of rows()) {
    if (r.device !== device) {
      device = r.device;
      deviceBytes = utf8(`,${csvField(device)}`);
    }
    w.ascii(String(r.t));
    w.bytes(deviceBytes);
    for (const v of r.cells) {
      w.reserve(1);
      w.buf[w.pos++] = 44;
      if (v === undefined) continue;
      if (typeof v === 'bigint') w.ascii(String(v));
      else w.number(v, false);
    }
    w.reserve(1);
    w.buf[w.pos++] = 10;
    if (w.full) await w.flush();
  }
}
