/**
 * A chatty program must not flood sigflow's log: at most `max` lines of one kind (stderr, the program's log
 * lines) are logged per minute; the rest are counted, and said as one line when the minute is over.
 */
import type { Logger } from 'pino';

export class LogLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private logged = 0;
  private suppressed = 0;

  constructor(
    /** What is limited, in the summary line: `stderr lines of probe`. */
    private readonly what: string,
    private readonly max = 20,
    private readonly windowMs = 60_000,
  ) {}

  /** May this line be logged? The `max`th of a window also says that the rest will not be. */
  take(logger: Logger): { log: boolean; last: boolean } {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.flush(logger);
      this.windowStart = now;
      this.logged = 0;
    }
    if (this.logged < this.max) {
      this.logged++;
      return { log: true, last: this.logged === this.max };
    }
    this.suppressed++;
    return { log: false, last: false };
  }

  /** Says how many were not logged (if any). */
  flush(logger: Logger): void {
    if (this.suppressed === 0) return;
    logger.warn(
      { suppressed: this.suppressed },
      `${this.suppressed} more ${this.what} not logged (at most ${this.max} a minute are)`,
    );
    this.suppressed = 0;
  }

  /** The note for the last line logged in a window. */
  get note(): string {
    return ` (the next ${this.what} this minute are counted, not logged)`;
  }
}
