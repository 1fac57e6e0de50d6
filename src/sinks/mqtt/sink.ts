/**
 * The `mqtt` sink: records published to any MQTT broker, on topics made from a template (`{measurement}`,
 * `{tag:<name>}`), as JSON or InfluxDB line protocol:
 *
 *   - `format: json`: per topic and PUBLISH a JSON array of records
 *     `[{"time": "<RFC 3339, ns>" | <ms>, "measurement": "…", "tags": {…}, "fields": {…}}, …]`
 *     (integers are JSON integers, exact to int64; sigflow's own mqtt source reads such arrays);
 *   - `format: line`: per topic and PUBLISH the records' lines (ns timestamps), each ending with a newline.
 *
 * A write's records are packed per topic into PUBLISHes of at most `max_payload_bytes`. QoS 1 (default): `ok` only
 * once every PUBLISH has its PUBACK; QoS 0: once written to the socket. A record without a topic (a missing tag),
 * with a value the format cannot carry (NaN, ±Infinity, integers beyond int64; line protocol's own rules) or larger
 * than a payload is rejected by index in a `partial` result (dead-lettered with the reason); the rest is sent.
 */

import {
  byteLength,
  JSON_ARRAY,
  jsonValue,
  LINES,
  linkOptions,
  MqttLink,
  type OutgoingMessage,
  Packer,
} from '../../mqtt/index.js';
import type { Sink, SinkContext, WriteResult } from '../../outbox/index.js';
import { LineEncoder, nsToIso, type TelemetryRecord } from '../../records/index.js';
import { type MqttSinkConfig, type MqttSinkOptions, mqttSinkConfigSchema } from './config.js';
import { TopicTemplate } from './topic.js';

export class MqttSink implements Sink {
  readonly name: string;
  readonly config: MqttSinkOptions;
  readonly topic: TopicTemplate;
  private readonly link: MqttLink;
  private readonly lines = new LineEncoder('ns');

  constructor(config: MqttSinkConfig, context: SinkContext = {}) {
    const c = mqttSinkConfigSchema.parse(config);
    this.config = c;
    this.name = c.name;
    this.topic = new TopicTemplate(c.topic, `${c.name}.topic`);
    this.link = new MqttLink(
      linkOptions(c, {
        qos: c.qos,
        retain: c.retain,
        subscriptions: [],
        ...(context.info ? { info: context.info } : {}),
        ...(context.stateDir ? { stateDir: context.stateDir } : {}),
      }),
    );
  }

  /** One record as JSON or a line, or why it cannot be. */
  encodeRecord(r: TelemetryRecord): string | { problem: string } {
    if (this.config.format === 'line') {
      const { line, problems } = this.lines.encodeOne(r);
      if (problems !== null || line === null) return { problem: problems ?? 'record has no fields' };
      return line;
    }
    const fields: string[] = [];
    const problems: string[] = [];
    for (const f of Object.keys(r.fields)) {
      const v = jsonValue(r.fields[f]);
      if (typeof v === 'string') fields.push(`${JSON.stringify(f)}:${v}`);
      else problems.push(`field ${JSON.stringify(f)}: ${v.problem}`);
    }
    if (problems.length > 0) return { problem: problems.join('; ') };
    if (fields.length === 0) return { problem: 'record has no fields' };
    const time = this.config.time_format === 'ms' ? (r.time / 1_000_000n).toString() : JSON.stringify(nsToIso(r.time));
    return `{"time":${time},"measurement":${JSON.stringify(r.measurement)},"tags":${JSON.stringify(r.tags)},"fields":{${fields.join(',')}}}`;
  }

  /** The messages of a batch (per topic, packed under max_payload_bytes) and the records rejected. */
  encode(batch: readonly TelemetryRecord[]): {
    messages: OutgoingMessage[];
    rejected: { index: number; reason: string }[];
  } {
    const max = this.config.max_payload_bytes;
    const fmt = this.config.format === 'line' ? LINES : JSON_ARRAY;
    const packers = new Map<string, Packer>();
    const rejected: { index: number; reason: string }[] = [];
    for (let index = 0; index < batch.length; index++) {
      const r = batch[index];
      const topic = this.topic.render(r);
      if (typeof topic !== 'string') {
        rejected.push({ index, reason: topic.problem });
        continue;
      }
      const item = this.encodeRecord(r);
      if (typeof item !== 'string') {
        rejected.push({ index, reason: item.problem });
        continue;
      }
      let p = packers.get(topic);
      if (!p) packers.set(topic, (p = new Packer(fmt, max)));
      const bytes = byteLength(item);
      if (!p.fitsAlone(bytes)) {
        rejected.push({ index, reason: `${bytes} bytes do not fit in max_payload_bytes (${max})` });
        continue;
      }
      p.add(item, bytes);
    }
    const messages: OutgoingMessage[] = [];
    for (const [topic, p] of packers) for (const payload of p.finish()) messages.push({ topic, payload });
    return { messages, rejected };
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    const { messages, rejected } = this.encode(batch);
    return this.link.writeBatch(
      messages.length ? () => messages : null,
      batch.length,
      rejected,
      'cannot be published',
      signal,
    );
  }

  /** Connects (and stays connected). Null, or why not. */
  probe(signal?: AbortSignal): Promise<string | null> {
    return this.link.probe(signal);
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
