/**
 * A procedure's stdout line → what it says, in Ivy's message shapes:
 *   {"variant":"data","data":{"key": number|string|boolean, …},"timestamp"?: s | "RFC 3339","measurement"?: "…"}
 *   {"variant":"log","level":"INFO","subject":"…","body"?: "…","timestamp"?: …}
 * or why it cannot be read (the source archives it with that reason). Pure: no I/O, never throws.
 */
import { type FieldValue, secondsToNs } from '../../records/index.js';
import { parseTime } from '../../units/index.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export type Line =
  | { kind: 'blank' }
  | { kind: 'bad'; reason: string }
  | { kind: 'data'; time: bigint | null; measurement: string | null; fields: Record<string, FieldValue> }
  | { kind: 'log'; time: bigint | null; level: string; logLevel: LogLevel; subject: string; body: string | null };

/** A program's level (Ivy: DEBUG INFO WARNING ERROR EXCEPTION; syslog's names too) → the logger's. */
const LEVELS: Record<string, LogLevel> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  NOTICE: 'info',
  WARN: 'warn',
  WARNING: 'warn',
  ERROR: 'error',
  ERR: 'error',
  EXCEPTION: 'error',
  CRITICAL: 'fatal',
  CRIT: 'fatal',
  FATAL: 'fatal',
  ALERT: 'fatal',
  EMERG: 'fatal',
  EMERGENCY: 'fatal',
};

/** Seconds since the epoch a `timestamp` may give: up to the year 5138 (a larger number is ms or µs by mistake). */
const MAX_SECONDS = 1e11;

function timeOf(v: unknown): bigint | null | string {
  if (v === undefined) return null;
  if (typeof v === 'number') {
    if (!(v >= 0 && v < MAX_SECONDS)) return `timestamp: ${v} is not a time in seconds since the epoch`;
    return secondsToNs(v);
  }
  if (typeof v === 'string') {
    // a string of digits would be read as ns since the epoch: "1717171717" (seconds, quoted by mistake) dated 1970
    if (/^\s*-?\d+(\.\d+)?\s*$/.test(v))
      return `timestamp: "${v}" is a number in a string; give seconds since the epoch as a number, or an RFC 3339 string`;
    try {
      return parseTime(v, 'timestamp');
    } catch (e) {
      return (e as Error).message;
    }
  }
  return 'timestamp: expected seconds since the epoch or an RFC 3339 string';
}

export function parseLine(text: string): Line {
  if (text.trim() === '') return { kind: 'blank' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { kind: 'bad', reason: `not JSON: ${(e as Error).message}` };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    return { kind: 'bad', reason: 'not a JSON object' };
  const m = doc as Record<string, unknown>;
  const time = timeOf(m.timestamp);
  if (typeof time === 'string') return { kind: 'bad', reason: time };
  if (m.variant === 'data') {
    const data = m.data;
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      return { kind: 'bad', reason: 'data: expected an object of numbers, strings and booleans' };
    const fields: Record<string, FieldValue> = {};
    for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
      if (k === '' || k === '__proto__')
        return { kind: 'bad', reason: `data: the key ${JSON.stringify(k)} is not a field name` };
      if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean')
        return {
          kind: 'bad',
          reason: `data.${k}: expected a number, string or boolean, got ${v === null ? 'null' : typeof v}`,
        };
      fields[k] = v;
    }
    if (Object.keys(fields).length === 0) return { kind: 'bad', reason: 'data: no values' };
    let measurement: string | null = null;
    if (m.measurement !== undefined) {
      if (typeof m.measurement !== 'string' || m.measurement === '')
        return { kind: 'bad', reason: 'measurement: expected a non-empty string' };
      measurement = m.measurement;
    }
    return { kind: 'data', time, measurement, fields };
  }
  if (m.variant === 'log') {
    if (typeof m.level !== 'string' || m.level === '')
      return { kind: 'bad', reason: 'level: expected a string (INFO, WARNING, ERROR …)' };
    if (typeof m.subject !== 'string') return { kind: 'bad', reason: 'subject: expected a string' };
    if (m.body !== undefined && m.body !== null && typeof m.body !== 'string')
      return { kind: 'bad', reason: 'body: expected a string' };
    const level = m.level.toUpperCase();
    return {
      kind: 'log',
      time,
      level,
      logLevel: LEVELS[level] ?? 'info',
      subject: m.subject,
      body: typeof m.body === 'string' ? m.body : null,
    };
  }
  return {
    kind: 'bad',
    reason: `variant: expected "data" or "log", got ${m.variant === undefined ? 'none' : JSON.stringify(m.variant)}`,
  };
}
