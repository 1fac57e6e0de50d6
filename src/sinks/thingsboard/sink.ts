/**
 * The `thingsboard` sink: telemetry over MQTT 3.1.1 to ThingsBoard, QoS 1, each PUBLISH counted only on its PUBACK,
 * paced under ThingsBoard's per-device rate limits (src/mqtt).
 *
 *   - api device:  `v1/devices/me/telemetry`  `[{"ts": <ms>, "values": {"<key>": <value>, …}}, …]`
 *   - api gateway: `v1/gateway/connect` `{"device": "<name>"}` once per device and connection, then
 *                  `v1/gateway/telemetry` `{"<name>": [{"ts", "values"}, …], …}` (the name from `device_tag`)
 *
 * Records of a batch with the same millisecond (and device) share one `{ts, values}` entry; a payload never exceeds
 * `max_payload_bytes` (entries, and a large entry's values, are spread over several PUBLISHes). The record's own time
 * is always sent (never the send time: seed defect 2). A record that cannot be sent — no fields, a value JSON cannot
 * carry, a value larger than a payload, no device tag in gateway mode — is rejected by index in a `partial` result
 * (dead-lettered with the reason), never dropped silently; the rest of the batch is sent.
 *
 * With a `remoteConfig` receiver the sink subscribes, on every connect, to `v1/devices/me/attributes` and
 * `v1/devices/me/attributes/response/+` and asks for the `config_attribute` shared attribute
 * (`v1/devices/me/attributes/request/<n>` `{"sharedKeys": "<attribute>"}`; the seed never subscribed to the
 * response, defect 4, and subscribed only once, defect 5); the attribute's value goes to the receiver.
 */

import {
  byteLength,
  GroupedPacker,
  JSON_ARRAY,
  jsonValue,
  type LinkSession,
  linkOptions,
  MqttLink,
  type OutgoingMessage,
  Packer,
} from '../../mqtt/index.js';
import type { Sink, SinkContext, WriteResult } from '../../outbox/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { type ThingsboardSinkConfig, type ThingsboardSinkOptions, thingsboardSinkConfigSchema } from './config.js';

export const TELEMETRY_TOPIC = 'v1/devices/me/telemetry';
export const ATTRIBUTES_TOPIC = 'v1/devices/me/attributes';
export const ATTRIBUTES_RESPONSE_TOPIC = 'v1/devices/me/attributes/response/';
export const ATTRIBUTES_REQUEST_TOPIC = 'v1/devices/me/attributes/request/';
export const GATEWAY_CONNECT_TOPIC = 'v1/gateway/connect';
export const GATEWAY_TELEMETRY_TOPIC = 'v1/gateway/telemetry';

interface Encoded {
  /** device ('' for api device) → ms → key → JSON text of the value. */
  readonly byDevice: Map<string, Map<number, Map<string, string>>>;
  readonly rejected: { index: number; reason: string }[];
}

/** `{"ts":<ms>,"values":{` … `}}` around the pairs. */
function entryText(ts: number, pairs: readonly string[]): string {
  return `{"ts":${ts},"values":{${pairs.join(',')}}}`;
}

export class ThingsboardSink implements Sink {
  readonly name: string;
  readonly config: ThingsboardSinkOptions;
  private readonly link: MqttLink;
  private requests = 0;
  /** gateway: the devices announced (v1/gateway/connect acknowledged) on connection `session`. */
  private announced = { session: 0, devices: new Set<string>() };

  constructor(config: ThingsboardSinkConfig, context: SinkContext = {}) {
    const c = thingsboardSinkConfigSchema.parse(config);
    this.config = c;
    this.name = c.name;
    const remote = context.remoteConfig;
    this.link = new MqttLink(
      linkOptions(
        {
          ...c,
          // the access token is the MQTT username (never logged: reasons name the broker's address only)
          username: c.access_token ?? c.username,
          password: c.access_token ? undefined : c.password,
        },
        {
          qos: 1,
          retain: false,
          subscriptions: remote ? [ATTRIBUTES_TOPIC, `${ATTRIBUTES_RESPONSE_TOPIC}+`] : [],
          ...(remote
            ? {
                onConnect: (s: LinkSession) => this.requestConfig(s),
                onMessage: (topic: string, payload: Buffer) => this.onMessage(topic, payload, remote, context.info),
              }
            : {}),
          ...(context.info ? { info: context.info } : {}),
          ...(context.stateDir ? { stateDir: context.stateDir } : {}),
        },
      ),
    );
  }

  /** Asks for the config attribute (answered on …/attributes/response/<n>). */
  private requestConfig(s: LinkSession): void {
    const id = ++this.requests;
    this.link.publishAside(s, {
      topic: `${ATTRIBUTES_REQUEST_TOPIC}${id}`,
      payload: JSON.stringify({ sharedKeys: this.config.config_attribute }),
    });
  }

