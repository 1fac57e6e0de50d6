/**
 * Aligned scheduling: ticks at the wall-clock multiples of an interval since the epoch (every 10 s → :00, :10, :20
 * …), as Ivy's procedures measure. A tick reached late — the event loop was blocked, the machine slept, the
 * previous tick's work ran past it, the clock jumped forward — is not made up for: the schedule skips to the next
 * multiple still ahead and counts what it skipped, so ticks never come in a burst. The wait is cut in slices of
 * at most a second, so a clock set back (NTP on a box without a real-time clock) is noticed within one.
 * Used by the procedure sources (system-checks, exec).
 */
import { sleep } from './backoff.js';

/** The shortest interval a schedule takes (ms). */
export const MIN_EVERY_MS = 100;

/** The longest single sleep: the wall clock is looked at again at least this often. */
const SLICE_MS = 1000;

/** The first multiple of `everyMs` (since the epoch) after `nowMs`. */
export function nextMultiple(nowMs: number, everyMs: number): number {
  return (Math.floor(nowMs / everyMs) + 1) * everyMs;
}

export interface Tick {
  /** The scheduled time (ms since the epoch): a multiple of the interval. */
  time: number;
  /** Ticks skipped since the previous one returned (reached too late). */
  missed: number;
}

export class AlignedSchedule {
  private next: number;
  private missed = 0;
  /** A tick reached this late (ms) is skipped: half the interval, at most a second. */
  readonly tolerance: number;

  constructor(
    readonly everyMs: number,
    now = Date.now(),
  ) {
    this.next = nextMultiple(now, everyMs);
    this.tolerance = Math.min(everyMs / 2, 1000);
  }

  /** When the next tick is due (ms since the epoch). */
  get due(): number {
    return this.next;
  }

  /** Waits for the next tick; null once `signal` aborts. */
  async wait(signal: AbortSignal): Promise<Tick | null> {
    const every = this.everyMs;
    for (;;) {
      if (signal.aborted) return null;
      const now = Date.now();
      if (now < this.next - every) {
        // the clock was set back by more than an interval: start again from the first multiple ahead
        this.next = nextMultiple(now, every);
      }
      if (now < this.next) {
        await sleep(Math.min(this.next - now, SLICE_MS), signal);
        continue;
      }
      if (now - this.next > this.tolerance) {
        // late: skip to the next multiple ahead rather than catch up with a burst
        const ahead = nextMultiple(now, every);
        this.missed += Math.round((ahead - this.next) / every);
        this.next = ahead;
        continue;
      }
      const tick = { time: this.next, missed: this.missed };
      this.missed = 0;
      this.next += every;
      return tick;
    }
  }
}
