/**
 * The outbox's file format: the SQL schema of `<dataDir>/outbox.db`, its identity (application_id, user_version),
 * the row types the store hands out and the mapping of SQL rows onto them. Shared by the store (store.ts) and the
 * salvage of damaged files (recovery.ts).
 *
 *   batches       encoded record batches (id ascending = acceptance order), each with its CRC-32 and an optional
 *                 target sink (set for dead letters replayed to one sink)
 *   sinks         one cursor per sink (the id of the last batch it is done with) + persistent counters
 *   dead_letters  records a sink rejected permanently, with the server's reason
 *   quarantine    batches whose checksum or encoding failed, moved aside
 *   events        recovery events (a corrupt file renamed aside, rows salvaged…)
 *   state         running totals of the batches table, kept by triggers (so other processes see them too)
 */
export const OUTBOX_FILE = 'outbox.db';
export const APP_ID = 0x53464f42; // "SFOB"
export const SCHEMA_VERSION = 2;

export type Synchronous = 'normal' | 'full';
export type WhenFull = 'block' | 'drop_oldest' | 'drop_newest';

export interface StoredBatch {
  id: number;
  createdMs: number;
  target: string | null;
  records: number;
  bytes: number;
  crc: number;
  data: Buffer;
}

export interface SinkCounters {
  name: string;
  cursor: number;
  /**
   * The batch after the cursor this sink has partly done (a write covered only its first records), and how many
   * of its records (a prefix, in acceptance order) are done: delivered or dead-lettered. They are not pending.
   */
  partialBatch: number | null;
  partialDone: number;
  addedMs: number;
  /**
   * Records put into this sink's queue: enqueued while it had a cursor (drop_newest ones too, counted as dropped),
   * and dead letters replayed to it. At every moment accepted = delivered + pending + dead-lettered + dropped +
   * expired + corrupt + lost (see `accountedRecords`).
   */
  acceptedRecords: number;
  /** Records pending for this sink that a damaged outbox file lost (recovery.ts): gone, re-send them. */
  lostRecords: number;
  deliveredRecords: number;
  deliveredWrites: number;
  droppedRecords: number;
  expiredRecords: number;
  deadLetteredRecords: number;
  /** Dead letters deleted because the dead-letter budget was full (oldest first). */
  deadLettersDroppedRecords: number;
  /** Dead-lettered records deleted by `outbox purge` (a drop the user chose). */
  purgedRecords: number;
  corruptRecords: number;
  retries: number;
  authFailures: number;
  alarm: boolean;
  alarmReason: string | null;
  lastError: string | null;
  lastErrorMs: number | null;
  lastDeliveryMs: number | null;
}

export interface SinkPending {
  pendingBatches: number;
  pendingRecords: number;
  pendingBytes: number;
  oldestPendingMs: number | null;
}

export interface DeadLetter {
  id: number;
  sink: string;
  createdMs: number;
  kind: string;
  reason: string;
  records: number;
  bytes: number;
  crc: number;
  sourceBatch: number | null;
  data?: Buffer;
}

/** Kinds of `events` rows: a damaged file recovered, records it lost for a sink, a sink forgotten. */
export type OutboxEventKind = 'recovery' | 'recovery-loss' | 'forget-sink';

export interface RecoveryEvent {
  id: number;
  atMs: number;
  kind: string;
  message: string;
  /** The sink the event is about (recovery-loss, forget-sink), else null. */
  sink: string | null;
  /** Records the event concerns (lost, dropped by forget-sink), else null. */
  records: number | null;
  /** recovery-loss: the batch ids whose records were lost, as [first, last] ranges (for the import ledger). */
  lostBatches: [number, number][] | null;
}

export interface NewDeadLetter {
  kind: string;
  reason: string;
  records: number;
  data: Buffer;
  sourceBatch: number | null;
}

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pending_batches INTEGER NOT NULL DEFAULT 0,
  pending_records INTEGER NOT NULL DEFAULT 0,
  pending_bytes INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO state (id) VALUES (1);
CREATE TABLE IF NOT EXISTS batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ms INTEGER NOT NULL,
  target TEXT,
  records INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_target ON batches (target, id) WHERE target IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS batches_ins AFTER INSERT ON batches BEGIN
  UPDATE state SET pending_batches = pending_batches + 1, pending_records = pending_records + NEW.records,
    pending_bytes = pending_bytes + NEW.bytes WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS batches_del AFTER DELETE ON batches BEGIN
  UPDATE state SET pending_batches = pending_batches - 1, pending_records = pending_records - OLD.records,
    pending_bytes = pending_bytes - OLD.bytes WHERE id = 1;
