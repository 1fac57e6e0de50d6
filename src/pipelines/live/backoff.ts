/**
 * Waiting between attempts: reconnecting sources and restarting units back off exponentially with jitter, and
 * every wait ends early when the unit stops.
 */

/** Sleeps `ms`, or less when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Reconnect delays: initial × factor^n up to max, ± jitter. */
export class Backoff {
  private n = 0;
  constructor(
    private readonly initialMs = 500,
    private readonly maxMs = 30_000,
    private readonly factor = 2,
    private readonly jitter = 0.2,
  ) {}

  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** this.n++);
    return Math.round(base * (1 + (Math.random() * 2 - 1) * this.jitter));
  }

  reset(): void {
    this.n = 0;
  }
}
