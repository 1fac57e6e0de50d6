/**
 * The `tenta` sink: records over MQTT to a Tenta server (iterize/tenta), QoS 1, each PUBLISH counted only on its
 * PUBACK (src/mqtt). Records are routed by measurement name:
 *
 *   - `log_measurement` (log)        → `logs/<sensor>`            `[{message, severity, timestamp, revision?}]`
 *   - `ack_measurement` (config_ack) → `acknowledgments/<sensor>` `[{success, revision, timestamp}]`
 *   - any other                      → `measurements/<sensor>`    `[{value: {<key>: <number>}, timestamp, revision?}]`
 *
 * `timestamp` is the record's own time in seconds (a float, µs kept) — never the send time (seed defect 2).
 * Tenta's server validates a whole message strictly (pydantic, extra keys forbidden) and drops it whole when one
 * element breaks a rule, without telling the sender — so every record is checked against those rules here first,
 * and one that breaks them is rejected by index in a `partial` result with the reason (dead-lettered; the seed
 * deleted such data silently: defect 8), while the rest is sent:
 *   keys `^[a-z0-9](_?[a-z0-9])*$` and at most 64 characters; measurement values numbers only (finite; integers
 *   are sent as floats); timestamps from 1970 to 2^31 s; revisions whole numbers 0 ≤ r < 2^31; severity one of
 *   info, warning, error; `success` a boolean; a payload entry within max_payload_bytes.
 * With a `remoteConfig` receiver the sink subscribes to `configurations/<sensor>` on every connect (the server
 * publishes it retained, so each connect brings the latest again) and hands over `{revision, config}`.
 */

import {
  byteLength,
  JSON_ARRAY,
  jsonFloat,
  linkOptions,
  MqttLink,
  type OutgoingMessage,
  Packer,
} from '../../mqtt/index.js';
import type { Sink, SinkContext, WriteResult } from '../../outbox/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { type TentaSinkConfig, type TentaSinkOptions, tentaSinkConfigSchema } from './config.js';

/** Tenta's rule for measurement keys (server/app/validation: Pattern.KEY, at most 64 characters). */
export const TENTA_KEY = /^[a-z0-9](_?[a-z0-9])*$/;
export const TENTA_KEY_MAX = 64;
/** Timestamps and revisions are PostgreSQL int4-bounded on the server. */
const INT4_LIMIT = 2 ** 31;
/** The server keeps the first 16384 characters of a log message. */
const LOG_MESSAGE_MAX = 16_384;
const SEVERITIES = new Set(['info', 'warning', 'error']);

export type TentaKind = 'measurements' | 'logs' | 'acknowledgments';

/** Why `key` is not a Tenta key, or null. */
export function tentaKeyProblem(key: string): string | null {
  if (key.length > TENTA_KEY_MAX) return `key ${JSON.stringify(key)} is longer than ${TENTA_KEY_MAX} characters`;
  if (!TENTA_KEY.test(key))
    return `key ${JSON.stringify(key)} breaks Tenta's rule ^[a-z0-9](_?[a-z0-9])*$ (lower-case letters, digits, single underscores inside)`;
  return null;
}

/** The record's time as Tenta's float seconds (µs kept), or why it cannot be. */
function timestampOf(r: TelemetryRecord): string | { problem: string } {
  const s = Number(r.time / 1000n) / 1e6;
  if (r.time < 0n || !(s < INT4_LIMIT))
    return { problem: `time ${r.time} ns is outside Tenta's range (1970 to 2^31 s)` };
  return jsonFloat(s);
}

/** The revision from the field or tag `revision`: a whole number 0 ≤ r < 2^31, absent, or why it is not one. */
function revisionOf(r: TelemetryRecord): number | undefined | { problem: string } {
  const f = r.fields.revision;
  const t = r.tags.revision;
  const raw = f !== undefined ? f : t;
  if (raw === undefined) return undefined;
  const n =
    typeof raw === 'bigint'
      ? Number(raw)
      : typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && /^\d+$/.test(raw)
          ? Number(raw)
          : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n >= INT4_LIMIT)
    return { problem: `revision ${String(raw)} is not a whole number from 0 to 2^31-1` };
  return n;
}

export class TentaSink implements Sink {
  readonly name: string;
  readonly config: TentaSinkOptions;
  private readonly link: MqttLink;

  constructor(config: TentaSinkConfig, context: SinkContext = {}) {
    const c = tentaSinkConfigSchema.parse(config);
    this.config = c;
    this.name = c.name;
    const remote = context.remoteConfig;
    const configTopic = `configurations/${c.sensor}`;
    this.link = new MqttLink(
      linkOptions(c, {
        qos: 1,
        retain: false,
        subscriptions: remote ? [configTopic] : [],
        ...(remote
          ? {
              onMessage: (topic: string, payload: Buffer) => {
                if (topic !== configTopic) return;
                let doc: unknown;
                try {
                  doc = JSON.parse(payload.toString('utf8'));
                } catch {
                  context.info?.(`${this.name}: a message on ${topic} is not JSON; ignored`);
                  return;
                }
                const d = doc as { revision?: unknown; configuration?: unknown } | null;
                remote(
                  this.name,
                  d && typeof d === 'object' && !Array.isArray(d)
                    ? { revision: d.revision, config: d.configuration }
                    : doc,
                );
              },
            }
          : {}),
        ...(context.info ? { info: context.info } : {}),
        ...(context.stateDir ? { stateDir: context.stateDir } : {}),
      }),
    );
  }

