/**
 * `payload: { format: packets }`: binary messages (or gateway envelopes holding them) decoded with a bit-field
 * packet spec (src/codecs/bitfield; built-in `iof`). Each message gives a `<prefix>message` record — the raw
 * message, kept whether it decodes or not (the IoF sink's backup, and what it decodes itself) — and one record per
 * decoded row, `<prefix><kind>` (gps, tag, tbr …) at the row's own time, the columns named in `tags` as tags.
 * Nothing is rejected: an unreadable envelope or a message that stops early is stored raw with its `error`.
 */
import { fromEnvelope, loadPacketSpec, type PacketDecoder } from '../../codecs/bitfield/index.js';
import { type FieldValue, msToNs, type TelemetryRecord } from '../../records/index.js';
import type { MqttPayloadOptions } from './config.js';

type PacketsOptions = Extract<MqttPayloadOptions, { format: 'packets' }>;

export class PacketPayloads {
  private readonly decoder: PacketDecoder;
  private readonly tagColumns: ReadonlySet<string>;

  constructor(private readonly o: PacketsOptions) {
    this.decoder = loadPacketSpec(o.spec);
    this.tagColumns = new Set(o.tags);
  }

  /** Appends the message's records to `out`; returns its decoded rows and whether it was read to its end. */
  toRecords(
    topic: string,
    payload: Uint8Array,
    receivedNs: bigint,
    out: TelemetryRecord[],
  ): { rows: number; ok: boolean } {
    const o = this.o;
    const fields: Record<string, FieldValue> = {};
    let bytes: Uint8Array | undefined;
    if (o.envelope) {
      try {
        const env = fromEnvelope(payload);
        bytes = env.bytes;
        for (const [k, v] of Object.entries(env.meta ?? {}))
          if (k !== '__proto__' && ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean'))
            fields[k] = v;
      } catch (err) {
        fields.error = (err as Error).message;
      }
    } else bytes = payload;
    const message: TelemetryRecord = {
      time: receivedNs,
      measurement: `${o.measurement_prefix}message`,
      tags: { topic },
      fields,
    };
    out.push(message);
    if (!bytes) {
      fields.payload = Buffer.from(payload).toString('base64');
      return { rows: 0, ok: false };
    }
    fields.data = Buffer.from(bytes).toString('base64');
    fields.bytes = bytes.length;
    const d = this.decoder;
    const r = d.decode(bytes, (k) => {
      const row = d.row(k);
      const tags: Record<string, string> = {};
      const values: Record<string, FieldValue> = {};
      for (const [name, v] of Object.entries(row.values)) {
        if (this.tagColumns.has(name)) tags[name] = String(v);
        else values[name] = v;
      }
      if (Object.keys(values).length === 0) return;
      out.push({
        time: row.timeMs === undefined ? receivedNs : msToNs(row.timeMs),
        measurement: `${o.measurement_prefix}${row.kind}`,
        tags,
        fields: values,
      });
    });
    fields.rows = r.rows;
    if (r.error) fields.error = r.error.message;
    return { rows: r.rows, ok: r.error === undefined };
  }
}
