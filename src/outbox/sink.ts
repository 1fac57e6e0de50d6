/**
 * The contract between the durable outbox and a sink. A sink writes one batch and says what happened; the outbox
 * decides what to do next (advance the cursor, retry, split, dead-letter, alarm). Sinks never retry on their own
 * and never drop silently. It lives with the outbox (the layer below the sinks): every sink implements it, and
 * the outbox's per-sink worker (worker.ts) acts on each WriteResult kind with one method.
 */
import type { TelemetryRecord } from '../records/index.js';

export type WriteResult =
  /** Every record is stored (or was already: writes are idempotent on series + time). */
  | { kind: 'ok' }
  /** Stored except the listed records, which the server rejected permanently (dead-letter them). */
  | { kind: 'partial'; rejected: { index: number; reason: string }[]; reason: string }
  /** The batch is too large for the server (HTTP 413): split it and write the halves. */
  | { kind: 'too_large'; reason: string }
  /** The whole batch is rejected permanently (400/422…): dead-letter it with the server's reason. */
  | { kind: 'permanent'; reason: string }
  /** Credentials refused (401/403): keep the batch, raise an alarm, retry slowly. */
  | { kind: 'auth'; reason: string }
  /**
   * The server cannot take any data until someone changes its configuration (InfluxDB 404 "database not found",
   * a PostgreSQL table altered behind the sink's back): keep the batch, raise an alarm, retry slowly.
   */
  | { kind: 'misconfigured'; reason: string }
  /** Transient (429, 5xx, network): retry with backoff; honour the server's Retry-After when given. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number };

export interface Sink {
  /** Unique name within a configuration; the outbox keys its cursor by it. */
  readonly name: string;
  /** Writes one batch. Must not throw for server or network failures: classify them instead. */
  write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult>;
  /**
   * Optional: checks once that the server answers (and prepares it, e.g. creates the database), so a job can
   * warn at its start instead of after minutes of retries. Resolves with null when it answers, else with the
   * reason (never throws); it changes nothing the outbox relies on — writes go on as usual either way.
   */
  probe?(signal?: AbortSignal): Promise<string | null>;
  /** Releases connections and files. */
  close(): Promise<void>;
}

/** What a running sink may tell its host (the daemon's log, the supervisor). */
export interface SinkContext {
  /** Something found out once and worth saying (e.g. the InfluxDB API `api: auto` chose). */
  info?: (message: string) => void;
  /**
   * A configuration pushed by the uplink's server (a ThingsBoard shared attribute, a Tenta
   * `configurations/<sensor>` message), unwrapped to `{revision, config}` as far as the sink knows its server's
   * envelope; `source` names the sink. The supervisor validates, applies and acknowledges it (remote-config.ts).
   */
  remoteConfig?: (source: string, payload: unknown) => void;
  /** A folder of the sink's own for state that must survive a restart (the uplinks' rate journal); none: memory. */
  stateDir?: string;
}
