/**
 * Output times of the log pipeline: absolute ns since the epoch as decimal strings without a BigInt per frame.
 * (Time and duration arguments are parsed by src/units, the one grammar for every flag and config key.)
 */

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
    const s = this.seconds(offset);
    if (s < 0) return (this.startNs + BigInt(offset)).toString();
    const t = String(this.lastNs);
    if (s === 0) return t;
    return `${s}${'000000000'.slice(t.length)}${t}`;
  }

  /** The nanoseconds within the second of the last `seconds()` call. */
  lastNs = 0;

  /**
   * format() in two numbers for writers that print digits themselves: returns the whole seconds of start + offset
   * and sets `lastNs` (the text is the seconds then lastNs padded to 9 digits, or lastNs alone when the seconds are
   * 0); -1 when format() must be used instead (a negative or huge instant).
   */
  seconds(offset: number): number {
    if (this.fallback || offset < 0) return -1;
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
    this.lastNs = r - carry * 1e9;
    return s + carry;
  }

  /** The same instant as a bigint (slower; for bucketing). */
  bigint(offset: number): bigint {
    return this.startNs + BigInt(offset);
  }
}
