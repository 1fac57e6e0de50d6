/**
 * Grafana's times are epoch milliseconds (fractional: sigflow keeps µs), the logs' and the store's epoch
 * nanoseconds (bigint). The two conversions every part of the query area uses.
 */

/** Epoch ns → epoch ms, without losing the sub-ms part to a 2^53 overflow. */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/** Epoch ms (fractional) → epoch ns. */
export function msToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}