END;
CREATE TABLE IF NOT EXISTS sinks (
  name TEXT PRIMARY KEY,
  cursor INTEGER NOT NULL,
  partial_batch INTEGER,
  partial_done INTEGER NOT NULL DEFAULT 0,
  added_ms INTEGER NOT NULL,
  accepted_records INTEGER NOT NULL DEFAULT 0,
  lost_records INTEGER NOT NULL DEFAULT 0,
  delivered_records INTEGER NOT NULL DEFAULT 0,
  delivered_writes INTEGER NOT NULL DEFAULT 0,
  dropped_records INTEGER NOT NULL DEFAULT 0,
  expired_records INTEGER NOT NULL DEFAULT 0,
  dead_lettered_records INTEGER NOT NULL DEFAULT 0,
  dead_letters_dropped_records INTEGER NOT NULL DEFAULT 0,
  purged_records INTEGER NOT NULL DEFAULT 0,
  corrupt_records INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  auth_failures INTEGER NOT NULL DEFAULT 0,
  alarm INTEGER NOT NULL DEFAULT 0,
  alarm_reason TEXT,
  last_error TEXT,
  last_error_ms INTEGER,
  last_delivery_ms INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sink TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  reason TEXT NOT NULL,
  records INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  source_batch INTEGER,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_sink ON dead_letters (sink, id);
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id INTEGER,
  moved_ms INTEGER NOT NULL,
  target TEXT,
  records INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  reason TEXT NOT NULL,
  data BLOB
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  sink TEXT,
  records INTEGER,
  detail TEXT
);
`;

/**
 * Schema 1 → 2: per-sink accepted/lost counters and partial progress, event sink/records/detail. A sink's accepted
 * count starts as what it had accounted for (its identity then holds from here on).
 */
export const MIGRATE_1_TO_2 = `
ALTER TABLE sinks ADD COLUMN partial_batch INTEGER;
ALTER TABLE sinks ADD COLUMN partial_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sinks ADD COLUMN accepted_records INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sinks ADD COLUMN lost_records INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN sink TEXT;
ALTER TABLE events ADD COLUMN records INTEGER;
ALTER TABLE events ADD COLUMN detail TEXT;
UPDATE sinks SET accepted_records = delivered_records + dead_lettered_records + dropped_records + expired_records +
  corrupt_records + (SELECT coalesce(sum(records), 0) FROM batches b
                      WHERE b.id > sinks.cursor AND (b.target IS NULL OR b.target = sinks.name));
`;

/**
 * What a sink's counters account for: delivered + pending + dead-lettered + dropped (disk budget, max age,
 * corrupt, lost in recovery). Equal to `acceptedRecords` at every moment.
 */
export function accountedRecords(c: SinkCounters, pendingRecords: number): number {
  return (
    c.deliveredRecords +
    pendingRecords +
    c.deadLetteredRecords +
    c.droppedRecords +
    c.expiredRecords +
    c.corruptRecords +
    c.lostRecords
  );
}

export function rowToSink(r: Record<string, unknown>): SinkCounters {
  return {
    name: r.name as string,
    cursor: r.cursor as number,
    partialBatch: (r.partial_batch as number | null | undefined) ?? null,
    partialDone: (r.partial_done as number | undefined) ?? 0,
    addedMs: r.added_ms as number,
    acceptedRecords: (r.accepted_records as number | undefined) ?? 0,
    lostRecords: (r.lost_records as number | undefined) ?? 0,
    deliveredRecords: r.delivered_records as number,
    deliveredWrites: r.delivered_writes as number,
    droppedRecords: r.dropped_records as number,
    expiredRecords: r.expired_records as number,
    deadLetteredRecords: r.dead_lettered_records as number,
    deadLettersDroppedRecords: r.dead_letters_dropped_records as number,
    purgedRecords: r.purged_records as number,
    corruptRecords: r.corrupt_records as number,
    retries: r.retries as number,
    authFailures: r.auth_failures as number,
    alarm: r.alarm === 1,
    alarmReason: (r.alarm_reason as string | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    lastErrorMs: (r.last_error_ms as number | null) ?? null,
    lastDeliveryMs: (r.last_delivery_ms as number | null) ?? null,
  };
}

export function rowToBatch(r: Record<string, unknown>): StoredBatch {
  return {
    id: r.id as number,
    createdMs: r.created_ms as number,
    target: (r.target as string | null) ?? null,
    records: r.records as number,
    bytes: r.bytes as number,
    crc: r.crc as number,
    data: r.data as Buffer,
  };
}

export function rowToDeadLetter(r: Record<string, unknown>): DeadLetter {
  const d: DeadLetter = {
    id: r.id as number,
    sink: r.sink as string,
    createdMs: r.created_ms as number,
    kind: r.kind as string,
    reason: r.reason as string,
    records: r.records as number,
    bytes: r.bytes as number,
    crc: r.crc as number,
    sourceBatch: (r.source_batch as number | null) ?? null,
  };
  if (r.data !== undefined) d.data = r.data as Buffer;
  return d;
}
