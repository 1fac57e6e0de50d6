/**
 * MQTT payloads → records, per the `payload:` settings: `json` (an object, or an array of objects, with the time,
 * measurement, tags and fields taken from paths or topic levels), `raw` (the bytes, base64, and their count) and
 * `envelope` (`{"data": "<base64>", "snr": …}`: the bytes as hex, the other numbers as fields). A payload that
 * cannot be read returns the reason instead (the source archives it and acknowledges it).
 */
import { type FieldValue, MAX_RECORD_TIME_MS, type TelemetryRecord, validateRecord } from '../../records/index.js';
import { parseTime } from '../../units/index.js';
import type { MqttPayloadOptions } from './config.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A reference: `topic:N` (a topic level, 0-based) or `path:a.b` / a bare path into the JSON payload. */
function resolve(ref: string, topicLevels: string[], doc: unknown): unknown {
  if (ref.startsWith('topic:')) return topicLevels[Number(ref.slice(6))];
  return at(doc, ref.startsWith('path:') ? ref.slice(5) : ref);
}

/** The value at a dot path (`a.b.0.c`), or undefined. */
function at(doc: unknown, path: string): unknown {
  let v = doc;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Object.hasOwn(v as object, k) ? (v as Record<string, unknown>)[k] : undefined;
  }
  return v;
}

/** The measurement: a literal, or a `topic:`/`path:` reference. */
function measurementOf(spec: string, topicLevels: string[], doc: unknown): string | undefined {
  if (spec.startsWith('topic:') || spec.startsWith('path:')) {
    const v = resolve(spec, topicLevels, doc);
    return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
  }
  return spec;
}

function tagsOf(spec: Record<string, string>, topicLevels: string[], doc: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, ref] of Object.entries(spec)) {
    const v = resolve(ref, topicLevels, doc);
    if (typeof v === 'string' ? v.length > 0 : typeof v === 'number' || typeof v === 'boolean') tags[k] = String(v);
  }
  return tags;
}

/** A number of `unit` since the epoch → ns (auto: s below 1e11, ms below 1e14, µs below 1e17, else ns). */
function numberTimeNs(v: number, unit: string): bigint | null {
  if (!Number.isFinite(v) || v < 0) return null;
  const u = unit !== 'auto' ? unit : v < 1e11 ? 's' : v < 1e14 ? 'ms' : v < 1e17 ? 'us' : 'ns';
  const scale = u === 's' ? 1e9 : u === 'ms' ? 1e6 : u === 'us' ? 1e3 : 1;
  const whole = Math.floor(v);
  return BigInt(whole) * BigInt(scale) + BigInt(Math.round((v - whole) * scale));
}

/** The latest time a record can hold, in ns (MAX_RECORD_TIME_MS). */
const MAX_TIME_NS = BigInt(MAX_RECORD_TIME_MS) * 1_000_000n;

/**
 * The record time of a message (ns), or why it has none: a time a record cannot hold (beyond ±MAX_RECORD_TIME_MS,
 * e.g. `1e19`) is the message's fault — refused and archived with it, not a batch the outbox refuses (the unit
 * crashed and the broker sent the message again, forever).
 */
function timeOf(
  o: { time?: string; time_unit: string },
  topicLevels: string[],
  doc: unknown,
  receivedNs: bigint,
): bigint | string {
  const t = timeOfRaw(o, topicLevels, doc, receivedNs);
  if (typeof t === 'bigint' && (t > MAX_TIME_NS || t < -MAX_TIME_NS))
    return `time ${o.time}: ${t} ns is beyond the times a record can hold (years 1678–2261)`;
  return t;
}

