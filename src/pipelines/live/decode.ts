/**
 * Live frames → records: the DBC engine's batch decoder over a CanFrameBatch, then one record per decoded frame in
 * one of two shapes (`mapping`):
 * - `message` (sigflow's): measurement = message name, tags { device, bus: CAN, chn }, a field per signal (its
 *   physical value: a float, or a bigint for integer signals too wide for a double);
 * - `seed` (the serial logger's, so existing Flux/InfluxQL queries keep working): measurement = the message's
 *   first sender (`UNKNOWN` when none), tag `class` = message name, every signal as a float field, plus field
 *   `can_timestamp` = the frame's own time in seconds. (The seed let cantools return labels for signals with value
 *   tables and then skipped them as non-numeric: they are written here, as numbers.)
 * Time: the frame's own, or with `useNowTime` the receive time, kept strictly increasing (frames of one read share
 * a receive time, and equal series + time would overwrite each other in InfluxDB).
 */
import { type Database, DecodedBatch, ERR_UNKNOWN_ID } from '../../codecs/dbc/index.js';
import { type CanFrameBatch, FRAME_ERROR, FRAME_RTR } from '../../framers/index.js';
import { MAX_RECORD_TIME_MS, type TelemetryRecord } from '../../records/index.js';

export type RecordMapping = 'message' | 'seed';

export interface LiveDecoderOptions {
  db: Database;
  mapping: RecordMapping;
  /** `device` tag of the `message` mapping. */
  device: string;
  useNowTime: boolean;
  /** Match extended frames by J1939 PGN when no message has their exact id (default true). */
  j1939?: boolean;
}

export interface LiveDecodeCounters {
  frames_seen: number;
  decoded: number;
  unknown_ids: number;
  /** Frames of a known id that did not decode (too short for the message, a multiplexer value with no branch). */
  decode_errors: number;
  /** Remote and error frames (nothing to decode). */
  skipped: number;
  /**
   * Decoded frames whose time is no number of µs within the range of a record's ns time (±292 years around 1970;
   * a damaged timestamp read with checks off: NaN, ±Infinity, 1e300): skipped, the other frames go on.
   */
  bad_times: number;
  records: number;
  values: number;
}

const CHANNEL_TAGS: string[] = Array.from({ length: 256 }, (_, i) => String(i));

export class LiveDecoder {
  readonly counters: LiveDecodeCounters = {
    frames_seen: 0,
    decoded: 0,
    unknown_ids: 0,
    decode_errors: 0,
    skipped: 0,
    bad_times: 0,
    records: 0,
    values: 0,
  };
  private readonly out = new DecodedBatch();
  private lastNowUs = 0;
  /** Per message index: the seed's measurement (first sender) and tags, made once. */
  private readonly seedOf: { measurement: string; tags: Record<string, string> }[];
  private readonly names: string[];

  constructor(private readonly o: LiveDecoderOptions) {
    this.seedOf = o.db.messages.map((m) => ({ measurement: m.senders[0] || 'UNKNOWN', tags: { class: m.name } }));
    this.names = o.db.signals.map((s) => s.name);
  }

  /** Is a frame with this id decodable (records21's `auto` layout asks). */
  known(id: number, ext: boolean): boolean {
    return this.o.db.lookup(id, ext, this.o.j1939 ?? true) !== undefined;
  }

  /** Appends the records of `batch` (received at `receivedUs`, µs since the epoch) to `out`. */
  decode(batch: CanFrameBatch, receivedUs: number, out: TelemetryRecord[]): void {
    const n = batch.count;
    const c = this.counters;
    c.frames_seen += n;
    if (n === 0) return;
    const d = this.out;
    this.o.db.decodeBatch(batch, d, { choices: false, j1939: this.o.j1939 ?? true });
    const { db, mapping, device } = this.o;
    const names = this.names;
    const wideSig = db.wide;
    for (let i = 0; i < n; i++) {
      if ((batch.flags[i] & (FRAME_RTR | FRAME_ERROR)) !== 0) {
        c.skipped++;
        continue;
      }
      const mi = d.message[i];
      if (mi < 0) {
        if (mi === ERR_UNKNOWN_ID) c.unknown_ids++;
        else c.decode_errors++;
        continue;
      }
      c.decoded++;
      const frameUs = batch.timeUs[i];
      // a time no record can hold (NaN too): the frame is dropped and counted — unless use_now_time stamps it,
      // then it is counted and kept (its own time is then not written as the seed mapping's can_timestamp)
      const frameTimeOk = Math.abs(frameUs) < MAX_RECORD_TIME_MS * 1000;
      if (!frameTimeOk) {
        c.bad_times++;
        if (!this.o.useNowTime) continue;
      }
      let us = frameUs;
      if (this.o.useNowTime) {
        us = receivedUs > this.lastNowUs ? receivedUs : this.lastNowUs + 1;
        this.lastNowUs = us;
      }
      const time = BigInt(Math.round(us)) * 1000n;
      const fields: Record<string, number | bigint> = {};
      let values = 0;
      const seed = mapping === 'seed';
      for (let k = d.start[i], e = d.start[i + 1]; k < e; k++) {
        const gi = d.signal[k];
        const wide = wideSig[gi] ? d.widePhys[k] : undefined;
        const v = wide !== undefined ? (seed ? Number(wide) : wide) : d.phys[k];
        const name = names[gi];
        if (name === '__proto__') Object.defineProperty(fields, name, { value: v, enumerable: true, writable: true });
        else fields[name] = v;
        values++;
      }
      if (seed) {
        if (frameTimeOk) fields.can_timestamp = frameUs / 1e6;
        const s = this.seedOf[mi];
        out.push({ time, measurement: s.measurement, tags: s.tags, fields });
      } else {
        if (values === 0) continue;
        out.push({
          time,
          measurement: db.messages[mi].name,
          tags: { device, bus: 'CAN', chn: CHANNEL_TAGS[batch.channel[i]] },
          fields,
        });
      }
      c.records++;
      c.values += values;
    }
  }
}
