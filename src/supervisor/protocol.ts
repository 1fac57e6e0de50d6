/**
 * The messages between the supervisor and a unit's process (IPC with `serialization: 'advanced'`: records cross as
 * structured clones, bigint times and fields included). The unit waits for `ack` before it acknowledges anything
 * upstream.
 */
import type { PipelineEntry } from '../config/index.js';
import type { TelemetryRecord } from '../records/index.js';

/** Unit → supervisor. */
export type UnitMessage =
  /** Records to enqueue; answered by an `ack` with the same seq once they are durable (or refused). */
  | { type: 'records'; seq: number; records: TelemetryRecord[] }
  /** A message that could not be read: archived, then answered by an `ack` with the same seq. */
  | { type: 'reject'; seq: number; topic: string; reason: string; payload: Uint8Array }
  /** The source's connection changed. */
  | { type: 'state'; connected: boolean; detail: string }
  /** The unit's counters (cumulative since its process started). */
  | { type: 'counters'; counters: Record<string, number> }
  /** A pino JSON line of the unit's logger. */
  | { type: 'log'; line: string }
  /** The source ended after a stop (every record handed over was answered). */
  | { type: 'stopped'; counters: Record<string, number> }
  /** The unit cannot run with this config (a DBC that does not load…): not retried until the config changes. */
  | { type: 'fatal'; message: string; code: string };

/** Supervisor → unit. */
export type SupervisorMessage =
  /** The first message: what to run. */
  | { type: 'start'; pipeline: PipelineEntry; logLevel: string }
  /** `code`: the error's catalogue code when it has one (SF_ERR_OUTBOX_FULL: a source may offer the batch again). */
  | { type: 'ack'; seq: number; error: string | null; code?: string }
  /** Stop the source, hand over the last records, wait for their acks, then post `stopped` and exit. */
  | { type: 'stop' };
