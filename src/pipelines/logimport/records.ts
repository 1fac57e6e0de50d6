/**
 * Decoded log frames → records: one record per decoded CAN frame and database, measurement = message name,
 * tags = { device, bus, chn } (+ `sa` for J1939 messages), one field per signal (physical value: a float, or a
 * bigint for integer signals too wide for a double).
 */

import { BUS_CAN, EV_CAN_DATA } from '../../formats/mdf4/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { type BatchView, j1939Sa } from '../logdecode/index.js';

const CHANNEL_TAGS: string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** Appends the records of one batch to `out`; returns how many values they hold. */
export function recordsFromBatch(view: BatchView, device: string, out: TelemetryRecord[]): number {
  const { frames: b, decoded, dbsOfChannel: table, config } = view;
  if (!decoded || !table || !config) return 0;
  let values = 0;
  const start = b.startNs;
  for (let i = 0; i < b.count; i++) {
    if (b.type[i] !== EV_CAN_DATA || b.bus[i] !== BUS_CAN) continue;
    const set = table[b.channel[i]];
    for (let s = 0; s < set.length; s++) {
      const d = set[s];
      const res = decoded[d];
      const mi = res.message[i];
      if (mi < 0) continue;
      const dd = config.databases[d];
      const fields: Record<string, number | bigint> = {};
      let n = 0;
      for (let k = res.start[i], e = res.start[i + 1]; k < e; k++) {
        const gi = res.signal[k];
        if (dd.include[gi] !== 1) continue;
        const name = dd.signalName[gi];
        const wide = dd.wide[gi] ? res.widePhys[k] : undefined;
        const value = wide !== undefined ? wide : res.phys[k];
        if (name === '__proto__') Object.defineProperty(fields, name, { value, enumerable: true, writable: true });
        else fields[name] = value;
        n++;
      }
      if (n === 0) continue;
      values += n;
      const tags: Record<string, string> = { device, bus: 'CAN', chn: CHANNEL_TAGS[b.channel[i]] };
      if (dd.messageJ1939[mi]) tags.sa = String(j1939Sa(b.id[i]));
      out.push({ time: start + BigInt(b.offsetNs[i]), measurement: dd.messageName[mi], tags, fields });
    }
  }
  return values;
}
