/**
 * A FakeContext for sources of records (system-checks, exec): the records and rejects handed over are kept, each
 * with when it was handed over; `hold` makes records() wait (an outbox that is slow), `refuse` makes it reject
 * (an outbox that cannot store); `outstanding` is the most calls ever waiting at once.
 */
import type { TelemetryRecord } from '../../src/records/index.js';
import { FakeContext } from './fake-context.js';

export interface Handed {
  record: TelemetryRecord;
  /** When records() was called (ms since the epoch). */
  atMs: number;
}

export class RecordsContext extends FakeContext {
  readonly records: Handed[] = [];
  readonly rejects: { topic: string; payload: Buffer; reason: string }[] = [];
  /** records() waits this long before it resolves. */
  holdMs = 0;
  /** records() rejects with this. */
  refuse: Error | null = null;
  outstanding = 0;
  maxOutstanding = 0;

  constructor() {
    super();
    this.ctx.records = async (rs) => {
      const atMs = Date.now();
      this.outstanding++;
      this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
      try {
        if (this.holdMs > 0) await new Promise((r) => setTimeout(r, this.holdMs));
        if (this.refuse) throw this.refuse;
        for (const record of rs) this.records.push({ record, atMs });
      } finally {
        this.outstanding--;
      }
    };
    this.ctx.reject = async (topic, payload, reason) => {
      this.rejects.push({ topic, payload: Buffer.from(payload), reason });
    };
  }

  /** The records of one measurement. */
  of(measurement: string): TelemetryRecord[] {
    return this.records.map((h) => h.record).filter((r) => r.measurement === measurement);
  }

  /** Log lines at warn (40) or above. */
  problems(): string[] {
    return this.logs.filter((l) => l.level >= 40).map((l) => l.msg);
  }
}
