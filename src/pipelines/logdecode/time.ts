/**
 * Time values of the log pipeline: absolute ns since the epoch as decimal strings without a BigInt per frame,
 * user-facing time arguments (ISO 8601 or integer ns) and durations (`1s`, `250ms`, `1m`, …).
 */

/** Thrown for a time or duration argument that cannot be parsed; `what` names the argument. */
export class TimeArgError extends Error {
  override readonly name = 'TimeArgError';
}

/**
 * Formats `start + offset` (ns) as a decimal string. `start` is split once into seconds and a remainder so each
 * frame costs number arithmetic only; exact while offset < 2^53 ns (the MDF4 reader's own limit).
 */
export class NsFormatter {
  private sec = 0;
  private rem = 0;
  private fallback = false;
  private startNs = 0n;

  constructor(startNs: bigint = 0n) {
    this.reset(startNs);
  }

  reset(startNs: bigint): void {
    this.startNs = startNs;
    this.fallback = startNs < 0n || startNs >= 9_000_000_000_000_000_000n;
    this.sec = Number(startNs / 1_000_000_000n);
    this.rem = Number(startNs % 1_000_000_000n);
  }

  /** Decimal ns of start + offset (offset an integer-valued double ≥ 0 or small negative). */
  format(offset: number): string {
    if (this.fallback || offset < 0) return (this.startNs + BigInt(offset)).toString();
    let r: number;
    let s: number;
    if (offset < 9_007_198_254_740_992 - 1e9) {
      // rem + offset stays below 2^53: exact
      r = this.rem + offset;
      s = this.sec;
    } else {
      const os = Math.floor(offset / 1e9);
      r = this.rem + (offset - os * 1e9);
      s = this.sec + os;
    }
    const carry = Math.floor(r / 1e9);
    s += carry;
    const ns = r - carry * 1e9;
    if (s === 0) return String(ns);
    const t = String(ns);
    return `${s}${'000000000'.slice(t.length)}${t}`;
  }

  /** The same instant as a bigint (slower; for bucketing). */
  bigint(offset: number): bigint {
    return this.startNs + BigInt(offset);
  }
}

/** Parses ISO 8601 (keeping sub-millisecond digits) or an integer ns count since the epoch. */
export function parseTimeArg(s: string, what: string): bigint {
  const v = s.trim();
  if (/^-?\d+$/.test(v)) return BigInt(v);
  // Date.parse accepts many non-ISO shapes; insist on a date first.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(v)) {
    throw new TimeArgError(
      `${what}: cannot parse "${s}" (ISO 8601 like 2021-01-06T11:46:17Z, or integer ns since the epoch)`,
    );
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) {
    throw new TimeArgError(`${what}: "${s}" is not a valid date/time`);
  }
  const frac = /:\d{2}\.(\d+)/.exec(v)?.[1] ?? '';
  const subMs = frac.length > 3 ? BigInt(frac.slice(3, 9).padEnd(6, '0')) : 0n;
  return BigInt(ms) * 1_000_000n + subMs;
}

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  min: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
};

/** Parses a positive duration: an integer or decimal with a unit (ns, us, ms, s, m/min, h, d), e.g. `1s`, `0.5s`. */
export function parseDuration(s: string, what: string): bigint {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*(ns|us|µs|ms|s|min|m|h|d)\s*$/.exec(s);
  if (!m) throw new TimeArgError(`${what}: cannot parse "${s}" (a duration like 1s, 250ms, 10m, 1h)`);
  const unit = UNIT_NS[m[3]];
  const whole = BigInt(m[1]) * unit;
  let frac = 0n;
  if (m[2]) {
    const digits = m[2].slice(0, 18);
    frac = (BigInt(digits) * unit) / 10n ** BigInt(digits.length);
  }
  const ns = whole + frac;
  if (ns <= 0n) throw new TimeArgError(`${what}: "${s}" must be longer than 0 ns`);
  return ns;
}
