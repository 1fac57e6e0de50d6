/**
 * The `mqtt` source's configuration: the broker connection (persistent session by default), the topics, and how
 * a payload becomes records. Defaults live here only.
 */
import { z } from 'zod';
import { boolFlag, durationWholeMs, numberish, sizeBytes } from '../../schema/index.js';

/**
 * Why `filter` is not an MQTT topic filter, or null: `#` only as the whole last level, `+` only as a whole level,
 * no NUL; `$share/<group>/<filter>` with a group of neither wildcard. (A broker refuses a bad one at SUBSCRIBE —
 * and with it the whole subscription, valid filters included.)
 */
export function topicFilterProblem(filter: string): string | null {
  if (filter.includes('\0')) return 'a topic filter holds no NUL character';
  let f = filter;
  if (f.startsWith('$share/')) {
    const [, group, ...rest] = f.split('/');
    if (!group || /[+#]/.test(group) || rest.length === 0 || rest.join('/') === '')
      return 'a shared subscription is $share/<group>/<filter>, the group without + or #';
    f = rest.join('/');
  }
  const levels = f.split('/');
  for (const [i, l] of levels.entries()) {
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '# stands alone as the last level (a/#)';
    if (l.includes('+') && l !== '+') return '+ stands alone as a level (a/+/b)';
  }
  return null;
}

const filter = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    const why = topicFilterProblem(v);
    if (why) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a topic filter: ${why}` });
  });

const topic = z.union([
  filter,
  z.object({ topic: filter, qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1) }).strict(),
]);

/** Where a value comes from: a JSON path (`a.b.0.c`) in the payload, or a topic level (`topic:2`, 0-based). */
const valueRef = z.string().min(1);

const json = z
  .object({
    format: z.literal('json'),
    /** The measurement: a literal, or a reference (`path:type`, `topic:1`). */
    measurement: z.string().min(1).default('mqtt'),
    /** Where the time is (a path); absent: the receive time. */
    time: valueRef.optional(),
    /** The time's unit when it is a number (auto: by magnitude — s, ms, µs or ns since the epoch). */
    time_unit: z.enum(['auto', 's', 'ms', 'us', 'ns']).default('auto'),
    /** Tag name → reference (`topic:1`, `meta.site`). */
    tags: z.record(z.string().min(1), valueRef).default({}),
    /** Field name → path; absent: every top-level number, boolean and string (but the time and the tags). */
    fields: z.record(z.string().min(1), valueRef).optional(),
  })
  .strict();

const raw = z
  .object({
    format: z.literal('raw'),
    measurement: z.string().min(1).default('mqtt'),
    tags: z.record(z.string().min(1), valueRef).default({}),
  })
  .strict();

const envelope = z
  .object({
    /** `{"data": "<base64>", "snr": …}`: the bytes as hex in field `data`, the other numbers as fields. */
    format: z.literal('envelope'),
    measurement: z.string().min(1).default('mqtt'),
    tags: z.record(z.string().min(1), valueRef).default({}),
  })
  .strict();

const packets = z
  .object({
    /** Binary messages through a bit-field packet spec (src/codecs/bitfield): a `<prefix>message` record per
     * message (raw, kept whether it decodes or not) and a `<prefix><kind>` record per decoded row. */
    format: z.literal('packets'),
    /** A built-in spec (`iof`) or a YAML/JSON spec file. */
    spec: z.string().min(1),
    /** true: the payload is a gateway envelope `{"data": "<base64>", "snr": …}`; false: the binary message itself. */
    envelope: boolFlag().default(true),
    /** Put before every measurement name: `iof_` → iof_message, iof_gps, iof_tag, iof_tbr. */
    measurement_prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]*$/, 'letters, digits, _ . -')
      .default(''),
    /** Row columns that become tags (identity: tbr_serial_id, tag_id, frequency); the others are fields. */
    tags: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const mqttSourceConfigSchema = z
  .object({
    type: z.literal('mqtt'),
    /** mqtt://, mqtts://, ws:// or wss:// */
    url: z.string().regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'expected an mqtt://, mqtts://, ws:// or wss:// URL'),
    /** Fixed, so the broker keeps the session across reconnects and restarts (default: sigflow-<pipeline>). */
    client_id: z.string().min(1).max(128).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** TLS: CA bundle, client certificate and key (PEM files); verify the server (default true). */
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    reject_unauthorized: boolFlag().default(true),
    protocol_version: z.union([z.literal(4), z.literal(5)]).default(4),
    /** false: a persistent session — what is published while sigflow is away is kept for it by the broker. */
    clean: boolFlag().default(false),
    /** MQTT 5: how long the broker keeps the session after a disconnect. */
    session_expiry: durationWholeMs({ long: true }).prefault('7d'),
    /** Topics (`$share/<group>/<topic>` to split the load among instances), each with its QoS (default 1). */
    topics: z.array(topic).min(1),
    keepalive: durationWholeMs().prefault('30s'),
    reconnect_period: durationWholeMs().prefault('1s'),
    connect_timeout: durationWholeMs().prefault('30s'),
    /** A larger payload is not decoded: archived (its first bytes) with the reason, and acknowledged. */
    max_payload_bytes: sizeBytes().prefault('256KiB'),
    /** Messages per batch handed to the outbox, and the longest a batch waits to fill. */
    batch_messages: numberish({ integer: true, min: 1, max: 100_000 }).default(1000),
    batch_wait: durationWholeMs({ allowZero: true }).prefault('20ms'),
    payload: z.discriminatedUnion('format', [json, raw, envelope, packets]).prefault({ format: 'json' } as never),
  })
  .strict();

export type MqttSourceConfig = z.input<typeof mqttSourceConfigSchema>;
export type MqttSourceOptions = z.output<typeof mqttSourceConfigSchema>;
export type MqttPayloadOptions = MqttSourceOptions['payload'];
