/**
 * The record model every source produces and every sink consumes:
 *   { time, measurement, tags, fields }
 *
 * - time: nanoseconds since the Unix epoch as a bigint, so 1 µs (and 1 ns, where a source has it) is never
 *   rounded away. Use the helpers below to convert.
 * - measurement: what is measured (a message name, a device type, a table).
 * - tags: indexed string labels that identify the series (device, bus, channel…). Keep them low-cardinality.
 * - fields: the values. A JS `number` is a float (IEEE double), a `bigint` is an integer (InfluxDB `i`, Postgres
 *   bigint/numeric), plus booleans and strings. The integer/float distinction is explicit because `1` and `1.0`
 *   are the same JS number but different InfluxDB field types.
 */
export type FieldValue = number | bigint | boolean | string;

export interface TelemetryRecord {
  time: bigint;
  measurement: string;
  tags: Readonly<Record<string, string>>;
  fields: Readonly<Record<string, FieldValue>>;
}

export const NS_PER_MS = 1_000_000n;
export const NS_PER_S = 1_000_000_000n;

/**
 * The farthest from 1970 a time may be, in ms, for a record to hold it (its time is int64 ns: ±292 years; 9.2e12 ms
 * is the year 2261). Times read from the field (a damaged timestamp, an absurd scale) are checked against it.
 */
export const MAX_RECORD_TIME_MS = 9.2e12;

/**
 * Milliseconds since the epoch as a double → ns bigint, rounded to the microsecond (a double holding present-day
 * epoch milliseconds resolves ~0.25 µs, so finer digits would be noise).
 */
export function msToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e3)) * 1000n;
}

/** Seconds since the epoch as a double (µs resolution kept for present-day dates) → ns bigint. */
export function secondsToNs(s: number): bigint {
  const whole = Math.floor(s);
  return BigInt(whole) * NS_PER_S + BigInt(Math.round((s - whole) * 1e6)) * 1000n;
}

/** ns bigint → milliseconds as a double (for display and JSON APIs that want ms). */
export function nsToMs(ns: bigint): number {
  return Number(ns / NS_PER_MS) + Number(ns % NS_PER_MS) / 1e6;
}

/** ns bigint → RFC 3339 with nanoseconds, e.g. 2024-01-02T03:04:05.123456789Z. */
export function nsToIso(ns: bigint): string {
  const ms = ns / NS_PER_MS;
  let sub = ns % NS_PER_S;
  if (sub < 0n) sub += NS_PER_S;
  const base = new Date(Number(ms - (ms % 1000n) - (ns < 0n && sub !== 0n ? 1000n : 0n))).toISOString();
  return `${base.slice(0, 19)}.${sub.toString().padStart(9, '0')}Z`;
}

/** Why a record is not acceptable, or null. Sources call this at the boundary; sinks may assume valid records. */
export function validateRecord(r: TelemetryRecord): string | null {
  if (typeof r.time !== 'bigint') return 'time must be a bigint (ns since epoch)';
  if (typeof r.measurement !== 'string' || r.measurement.length === 0) return 'measurement must be a non-empty string';
  for (const [k, v] of Object.entries(r.tags)) {
    if (k.length === 0) return 'tag keys must be non-empty';
    if (typeof v !== 'string') return `tag ${k} must be a string`;
  }
  let n = 0;
  for (const [k, v] of Object.entries(r.fields)) {
    n++;
    if (k.length === 0) return 'field keys must be non-empty';
    const t = typeof v;
    if (t !== 'number' && t !== 'bigint' && t !== 'boolean' && t !== 'string') return `field ${k} has type ${t}`;
  }
  if (n === 0) return 'a record needs at least one field';
  return null;
}