  /** Where a record goes. */
  kindOf(r: TelemetryRecord): TentaKind {
    if (r.measurement === this.config.log_measurement) return 'logs';
    if (r.measurement === this.config.ack_measurement) return 'acknowledgments';
    return 'measurements';
  }

  /** One record as its Tenta element (JSON text), or why it breaks Tenta's rules. */
  element(r: TelemetryRecord): string | { problem: string } {
    const ts = timestampOf(r);
    if (typeof ts !== 'string') return ts;
    const rev = revisionOf(r);
    if (typeof rev === 'object') return rev;
    const revText = rev === undefined ? '' : `,"revision":${rev}`;
    const kind = this.kindOf(r);
    if (kind === 'acknowledgments') {
      if (typeof r.fields.success !== 'boolean')
        return { problem: 'an acknowledgement needs a boolean field "success"' };
      if (rev === undefined) return { problem: 'an acknowledgement needs a "revision" (field or tag)' };
      return `{"success":${r.fields.success},"revision":${rev},"timestamp":${ts}}`;
    }
    if (kind === 'logs') {
      // Tenta's shape (message, severity), or a procedure's log line (src/sources/exec: level, subject, body)
      const { subject, body, level } = r.fields;
      const m =
        r.fields.message ??
        (typeof subject === 'string'
          ? typeof body === 'string' && body !== ''
            ? `${subject}\n${body}`
            : subject
          : null);
      if (typeof m !== 'string') return { problem: 'a log needs a string field "message" (or "subject")' };
      const sev =
        r.fields.severity ??
        r.tags.severity ??
        (typeof level === 'string' ? severityOfLevel(level) : undefined) ??
        'info';
      if (typeof sev !== 'string' || !SEVERITIES.has(sev))
        return { problem: `severity ${JSON.stringify(sev)} is not one of info, warning, error` };
      const message = m.length > LOG_MESSAGE_MAX ? [...m].slice(0, LOG_MESSAGE_MAX).join('') : m;
      return `{"message":${JSON.stringify(message)},"severity":"${sev}","timestamp":${ts}${revText}}`;
    }
    const pairs: string[] = [];
    const problems: string[] = [];
    for (const f of Object.keys(r.fields)) {
      if (f === 'revision') continue;
      const key = this.config.key === 'field' ? f : `${r.measurement}_${f}`;
      const kp = tentaKeyProblem(key);
      if (kp) problems.push(kp);
      const v = r.fields[f];
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number') problems.push(`field ${JSON.stringify(f)}: Tenta takes numbers only, not ${typeof v}`);
      else if (!Number.isFinite(n)) problems.push(`field ${JSON.stringify(f)}: ${n} is not a finite number`);
      else if (!kp) pairs.push(`${JSON.stringify(key)}:${jsonFloat(n)}`);
    }
    if (problems.length > 0) return { problem: problems.join('; ') };
    if (pairs.length === 0) return { problem: 'a measurement needs at least one numeric field' };
    return `{"value":{${pairs.join(',')}},"timestamp":${ts}${revText}}`;
  }

  /** The messages of a batch (per topic, packed under max_payload_bytes) and the records rejected. */
  encode(batch: readonly TelemetryRecord[]): {
    messages: OutgoingMessage[];
    rejected: { index: number; reason: string }[];
  } {
    const max = this.config.max_payload_bytes;
    const packers = new Map<TentaKind, Packer>();
    const rejected: { index: number; reason: string }[] = [];
    for (let index = 0; index < batch.length; index++) {
      const r = batch[index];
      const e = this.element(r);
      if (typeof e !== 'string') {
        rejected.push({ index, reason: e.problem });
        continue;
      }
      const kind = this.kindOf(r);
      let p = packers.get(kind);
      if (!p) packers.set(kind, (p = new Packer(JSON_ARRAY, max)));
      const bytes = byteLength(e);
      if (!p.fitsAlone(bytes)) {
        rejected.push({ index, reason: `${bytes} bytes do not fit in max_payload_bytes (${max})` });
        continue;
      }
      p.add(e, bytes);
    }
    const messages: OutgoingMessage[] = [];
    for (const [kind, p] of packers)
      for (const payload of p.finish()) messages.push({ topic: `${kind}/${this.config.sensor}`, payload });
    return { messages, rejected };
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    const { messages, rejected } = this.encode(batch);
    return this.link.writeBatch(
      messages.length ? () => messages : null,
      batch.length,
      rejected,
      "break Tenta's rules",
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

/** A program's log level (Ivy's DEBUG … EXCEPTION, syslog's names) as Tenta's severity (info, warning, error). */
function severityOfLevel(level: string): 'info' | 'warning' | 'error' {
  const l = level.toUpperCase();
  if (l === 'WARN' || l === 'WARNING') return 'warning';
  if (/^(ERR|ERROR|EXCEPTION|CRIT|CRITICAL|FATAL|ALERT|EMERG|EMERGENCY)$/.test(l)) return 'error';
  return 'info';
}