  private onMessage(
    topic: string,
    payload: Buffer,
    remote: NonNullable<SinkContext['remoteConfig']>,
    info: SinkContext['info'],
  ): void {
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      info?.(`${this.name}: a message on ${topic} is not JSON; ignored`);
      return;
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return;
    // a push carries the changed shared attributes; a response {"client": {…}, "shared": {…}}
    const attrs = (topic.startsWith(ATTRIBUTES_RESPONSE_TOPIC) ? (doc as { shared?: unknown }).shared : doc) as
      | Record<string, unknown>
      | undefined;
    const key = this.config.config_attribute;
    if (!attrs || typeof attrs !== 'object' || !Object.hasOwn(attrs, key)) return;
    let value = attrs[key];
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        /* a plain string: handed over as it is */
      }
    }
    remote(this.name, value);
  }

  /** The telemetry key of field `f` of record `r`, or null. */
  private keyOf(r: TelemetryRecord, f: string): string {
    const c = this.config;
    const base = c.key === 'field' ? f : `${r.measurement}.${f}`;
    if (c.tags === 'drop') return base;
    const names = Object.keys(r.tags)
      .filter((k) => r.tags[k] !== '' && !(c.api === 'gateway' && k === c.device_tag))
      .sort();
    if (names.length === 0) return base;
    return `${names.map((k) => r.tags[k]).join('.')}.${base}`;
  }

  /**
   * The payload bytes a PUBLISH may carry: ThingsBoard's limit (netty's max_payload_size, 64 KiB by default) is
   * on the packet's remaining length — topic (2-byte length + name) and packet id (2) included — so a payload of
   * exactly max_payload_bytes was refused (the connection closed) and the batch retried forever.
   */
  private payloadBudget(): number {
    const topic = this.config.api === 'device' ? TELEMETRY_TOPIC : GATEWAY_TELEMETRY_TOPIC;
    return this.config.max_payload_bytes - (4 + byteLength(topic));
  }

  /** Groups the batch by device and millisecond; rejects what cannot be sent, with the reason. */
  encode(batch: readonly TelemetryRecord[]): Encoded {
    const c = this.config;
    const max = this.payloadBudget();
    const byDevice = new Map<string, Map<number, Map<string, string>>>();
    const rejected: { index: number; reason: string }[] = [];
    const flat = new Packer(JSON_ARRAY, max);
    const grouped = new GroupedPacker(max);
    /** device → ms → key → the index of the record that set it; device → key → its latest ms in this batch. */
    const owners = new Map<string, Map<number, Map<string, number>>>();
    const lastMs = new Map<string, Map<string, number>>();
    /** device/series/time → the ms a record was moved to (a copy of it sent again goes there too). */
    const moved = new Map<string, number>();
    const seriesOf = (x: TelemetryRecord) =>
      `${x.measurement}\0${JSON.stringify(Object.entries(x.tags).sort((a, b) => (a[0] < b[0] ? -1 : 1)))}`;
    for (let index = 0; index < batch.length; index++) {
      const r = batch[index];
      const reject = (reason: string) => rejected.push({ index, reason });
      let device = '';
      if (c.api === 'gateway') {
        device = r.tags[c.device_tag] ?? '';
        if (device === '') {
          reject(`no "${c.device_tag}" tag: the gateway api needs the device's name`);
          continue;
        }
      }
      if (r.time < 0n) {
        reject(`time ${r.time} ns is before 1970`);
        continue;
      }
      let ts = Number(r.time / 1_000_000n);
      const pairs: [string, string][] = [];
      const problems: string[] = [];
      for (const f of Object.keys(r.fields)) {
        const text = jsonValue(r.fields[f]);
        if (typeof text !== 'string') {
          problems.push(`field ${JSON.stringify(f)}: ${text.problem}`);
          continue;
        }
        const key = this.keyOf(r, f);
        const pair = `${JSON.stringify(key)}:${text}`;
        const bytes = byteLength(entryText(ts, [pair]));
        if (c.api === 'gateway' ? !grouped.fitsAlone(device, bytes) : !flat.fitsAlone(bytes)) {
          problems.push(`field ${JSON.stringify(f)}: ${bytes} bytes do not fit in max_payload_bytes (${max})`);
          continue;
        }
        pairs.push([key, text]);
      }
      if (problems.length > 0 || pairs.length === 0) {
        reject(problems.length > 0 ? problems.join('; ') : 'record has no fields');
        continue;
      }
      // ThingsBoard keeps one value per key and ms. A key another record of this batch set at the same ms:
      // - the same series at the same time (a record sent twice): one value, the later — as ThingsBoard would;
      // - the same series at another time within the ms (a burst): moved after the key's last ms, so both are points;
      // - another series (tags dropped by `tags: drop`): refused, named — it would overwrite that series' value.
      // (Records in time order find their ms free: nothing more is done for them.)
      let devOwners = owners.get(device);
      if (!devOwners) owners.set(device, (devOwners = new Map()));
      let devLast = lastMs.get(device);
      if (!devLast) lastMs.set(device, (devLast = new Map()));
      const atTs = devOwners.get(ts);
      if (atTs && pairs.some(([k]) => atTs.has(k))) {
        const series = seriesOf(r);
        const clash = pairs.find(([k]) => {
          const o = atTs.get(k);
          return o !== undefined && seriesOf(batch[o]) !== series;
        });
        if (clash) {
          reject(
            `key ${JSON.stringify(clash[0])} at ${new Date(ts).toISOString()} is also another series' (its tags are dropped: use tags: prefix)`,
          );
          continue;
        }
        if (pairs.some(([k]) => atTs.has(k) && batch[atTs.get(k) as number].time !== r.time)) {
          // moved to the first ms after every ms any of its keys has in this batch (nothing overwritten; O(keys)),
          // or where the same record went before
          const point = `${device}\0${series}\0${r.time}`;
          const again = moved.get(point);
          if (again !== undefined) ts = again;
          else {
            for (const [k] of pairs) ts = Math.max(ts, (devLast.get(k) ?? ts) + 1);
            moved.set(point, ts);
          }
        }
      }
      let byTs = byDevice.get(device);
      if (!byTs) byDevice.set(device, (byTs = new Map()));
      let values = byTs.get(ts);
      if (!values) byTs.set(ts, (values = new Map()));
      let mine = devOwners.get(ts);
      if (!mine) devOwners.set(ts, (mine = new Map()));
      for (const [k, v] of pairs) {
        values.set(k, v);
        mine.set(k, index);
        if ((devLast.get(k) ?? ts) <= ts) devLast.set(k, ts);
      }
    }
    return { byDevice, rejected };
  }

  /** The PUBLISH payloads of the encoded batch (entries split and packed under max_payload_bytes). */
  payloads(e: Encoded): string[] {
    const c = this.config;
    const max = this.payloadBudget();
    const flat = new Packer(JSON_ARRAY, max);
    const grouped = new GroupedPacker(max);
    for (const [device, byTs] of e.byDevice) {
      const fits = (bytes: number) => (c.api === 'gateway' ? grouped.fitsAlone(device, bytes) : flat.fitsAlone(bytes));
      const add = (text: string) => (c.api === 'gateway' ? grouped.add(device, text) : flat.add(text));
      for (const ts of [...byTs.keys()].sort((a, b) => a - b)) {
        const pairs = [...(byTs.get(ts) as Map<string, string>)].map(([k, v]) => `${JSON.stringify(k)}:${v}`);
        const whole = entryText(ts, pairs);
        if (fits(byteLength(whole))) {
          add(whole);
          continue;
        }
        // a large entry: its values over several entries of the same ts (each pair fits alone: checked in encode)
        let part: string[] = [];
        for (const p of pairs) {
          if (part.length > 0 && !fits(byteLength(entryText(ts, [...part, p])))) {
            add(entryText(ts, part));
            part = [];
          }
          part.push(p);
        }
        if (part.length > 0) add(entryText(ts, part));
      }
    }
    return c.api === 'gateway' ? grouped.finish() : flat.finish();
  }

  /** The messages of a write on connection `s`: gateway connects for devices new to it, then the telemetry. */
  private plan(e: Encoded, payloads: string[], s: LinkSession): OutgoingMessage[] {
    const c = this.config;
    if (c.api === 'device') return payloads.map((payload) => ({ topic: TELEMETRY_TOPIC, payload }));
    if (this.announced.session !== s.id) this.announced = { session: s.id, devices: new Set() };
    const announced = this.announced;
    const out: OutgoingMessage[] = [];
    for (const device of e.byDevice.keys()) {
      if (announced.devices.has(device)) continue;
      out.push({
        topic: GATEWAY_CONNECT_TOPIC,
        payload: JSON.stringify(c.device_type ? { device, type: c.device_type } : { device }),
        onAck: () => {
          if (this.announced === announced) announced.devices.add(device);
        },
      });
    }
    for (const payload of payloads) out.push({ topic: GATEWAY_TELEMETRY_TOPIC, payload });
    return out;
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    const e = this.encode(batch);
    const payloads = this.payloads(e);
    return this.link.writeBatch(
      payloads.length ? (s) => this.plan(e, payloads, s) : null,
      batch.length,
      e.rejected,
      'cannot be sent to ThingsBoard',
      signal,
    );
  }

  /** Connects (and stays connected: pushed configs arrive from then on). Null, or why not. */
  probe(signal?: AbortSignal): Promise<string | null> {
    return this.link.probe(signal);
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
