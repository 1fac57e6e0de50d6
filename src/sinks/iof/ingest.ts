/**
 * One IoF message → the database: its raw backup first (keyed by the digest of its bytes — a message delivered
 * again is recognised and skipped), then its decoded rows with the project's conversions (tag data × the tag's
 * conversion factor, raw kept) and local date/hour. Returns the new depth-tag detections for positioning.
 * Everything is synchronous, so a batch of messages is one SQLite transaction in the caller.
 */
import { createHash } from 'node:crypto';
import type { PacketDecoder } from '../../codecs/bitfield/index.js';
import { localDateHour } from '../../units/index.js';
import type { Detection, IofDatabase } from './database.js';
import type { ProjectIndex } from './project.js';

/** A message as the MQTT source hands it over (`<prefix>message` record fields). */
export interface RawMessage {
  readonly receivedMs: number;
  readonly topic: string | null;
  /** The message bytes (base64), when the payload could be read. */
  readonly data?: string;
  /** The payload as received (base64), when it could not be read. */
  readonly payload?: string;
  readonly snr: number | null;
  /** Why the envelope could not be read (the decode error is found again here). */
  readonly error?: string;
}

export interface IngestResult {
  /** False: already stored (a redelivery), nothing written. */
  readonly stored: boolean;
  readonly rows: number;
  readonly error?: string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export class IofIngest {
  constructor(
    private readonly db: IofDatabase,
    private readonly index: ProjectIndex,
    private readonly decoder: PacketDecoder,
    private readonly zone: string,
  ) {}

  /**
   * Stores one message. `detections` receives each new tag detection of a depth tag whose cage is positioned
   * (positioning runs over them once the whole batch is in).
   */
  message(m: RawMessage, detections: Detection[]): IngestResult {
    const raw = m.data ?? m.payload ?? '';
    const bytes = Buffer.from(raw, 'base64');
    const digest = createHash('sha256')
      .update(m.data === undefined ? 'payload:' : 'data:')
      .update(bytes)
      .digest('hex');
    const received_at = new Date(m.receivedMs).toISOString();
    if (m.data === undefined) {
      const id = this.db.insertBackup({
        digest,
        received_at,
        topic: m.topic,
        data: raw,
        snr: m.snr,
        rows: 0,
        error: m.error ?? 'unreadable payload',
      });
      return { stored: id !== undefined, rows: 0, error: m.error };
    }
    // The backup row first, then its rows: one transaction, so both or neither.
    const id = this.db.insertBackup({
      digest,
      received_at,
      topic: m.topic,
      data: raw,
      snr: m.snr,
      rows: 0,
      error: null,
    });
    if (id === undefined) return { stored: false, rows: 0 };
    const d = this.decoder;
    let row = 0;
    const r = d.decode(bytes, (k) => {
      const x = d.row(k);
      const v = x.values;
      const ts = num(v.timestamp) ?? 0;
      const { date, hour } = localDateHour((x.timeMs ?? ts * 1000) as number, this.zone);
      const base = { message_id: id, row: row++, timestamp: ts, date, hour, tbr_serial_id: num(v.tbr_serial_id) ?? 0 };
      if (x.kind === 'gps') {
        this.db.insertGps({
          ...base,
          slim_status: num(v.slim_status),
          latitude: num(v.latitude),
          longitude: num(v.longitude),
          pdop: num(v.pdop),
          fix: typeof v.fix === 'string' ? v.fix : null,
          fix_code: num(v.fix_code),
          num_sat_tracked: num(v.num_sat_tracked),
        });
      } else if (x.kind === 'tbr') {
        this.db.insertTbr({
          ...base,
          temperature: num(v.temperature),
          temperature_data_raw: num(v.temperature_data_raw),
          noise_avg: num(v.noise_avg),
          noise_peak: num(v.noise_peak),
          frequency: num(v.frequency),
        });
      } else if (x.kind === 'tag') {
        const tagId = num(v.tag_id) ?? 0;
        const frequency = num(v.frequency) ?? 0;
        const rawData = num(v.tag_data);
        const factor = this.index.conversionFactor(tagId, frequency);
        const tagData = rawData === null ? null : factor === null ? rawData : rawData * factor;
        const millisecond = num(v.millisecond) ?? 0;
        this.db.insertTag({
          ...base,
          millisecond,
          comm_protocol: typeof v.comm_protocol === 'string' ? v.comm_protocol : '',
          frequency,
          tag_id: tagId,
          tag_data: tagData,
          tag_data_raw: rawData,
          tag_data_2: num(v.tag_data_2),
          snr: num(v.snr),
        });
        if (this.index.cageOfTag(tagId, frequency))
          detections.push({
            tbr_serial_id: base.tbr_serial_id,
            timestamp: ts,
            millisecond,
            tag_id: tagId,
            frequency,
            tag_data: tagData,
          });
      }
    });
    if (r.rows > 0 || r.error) this.db.setBackupOutcome(id, r.rows, r.error?.message ?? null);
    return { stored: true, rows: r.rows, error: r.error?.message };
  }
}
