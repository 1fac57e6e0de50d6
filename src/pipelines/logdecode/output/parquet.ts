/**
 * `decode --format parquet`: the two table layouts as Parquet columns (the file mechanics — row groups,
 * compression, temporary file and rename — are src/formats/parquet).
 *
 * Long (default): one row per decoded value, the content of the NDJSON lines as typed columns
 *   t TIMESTAMP(NANOS, UTC) INT64, device, bus STRING, chn INT32, message, signal STRING, value DOUBLE,
 *   value_int INT64 (nullable), sa INT32 (nullable), label STRING (nullable; only with --choices).
 * `value` is the physical value as a double, always set (NaN/±Infinity kept); for signals the DBC engine decodes
 * as exact integers beyond 2^53 ("wide", decimal strings in NDJSON), `value_int` holds the exact value and `value`
 * the nearest double. A wide value outside the INT64 range (e.g. an unsigned 64-bit value ≥ 2^63) cannot be held
 * exactly: `value_int` is null, `value` the nearest double, and the run counts it (`beyondInt64`, a warning).
 * `sa` is the J1939 source address (NDJSON "sa"), `label` the VAL_ text ("label"). Column statistics: t and device.
 *
 * Wide (--resample): t (interval start), device, then one nullable column per `message.signal` (sorted, as the
 * wide CSV): DOUBLE, or INT64 when every value of the column is an exact integer within INT64 (wide signals).
 */
import type { DecodedBatch } from '../../../codecs/dbc/index.js';
import { SigflowError } from '../../../errors/index.js';
import {
  type Column,
  DoubleColumn,
  fitsInt64,
  Int32Column,
  Int64Column,
  type ParquetFileWriter,
  StringColumn,
  TimestampNsColumn,
} from '../../../formats/parquet/index.js';
import { formatTime } from '../../../units/index.js';
import type { DecoderConfig } from '../dbcset.js';
import { type BatchView, forEachDecodedFrame } from '../pipeline.js';
import type { WideSource } from './wide.js';

const NO_STATS = { statistics: false };

/** The long layout, filled batch by batch while decoding. */
export class LongParquetTable {
  private readonly t = new TimestampNsColumn('t', false);
  private readonly device = new StringColumn('device', false, { dictionary: true });
  // Statistics (min/max) only for t and device: the row groups are in time order, each mixing every signal, so
  // the bounds of the other columns prune nothing, and they cost a comparison per value (~12% of the run).
  private readonly bus = new StringColumn('bus', false, { dictionary: true, statistics: false });
  private readonly chn = new Int32Column('chn', false, NO_STATS);
  private readonly message = new StringColumn('message', false, { dictionary: true, statistics: false });
  private readonly signal = new StringColumn('signal', false, { dictionary: true, statistics: false });
  private readonly value = new DoubleColumn('value', false, NO_STATS);
  private readonly valueInt = new Int64Column('value_int', true, NO_STATS);
  private readonly sa = new Int32Column('sa', true, NO_STATS);
  private readonly label: StringColumn | null;
  /** Wide values that did not fit INT64 (written to `value` as the nearest double only). */
  beyondInt64 = 0;

  constructor(
    private readonly w: ParquetFileWriter,
    private readonly config: DecoderConfig,
    choices: boolean,
  ) {
    this.label = choices ? new StringColumn('label', true, NO_STATS) : null;
    const cols: Column[] = [
      this.t,
      this.device,
      this.bus,
      this.chn,
      this.message,
      this.signal,
      this.value,
      this.valueInt,
      this.sa,
    ];
    if (this.label) cols.push(this.label);
    w.begin(cols);
  }

  /** Adds the values of one batch (rows are encoded into row groups as they fill up). */
  add(view: BatchView, device: string): void {
    const b = view.frames;
    const off = b.offsetNs;
    const chn = b.channel;
    const ids = b.id;
    const time = view.time;
    const decoded = view.decoded as DecodedBatch[];
    const dbs = this.config.databases;
    const { t: tCol, device: devCol, bus, chn: chnCol, message, signal, value, valueInt, sa, label, w } = this;
    // per frame what its values share (time, channel, message, source address), then per value
    forEachDecodedFrame(view, (i, d, start, end) => {
      let t: bigint | null = null; // at the frame's first value the signal filter keeps: a frame without rows is no error
      const c = chn[i];
      const out = decoded[d];
      const db = dbs[d];
      const m = out.message[i];
      const msg = db.messageName[m];
      const source = db.messageJ1939[m] ? ids[i] & 0xff : null;
      const include = db.include;
      const names = db.signalName;
      const wide = db.wide;
      for (let k = start; k < end; k++) {
        const gi = out.signal[k];
        if (include[gi] !== 1) continue;
        if (t === null) {
          t = time.bigint(off[i]);
          if (!fitsInt64(t)) {
            const path = view.file.input.path;
            throw new SigflowError(
              'SF_ERR_LOGDECODE_TIME_RANGE',
              `${path}: time ${formatTime(t)} is beyond the Parquet timestamp range (years 1677–2262)`,
              { where: path },
            );
          }
        }
        tCol.push(t);
        devCol.push(device);
        bus.push('CAN');
        chnCol.push(c);
        message.push(msg);
        signal.push(names[gi]);
        value.push(out.phys[k]);
        const wv = wide[gi] ? out.widePhys[k] : undefined;
        if (wv === undefined) valueInt.push(null);
        else if (fitsInt64(wv)) valueInt.push(wv);
        else {
          valueInt.push(null);
          this.beyondInt64++;
        }
        sa.push(source);
        if (label) {
          const ch = db.hasChoices[gi] ? out.choice[k] : -1;
          label.push(ch >= 0 ? db.db.labels[ch] : null);
        }
        w.endRow();
      }
    });
  }
}

/**
 * Writes the wide table. A column is INT64 when all its values are bigints within INT64, else DOUBLE; returns how
 * many integer values lost precision as doubles (bigints that a double does not hold exactly).
 */
export async function writeWideParquet(w: ParquetFileWriter, table: WideSource): Promise<{ rounded: number }> {
  const n = table.names.length;
  const exactInt = new Array<boolean>(n).fill(true);
  const seen = new Array<boolean>(n).fill(false);
  for (const r of table.rows()) {
    const cells = r.cells;
    for (let c = 0; c < n; c++) {
      const v = cells[c];
      if (v === undefined) continue;
      seen[c] = true;
      if (typeof v !== 'bigint' || !fitsInt64(v)) exactInt[c] = false;
    }
  }
  const t = new TimestampNsColumn('t', false);
  const device = new StringColumn('device', false, { dictionary: true });
  const cols = table.names.map((name, c) =>
    exactInt[c] && seen[c] ? new Int64Column(name, true) : new DoubleColumn(name, true),
  );
  w.begin([t, device, ...cols]);
  let rounded = 0;
  for (const r of table.rows()) {
    t.push(r.t);
    device.push(r.device);
    for (let c = 0; c < n; c++) {
      const v = r.cells[c];
      const col = cols[c];
      if (col instanceof Int64Column) col.push(v === undefined ? null : (v as bigint));
      else if (v === undefined) col.push(null);
      else if (typeof v === 'bigint') {
        const x = Number(v);
        if (BigInt(x) !== v) rounded++;
        col.push(x);
      } else col.push(v);
    }
    w.endRow();
    if (w.hasPending) await w.drain();
  }
  return { rounded };
}
