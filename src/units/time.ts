/**
 * The one grammar for instants and durations, used by every command-line flag and config key.
 *
 * Instants: RFC 3339 / ISO 8601 (`2024-01-02T03:04:05.123456789Z`, `2024-01-02 03:04`, `2024-01-02`, with `Z` or
 * an offset `+02:00` / `+0200`), or integer nanoseconds since the Unix epoch. A time written without an offset is
 * **UTC** — never the machine's local time zone, so a command means the same on every machine. The calendar is
 * checked (2023-02-30 and 24:00 are errors). Up to 9 fractional digits are kept exactly.
 *
 * Durations: a number (integer or decimal) and a unit — ns, us (µs), ms, s, m (min), h, d, w — e.g. `500ms`,
 * `0.5s`, `30s`, `10m`, `2w`. Returned as bigint nanoseconds.
 */
import { SigflowError } from '../errors/index.js';

const NS_PER_MS = 1_000_000n;

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses an instant (see the module comment) into ns since the epoch. `what` names the flag or key in the error
 * (e.g. `--from`, `pipelines[0].start`).
 */
export function parseTime(text: string, what: string): bigint {
  const s = text.trim();
  if (/^-?\d+$/.test(s)) return BigInt(s);
  const m = INSTANT.exec(s);
  const bad = (why: string) =>
    new SigflowError('SF_ERR_UNITS_TIME', `${what}: ${JSON.stringify(text)} ${why}`, { where: what });
  if (!m) {
    throw bad('is not a time (RFC 3339 like 2024-01-02T03:04:05Z, a date like 2024-01-02, or integer ns)');
  }
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (month < 1 || month > 12) throw bad(`has no month ${m[2]}`);
  if (day < 1 || day > daysInMonth(year, month))
    throw bad(`is not a calendar date (${m[1]}-${m[2]} has no day ${m[3]})`);
  if (hour > 23 || minute > 59 || second > 59) throw bad('is not a time of day (00:00:00 to 23:59:59)');
  let offsetMin = 0;
  if (m[9]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) throw bad(`has an invalid offset ${m[9]}${m[10]}:${m[11]}`);
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMin * 60_000;
  // Date.UTC maps years 0–99 to 1900–1999; set the full year explicitly.
  const d = new Date(ms);
  if (year < 100) d.setUTCFullYear(year);
  const frac = m[7] ?? '';
  if (frac.length > 9) throw bad('has more than 9 fractional digits (nanoseconds are the finest unit)');
  return BigInt(d.getTime()) * NS_PER_MS + BigInt(frac.padEnd(9, '0') || '0');
}

/**
 * Formats ns since the epoch as RFC 3339 UTC for messages: `2024-01-02T03:04:05Z`, with as many fractional digits
 * (3, 6 or 9) as the value needs. Far outside the Date range it falls back to the integer.
 */
export function formatTime(ns: bigint): string {
  const ms = ns / NS_PER_MS - (ns % NS_PER_MS < 0n ? 1n : 0n);
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return `${ns} ns`;
  let sub = ns - (ms / 1000n) * 1_000_000_000n;
  if (ms % 1000n < 0n) sub += 1_000_000_000n;
  const digits = sub.toString().padStart(9, '0');
  const frac = digits === '000000000' ? '' : `.${digits.replace(/(000)+$/, '')}`;
  return `${d.toISOString().slice(0, 19)}${frac}Z`;
}

export const DURATION_UNITS_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  min: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

const DURATION = /^(\d+)(?:\.(\d+))?\s*(ns|us|µs|ms|s|min|m|h|d|w)$/;

export interface DurationOptions {
  /** Accept 0 (e.g. "no jitter"); by default a duration must be longer than 0. */
  allowZero?: boolean;
}

/** Parses a duration (see the module comment) into ns. `what` names the flag or key in the error. */
export function parseDuration(text: string, what: string, options: DurationOptions = {}): bigint {
  const m = DURATION.exec(text.trim());
  if (!m) {
    throw new SigflowError(
      'SF_ERR_UNITS_DURATION',
      `${what}: ${JSON.stringify(text)} is not a duration (a number and a unit: 500ms, 0.5s, 30s, 10m, 2h, 7d, 2w)`,
      { where: what },
    );
  }
  const unit = DURATION_UNITS_NS[m[3]];
  let ns = BigInt(m[1]) * unit;
  if (m[2]) {
    const digits = m[2].slice(0, 18);
    ns += (BigInt(digits) * unit) / 10n ** BigInt(digits.length);
  }
  if (ns === 0n && !options.allowZero) {
    throw new SigflowError('SF_ERR_UNITS_DURATION', `${what}: ${JSON.stringify(text)} must be longer than 0`, {
      where: what,
    });
  }
  return ns;
}

/**
 * The longest duration a timer can wait: Node's setTimeout/setInterval take at most 2^31-1 ms (24.8 days) and fire
 * after 1 ms when given more — a `stop_timeout: 4w` would kill a unit at once, a `stats_interval: 4w` log every ms.
 */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/** The message of a duration beyond TIMER_MAX_MS. */
export function timerTooLong(ms: number): string {
  return `${ms} ms is longer than a timer can wait (at most ${TIMER_MAX_MS} ms, 24.8 days)`;
}

/**
 * A duration something waits for with a timer, in whole ms (rounded up): parseDuration, then at most TIMER_MAX_MS
 * (SF_ERR_UNITS_DURATION naming `what` beyond it).
 */
export function parseTimerMs(text: string, what: string, options: DurationOptions = {}): number {
  const ns = parseDuration(text, what, options);
  const ms = Number((ns + 999_999n) / 1_000_000n);
  if (ms > TIMER_MAX_MS)
    throw new SigflowError('SF_ERR_UNITS_DURATION', `${what}: ${JSON.stringify(text)}: ${timerTooLong(ms)}`, {
      where: what,
    });
  return ms;
}

/** Formats ns as the shortest exact duration in the grammar (`90s` → `90s`, 1.5 h → `90m`). */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  for (const unit of ['w', 'd', 'h', 'm', 's', 'ms', 'us', 'ns']) {
    const u = DURATION_UNITS_NS[unit];
    if (ns % u === 0n) return `${ns / u}${unit}`;
  }
  return `${ns}ns`;
}
