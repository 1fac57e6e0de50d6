/**
 * Rate limits on outgoing MQTT PUBLISH packets (ThingsBoard's per-device defaults: 100/s, 1000/min, 15000/h).
 *
 * Each window `{messages: N, per: D}` has N slots. A PUBLISH takes a slot when it is sent and holds it until D
 * after its **acknowledgement** (the PUBACK; at QoS 0 the socket write; a failure: when it is given up). The broker
 * received the message before its PUBACK left it, so two messages using one slot reach the server at least D
 * apart — at most N in any D-long interval **at the server**, however the network or a stalled event loop bunches
 * them on the way. That is stricter than ThingsBoard's own limiter (bucket4j token buckets, greedy refill: up to 2N
 * in some D-long intervals) or a fixed-window counter, so staying within it never trips them. Each window is also
 * treated as `rateGuardMs(D)` longer (2 % of D, 50 ms to 1 s) against clock-rate differences and jitter.
 *
 * A slot is freed oldest first (a ring of the last N sends per window): a send may go when the oldest of the last N
 * has been acknowledged and D has passed since. With a journal (rate-journal.ts) the log survives a restart.
 */
import type { RateJournal } from './rate-journal.js';

export interface RateWindow {
  /** Sends allowed within `perMs`. */
  readonly messages: number;
  readonly perMs: number;
}

/** A slot taken by one send: `settle()` when it is acknowledged (or given up); the slot frees `per` later. */
export interface RateTicket {
  settle(t?: number): void;
}

/**
 * The guard added to a window of `perMs`: 2 % of it, at least 50 ms, at most 1 s. It absorbs what could still bunch
 * messages where they are counted — clock-rate differences, and jitter after the broker (a subscriber, a bridge).
 */
export function rateGuardMs(perMs: number): number {
  return Math.min(1000, Math.max(50, Math.ceil(perMs * 0.02)));
}

class Ring {
  /** When each of the last `cap` sends was acknowledged (+Infinity: not yet). */
  readonly times: Float64Array;
  head = 0;
  count = 0;
  constructor(
    readonly cap: number,
    readonly span: number,
  ) {
    this.times = new Float64Array(cap);
  }
  /** The acknowledgement time of the send a new one would replace (-Infinity while slots are free). */
  oldest(): number {
    return this.count < this.cap ? Number.NEGATIVE_INFINITY : this.times[this.head];
  }
  /** Logs a send; returns its position. */
  push(t: number): number {
    const at = this.head;
    this.times[at] = t;
    this.head = (this.head + 1) % this.cap;
    if (this.count < this.cap) this.count++;
    return at;
  }
  /** The logged times, oldest first. */
  list(): number[] {
    const out: number[] = [];
    const start = this.count < this.cap ? 0 : this.head;
    for (let i = 0; i < this.count; i++) out.push(this.times[(start + i) % this.cap]);
    return out;
  }
}

export class RateLimiter {
  private readonly rings: Ring[];
  /** Waiters woken when a ticket settles (a slot's release time became known). */
  private readonly wake = new Set<() => void>();

  /** Wall-clock ms minus `now()`: the journal logs wall-clock times, the windows run on the monotonic clock. */
  private readonly wallOffset: number;

  constructor(
    readonly windows: readonly RateWindow[],
    /** A monotonic clock in ms (tests pass their own). */
    readonly now: () => number = () => performance.now(),
    /** Where the sends are also logged, and those of the previous run read back from (none: in memory only). */
    private readonly journal?: RateJournal,
  ) {
    this.rings = windows.map((w) => new Ring(w.messages, w.perMs + rateGuardMs(w.perMs)));
    const t = now();
    this.wallOffset = Date.now() - t;
    // the previous run's sends hold their slots as they would have (one never acknowledged: from now on)
    for (const e of journal?.previous ?? []) {
      const at = e === null ? t : Math.min(t, e - this.wallOffset);
      for (const r of this.rings) r.push(at);
    }
  }

  /** The journal's capacity for `windows`: the largest window's quota. */
  static journalCap(windows: readonly RateWindow[]): number {
    return Math.max(1, ...windows.map((w) => w.messages));
  }

  /** False when no window is configured (everything goes at once). */
  get limited(): boolean {
    return this.rings.length > 0;
  }

  /** The earliest time (clock ms) ≥ `t` at which one more send is allowed; Infinity while that awaits a PUBACK. */
  nextAt(t: number = this.now()): number {
    let at = t;
    for (const r of this.rings) at = Math.max(at, r.oldest() + r.span);
    return at;
  }

  /** Logs a send acknowledged at `t` (a ticket settled at once). */
  record(t: number = this.now()): void {
    for (const r of this.rings) r.push(t);
    this.journal?.log(t + this.wallOffset);
  }

  /** Takes a slot in every window now; its release time is set by settling the ticket. */
  private take(): RateTicket {
    const at = this.rings.map((r) => r.push(Number.POSITIVE_INFINITY));
    const logged = this.journal?.sent(this.now() + this.wallOffset);
    let settled = false;
    return {
      settle: (t?: number) => {
        if (settled) return;
        settled = true;
        const when = t ?? this.now();
        this.rings.forEach((r, i) => {
          r.times[at[i]] = when;
        });
        if (logged !== undefined) this.journal?.settle(logged, when + this.wallOffset);
        for (const w of [...this.wake]) w();
      },
    };
  }

  /**
   * When the last of `n` sends could go if each went as early as allowed from `t` on (sends not yet acknowledged
   * counted as acknowledged at `t`, every new one acknowledged as it is sent) and nothing else sent meanwhile;
   * `fromIdle`: as if nothing had been sent for longer than every window (the best the limits allow). `t` itself
   * when n is 0 or nothing is limited.
   */
  finishAt(n: number, t: number = this.now(), fromIdle = false): number {
    if (n <= 0 || this.rings.length === 0) return t;
    const logs = this.rings.map((r) => (fromIdle ? [] : r.list().map((x) => Math.min(x, t))));
    let at = t;
    for (let k = 0; k < n; k++) {
      for (let w = 0; w < this.rings.length; w++) {
        const r = this.rings[w];
        const log = logs[w];
        if (log.length >= r.cap) at = Math.max(at, log[log.length - r.cap] + r.span);
      }
      for (const log of logs) log.push(at);
    }
    return at;
  }

  /**
   * Waits until one more send is allowed and takes its slot (a ticket to settle when the send is acknowledged or
   * given up), or gives up when `signal` aborts (null). The check and the take happen in the same tick, so
   * concurrent callers never over-admit. Unlimited: a ticket at once.
   */
  async acquire(signal?: AbortSignal): Promise<RateTicket | null> {
    for (;;) {
      if (signal?.aborted) return null;
      const now = this.now();
      const at = this.nextAt(now);
      if (at <= now) return this.take();
      await this.until(at === Number.POSITIVE_INFINITY ? null : Math.max(1, Math.ceil(at - now)), signal);
    }
  }

  /** Sleeps `ms` (null: until a ticket settles), or less when a ticket settles or the signal aborts. */
  private until(ms: number | null, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        if (t) clearTimeout(t);
        this.wake.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = ms === null ? null : setTimeout(done, ms);
      this.wake.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
