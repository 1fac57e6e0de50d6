/**
 * The `lake` sink: records from the outbox (`sigflow run`, `sigflow import`) into the Parquet lake of
 * src/formats/lake, in CSS's layout — each batch one file per device, message folder and UTC day,
 * `<ID>/<folder>/<YYYY>/<MM>/<DD>/b_<hash>.parquet`, with `t` TIMESTAMP(MICROS, UTC) and one nullable DOUBLE per
 * numeric field. The folder of a CAN record (tags bus and chn, from the message mapping or an import) is
 * `<bus><chn>_<measurement>` (`_S<SA>` with a tag sa), any other record's its measurement; the device is the
 * `device_tag` tag. A file's name is a hash of its rows, so a batch written again (a retry, a crash before the
 * outbox took the answer) replaces its files instead of adding copies. Each write rewrites the `messages` table of
 * the devices it touched. `sigflow lake compact` merges the batch files of a day like the per-log ones.
 */
import { createHash } from 'node:crypto';
import {
  columnNames,
  dayOf,
  type LakeStore,
  LakeTable,
  openLakeStore,
  safeSegment,
  tableKey,
  uniqueSegment,
  writeSideTables,
} from '../../formats/lake/index.js';
import type { Sink, WriteResult } from '../../outbox/index.js';
import type { FieldValue, TelemetryRecord } from '../../records/index.js';
import type { LakeSinkOptions } from './config.js';

/** A field as a lake value: numbers as they are, integers as doubles (exact below 2^53), booleans 1/0. */
function numeric(v: FieldValue): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

/** The message folder of a record (see the file comment). */
function folderOf(r: TelemetryRecord): string {
  const { bus, chn, sa } = r.tags;
  if (bus && chn && /^\d+$/.test(chn)) {
    const suffix = sa && /^\d+$/.test(sa) ? `_S${Number(sa).toString(16).toUpperCase().padStart(2, '0')}` : '';
    return uniqueSegment(`${safeSegment(bus)}${chn}_${uniqueSegment(r.measurement)}${suffix}`);
  }
  return uniqueSegment(r.measurement);
}

export class LakeSink implements Sink {
  readonly name: string;
  private readonly store: LakeStore;

  constructor(private readonly o: LakeSinkOptions) {
    this.name = o.name;
    this.store = openLakeStore(o.lake, { endpoint: o.s3_endpoint, region: o.s3_region, caFile: o.s3_ca });
  }

  async write(batch: readonly TelemetryRecord[]): Promise<WriteResult> {
    const groups = new Map<string, { device: string; folder: string; day: number; rows: number[] }>();
    const rejected: { index: number; reason: string }[] = [];
    batch.forEach((r, i) => {
      if (!Object.values(r.fields).some((v) => numeric(v) !== null)) {
        rejected.push({ index: i, reason: 'no numeric field: the lake holds numbers only (strings are left out)' });
        return;
      }
      // folders named after each, distinct for distinct names and never too long (uniqueSegment)
      const device = uniqueSegment(r.tags[this.o.device_tag] || 'unknown');
      const folder = folderOf(r);
      const day = dayOf(Number(r.time / 1000n));
      const id = `${device}/${folder}/${day}`;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { device, folder, day, rows: [] }));
      g.rows.push(i);
    });
    try {
      for (const g of groups.values()) {
        const columns: string[] = [];
        const seen = new Map<string, number>();
        for (const i of g.rows)
          for (const [k, v] of Object.entries(batch[i].fields))
            if (!seen.has(k) && numeric(v) !== null) {
              seen.set(k, columns.length);
              columns.push(k);
            }
        const table = new LakeTable(columnNames(columns));
        const h = createHash('sha256');
        for (const i of g.rows) {
          const r = batch[i];
          const row = table.addRow(Number(r.time / 1000n));
          h.update(`${r.time}`);
          for (const [k, v] of Object.entries(r.fields)) {
            const x = numeric(v);
            if (x === null) continue;
            table.set(row, seen.get(k) as number, x);
            h.update(`|${k}=${x}`);
          }
          h.update('\n');
        }
        const key = tableKey(g.device, g.folder, g.day, `b_${h.digest('hex').slice(0, 16)}`);
        await this.store.putBytes(key, table.encode());
      }
      await writeSideTables(this.store, new Map([...groups.values()].map((g) => [g.device, null])));
    } catch (e) {
      // a full disk, an unreachable bucket: the outbox keeps the batch and tries again
      return { kind: 'retry', reason: `${this.name}: ${(e as Error).message}` };
    }
    if (rejected.length === batch.length) return { kind: 'permanent', reason: rejected[0].reason };
    if (rejected.length) return { kind: 'partial', rejected, reason: rejected[0].reason };
    return { kind: 'ok' };
  }

  async close(): Promise<void> {
    this.store.close();
  }
}
