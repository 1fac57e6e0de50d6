/**
 * The connection keys every uplink sink shares (thingsboard, tenta, mqtt), spread into each sink's schema so the
 * three speak one language; their defaults live here. `rate_limits` is per sink (ThingsBoard has defaults, the
 * others none). See README.md for each key.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SigflowError } from '../errors/index.js';
import { boolFlag, durationWholeMs, numberish, sizeBytes } from '../schema/index.js';
import type { MqttLinkOptions } from './link.js';

/** mqtt://host[:port] or mqtts://host[:port] (IPv6 in brackets); no credentials, no path. */
export const MQTT_URL = /^mqtts?:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/@:[\]]+)(:\d{1,5})?\/?$/;

const rateLimit = z
  .object({
    /** PUBLISH packets allowed… */
    messages: numberish({ integer: true, min: 1, max: 1_000_000 }),
    /** …within this long (any interval of it). */
    per: durationWholeMs(),
  })
  .strict();

/** `rate_limits:` with a sink's own default (a list of `{messages, per}`; `[]` = unlimited). */
export function rateLimitsSchema(defaults: readonly { messages: number; per: string }[]) {
  return z.array(rateLimit).prefault(defaults.map((d) => ({ ...d })));
}

/** ThingsBoard's default per-device limits (transport rate limits "100:1,1000:60,15000:3600"). */
export const THINGSBOARD_RATE_LIMITS = [
  { messages: 100, per: '1s' },
  { messages: 1000, per: '1m' },
  { messages: 15000, per: '1h' },
] as const;

export const mqttConnectionShape = {
  /** mqtt://host[:port] (1883) or mqtts://host[:port] (8883). */
  url: z
    .string()
    .regex(
      MQTT_URL,
      'expected mqtt://host[:port] or mqtts://host[:port] (credentials go in their own keys, not in the URL)',
    ),
  /** Default: sigflow-<name>-<random>, new per process (sessions are clean). */
  client_id: z.string().min(1).max(128).optional(),
  /** TLS: a CA bundle (PEM file) to verify the broker with; the system's CAs otherwise. */
  ca: z.string().min(1).optional(),
  reject_unauthorized: boolFlag().default(true),
  keepalive: durationWholeMs().prefault('30s'),
  /** A connection without CONNACK within it → `retry`. */
  connect_timeout: durationWholeMs().prefault('10s'),
  /** Between reconnects while idle (doubling, up to 30 s, while the broker refuses). */
  reconnect_period: durationWholeMs().prefault('1s'),
  /** A PUBLISH without PUBACK within it → `retry`, and the connection is reset. */
  publish_timeout: durationWholeMs().prefault('10s'),
  /** Batches are split into PUBLISH payloads of at most this size. */
  max_payload_bytes: sizeBytes().prefault('64KiB'),
  /** The longest a write waits for the rate limits before answering `retry` (see README). */
  max_rate_wait: durationWholeMs({ allowZero: true }).prefault('20s'),
};

/** The shared keys, validated (what `linkOptions` reads). */
export interface MqttConnectionOptions {
  name: string;
  url: string;
  client_id?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  ca?: string | undefined;
  reject_unauthorized: boolean;
  keepalive: number;
  connect_timeout: number;
  reconnect_period: number;
  publish_timeout: number;
  max_payload_bytes: number;
  max_rate_wait: number;
  rate_limits: { messages: number; per: number }[];
}

/**
 * The link's options from a sink's validated config: reads the CA file now (an unreadable one is
 * SF_ERR_UPLINK_CONFIG at create, not a retry loop later).
 */
export function linkOptions(
  c: MqttConnectionOptions,
  extra: Pick<MqttLinkOptions, 'qos' | 'retain' | 'subscriptions'> &
    Partial<Pick<MqttLinkOptions, 'onMessage' | 'onConnect' | 'info' | 'now' | 'stateDir'>>,
): MqttLinkOptions {
  let ca: Buffer | undefined;
  if (c.ca) {
    try {
      ca = readFileSync(c.ca);
    } catch (e) {
      throw new SigflowError(
        'SF_ERR_UPLINK_CONFIG',
        `${c.name}: ca ${c.ca} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { where: `${c.name}.ca` },
      );
    }
  }
  return {
    name: c.name,
    url: c.url,
    clientId: c.client_id ?? `sigflow-${c.name.replace(/[^A-Za-z0-9_-]/g, '_')}-${randomBytes(4).toString('hex')}`,
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(ca ? { ca } : {}),
    rejectUnauthorized: c.reject_unauthorized,
    keepaliveMs: c.keepalive,
    connectTimeoutMs: c.connect_timeout,
    reconnectPeriodMs: c.reconnect_period,
    publishTimeoutMs: c.publish_timeout,
    rateLimits: c.rate_limits.map((r) => ({ messages: r.messages, perMs: r.per })),
    maxRateWaitMs: c.max_rate_wait,
    ...extra,
  };
}
