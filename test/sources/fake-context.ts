/**
 * A SourceContext for running a source in-process in a test: frames copied out as rows, states, counters and log
 * lines recorded, an AbortController to stop it, and a poll helper.
 */
import pino from 'pino';
import type { CanFrameBatch } from '../../src/framers/index.js';
import type { SourceContext } from '../../src/pipelines/live/index.js';

export interface FrameRow {
  us: number;
  id: number;
  ext: boolean;
  flags: number;
  channel: number;
  data: string;
  receivedUs: number;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class FakeContext {
  readonly ac = new AbortController();
  readonly frames: FrameRow[] = [];
  readonly states: { connected: boolean; detail: string }[] = [];
  readonly counts: Record<string, number> = {};
  readonly logs: LogLine[] = [];
  tracked: Readonly<Record<string, number>> | null = null;
  /** When set, frames() returns this promise (backpressure). */
  hold: Promise<void> | null = null;
  readonly ctx: SourceContext;

  constructor() {
    const logger = pino({ level: 'debug' }, { write: (line: string) => this.logs.push(JSON.parse(line) as LogLine) });
    this.ctx = {
      frames: (batch: CanFrameBatch, receivedUs: number) => {
        for (let i = 0; i < batch.count; i++) {
          const data = Buffer.from(batch.data.subarray(batch.offset[i], batch.offset[i] + batch.length[i]));
          this.frames.push({
            us: batch.timeUs[i],
            id: batch.id[i],
            ext: batch.ext[i] === 1,
            flags: batch.flags[i],
            channel: batch.channel[i],
            data: data.toString('hex').toUpperCase(),
            receivedUs,
          });
        }
        return this.hold ?? undefined;
      },
      records: async () => {},
      reject: async () => {},
      state: (connected, detail) => {
        this.states.push({ connected, detail });
      },
      count: (name, by = 1) => {
        this.counts[name] = (this.counts[name] ?? 0) + by;
      },
      track: (c) => {
        this.tracked = c;
      },
      known: () => false,
      logger,
      signal: this.ac.signal,
    };
  }

  /** Log messages matching `re`. */
  said(re: RegExp): string[] {
    return this.logs.map((l) => l.msg).filter((m) => re.test(m));
  }
}

/** Polls `cond` every 10 ms until it holds; throws `what` after `timeoutMs`. */
export async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A candump -L line for a time in µs. */
export function candumpLine(us: number, iface: string, id: string, data: string): string {
  const s = Math.floor(us / 1e6);
  const frac = String(us % 1e6).padStart(6, '0');
  return `(${s}.${frac}) ${iface} ${id}#${data}\n`;
}