function timeOfRaw(
  o: { time?: string; time_unit: string },
  topicLevels: string[],
  doc: unknown,
  receivedNs: bigint,
): bigint | string {
  if (o.time === undefined) return receivedNs;
  const v = resolve(o.time, topicLevels, doc);
  if (typeof v === 'number') return numberTimeNs(v, o.time_unit) ?? `time ${o.time}: ${v} is not a time`;
  if (typeof v === 'string') {
    try {
      return parseTime(v, o.time);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return `time ${o.time}: missing`;
}

function fieldValue(v: unknown): FieldValue | undefined {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  return undefined;
}

/**
 * Why a field's number cannot be stored, or null: JSON has no Infinity, but a number beyond a double's range (1e999)
 * parses as one — the message is refused with the reason (and archived) rather than the field dropped unseen.
 */
function nonFinite(name: string, v: FieldValue): string | null {
  return typeof v === 'number' && !Number.isFinite(v)
    ? `field ${name}: a number beyond the range of a double (read as ${v})`
    : null;
}

/**
 * Appends the records of one message to `out`; returns null, or why the payload cannot be read. Records without a
 * time of their own get `receivedNs` + their index in the message (so one message uses up to `receivedNs + n - 1`).
 */
export function payloadToRecords(
  o: Exclude<MqttPayloadOptions, { format: 'packets' }>,
  topic: string,
  payload: Uint8Array,
  receivedNs: bigint,
  out: TelemetryRecord[],
): string | null {
  const levels = topic.split('/');
  if (o.format === 'raw') {
    const measurement = measurementOf(o.measurement, levels, null) ?? 'mqtt';
    out.push({
      time: receivedNs,
      measurement,
      tags: tagsOf(o.tags, levels, null),
      fields: { payload: Buffer.from(payload).toString('base64'), bytes: payload.length },
    });
    return null;
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return 'not valid UTF-8';
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `malformed JSON: ${(e as Error).message}`;
  }
  if (o.format === 'envelope') {
    if (doc === null || typeof doc !== 'object' || typeof (doc as { data?: unknown }).data !== 'string')
      return 'not an envelope: expected {"data": "<base64>", …}';
    const b64 = (doc as { data: string }).data;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'envelope data is not base64';
    const fields: Record<string, FieldValue> = { data: Buffer.from(b64, 'base64').toString('hex') };
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      if (k === 'data' || (typeof v !== 'number' && typeof v !== 'boolean')) continue;
      const why = nonFinite(k, v);
      if (why) return why;
      if (k !== '__proto__') fields[k] = v;
    }
    const measurement = measurementOf(o.measurement, levels, doc) ?? 'mqtt';
    out.push({ time: receivedNs, measurement, tags: tagsOf(o.tags, levels, doc), fields });
    return null;
  }
  const items = Array.isArray(doc) ? doc : [doc];
  if (items.length === 0) return 'an empty array';
  const first = out.length;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const where = Array.isArray(doc) ? `item ${i}: ` : '';
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      out.length = first;
      return `${where}expected a JSON object`;
    }
    // without a time in the payload each item is stamped receivedNs + its index: the items of one message, and
    // (the source keeps receive times increasing) messages of one millisecond, are distinct points, not one
    // overwriting the other in every sink keyed by series and time
    const time = timeOf(o, levels, item, receivedNs + BigInt(i));
    if (typeof time === 'string') {
      out.length = first;
      return `${where}${time}`;
    }
    const measurement = measurementOf(o.measurement, levels, item);
    if (!measurement) {
      out.length = first;
      return `${where}measurement ${o.measurement}: missing`;
    }
    const fields: Record<string, FieldValue> = {};
    let why: string | null = null;
    if (o.fields) {
      for (const [name, ref] of Object.entries(o.fields)) {
        const v = fieldValue(resolve(ref, levels, item));
        if (v === undefined || name === '__proto__') continue;
        why ??= nonFinite(name, v);
        fields[name] = v;
      }
    } else {
      const skip = new Set<string>([o.time ?? '', ...Object.values(o.tags)].map((r) => r.replace(/^path:/, '')));
      for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
        if (skip.has(k) || k === '__proto__') continue;
        const f = fieldValue(v);
        if (f === undefined) continue;
        why ??= nonFinite(k, f);
        fields[k] = f;
      }
    }
    if (why) {
      out.length = first;
      return `${where}${why}`;
    }
    if (Object.keys(fields).length === 0) {
      out.length = first;
      return `${where}no fields (numbers, booleans or strings) in the payload`;
    }
    const record = { time, measurement, tags: tagsOf(o.tags, levels, item), fields };
    const bad = validateRecord(record);
    if (bad) {
      out.length = first;
      return `${where}${bad}`;
    }
    out.push(record);
  }
  return null;
}
