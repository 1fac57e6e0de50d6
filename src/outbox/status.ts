/**
 * The outbox's status: pending, delivered, dropped, dead-lettered and quarantined, per sink and in total, read from
 * the store alone (the CLI, another process) or together with a running outbox's live worker state (in flight,
 * failures, backoff). What `outbox.status()` and `sigflow outbox status [--json]` show; see docs/outbox.md
 * "Metrics".
 */
import type { RecoveryEvent, SinkCounters, SinkPending, Synchronous, WhenFull } from './schema.js';
import type { OutboxStore } from './store.js';

export interface SinkStatus extends SinkCounters, SinkPending {
  /** Configured in this process (inactive sinks still hold their backlog). */
  active: boolean;
  /** Dead letters of this sink stored now (deadLetteredRecords counts every record ever dead-lettered). */
  deadLettersStored: { count: number; records: number; bytes: number };
  oldestPendingAgeMs: number | null;
  inFlight: number;
  consecutiveFailures: number;
  backoffUntilMs: number | null;
}

export interface OutboxStatus {
  file: string;
  pendingBatches: number;
  pendingRecords: number;
  pendingBytes: number;
  maxBytes: number | null;
  maxAgeMs: number | null;
  whenFull: WhenFull | null;
  synchronous: Synchronous | null;
  deadLetters: { count: number; records: number; bytes: number };
  quarantined: { count: number; records: number; bytes: number };
  recoveryEvents: RecoveryEvent[];
  sinks: SinkStatus[];
}

/** A running sink worker's state, as the status shows it (worker.ts). */
export interface LiveWorkerState {
  readonly inFlight: number;
  readonly consecutiveFailures: number;
  readonly backoffUntil: number;
}

/** A running outbox's settings and workers, for buildStatus. */
export interface LiveOutboxState {
  active: ReadonlyMap<string, LiveWorkerState>;
  maxBytes: number;
  maxAgeMs: number;
  whenFull: WhenFull;
  synchronous: Synchronous;
}

/** Builds the status of an outbox from its store alone (the CLI) or with live worker state. */
export function buildStatus(store: OutboxStore, live?: LiveOutboxState, nowMs = Date.now()): OutboxStatus {
  const t = store.totals();
  const dl = store.deadLettersBySink();
  const sinks: SinkStatus[] = store.sinks().map((c) => {
    const p = store.pendingFor(c);
    const w = live?.active.get(c.name);
    return {
      ...c,
      ...p,
      active: w !== undefined,
      deadLettersStored: dl.get(c.name) ?? { count: 0, records: 0, bytes: 0 },
      oldestPendingAgeMs: p.oldestPendingMs === null ? null : Math.max(0, nowMs - p.oldestPendingMs),
      inFlight: w?.inFlight ?? 0,
      consecutiveFailures: w?.consecutiveFailures ?? 0,
      backoffUntilMs: w && w.backoffUntil > nowMs ? w.backoffUntil : null,
    };
  });
  return {
    file: store.file,
    ...t,
    maxBytes: live ? live.maxBytes : null,
    maxAgeMs: live ? (Number.isFinite(live.maxAgeMs) ? live.maxAgeMs : null) : null,
    whenFull: live ? live.whenFull : null,
    synchronous: live ? live.synchronous : null,
    deadLetters: store.deadLetterTotals(),
    quarantined: store.quarantineTotals(),
    recoveryEvents: store.events(),
    sinks,
  };
}
