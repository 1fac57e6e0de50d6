/**
 * The contract between a live source (src/sources/<type>) and the pipeline that runs it: a source reads until its
 * `signal` aborts, handing what it reads to its context — frames (serial, replay, candump) or records it made
 * itself (MQTT) — and saying when it is connected. Owned here, below the sources, as the outbox owns `Sink`.
 */
import type { Logger } from 'pino';
import type { CanFrameBatch } from '../../framers/index.js';
import type { TelemetryRecord } from '../../records/index.js';

export interface SourceContext {
  /**
   * Frames read at `receivedUs` (µs since the epoch). The batch is the source's: it may clear and refill it as soon
   * as the returned promise (if any) resolves. A promise means "wait before reading more" (backpressure).
   */
  frames(batch: CanFrameBatch, receivedUs: number): void | Promise<void>;
  /**
   * Records a source made itself. Resolves once they are durable in the outbox: a source that acknowledges its
   * upstream (MQTT PUBACK) does so only after this resolves; rejects when they could not be stored.
   */
  records(records: TelemetryRecord[]): Promise<void>;
  /**
   * A message that could not be read (malformed, too large): archived with the reason (beside the outbox:
   * `rejected/<unit>.ndjson`). Resolves once archived — acknowledge it upstream then, so it never blocks a queue.
   */
  reject(topic: string, payload: Uint8Array, reason: string): Promise<void>;
  /** Connected or not, with what to say (logged on changes only, shown by /readyz and the stats). */
  state(connected: boolean, detail: string): void;
  /** Counters of the source's own (reconnects, open_failures …), merged into the unit's. */
  count(name: string, by?: number): void;
  /**
   * A live counter object (the current framer's) whose values are added to the unit's counters as `framer_<name>`;
   * tracking the next one (after a reconnect) keeps the previous one's counts.
   */
  track(counters: Readonly<Record<string, number>>): void;
  /** Is a frame with this id in the pipeline's database (records21's `auto` layout). */
  known(id: number, ext: boolean): boolean;
  logger: Logger;
  /** Aborted when the unit stops: finish the read in hand, flush the framer, resolve run(). */
  signal: AbortSignal;
}

export interface LiveSource {
  /** Reads until ctx.signal aborts (reconnecting as needed); resolves after the last frames were handed over. */
  run(ctx: SourceContext): Promise<void>;
}
