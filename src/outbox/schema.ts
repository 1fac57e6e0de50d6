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
export const SCHEMA_VERSION = 1;

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
  addedMs: number;
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

export interface RecoveryEvent {
  id: number;
  atMs: number;
  kind: string;
  message: string;
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
  added_ms INTEGER NOT NULL,
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
  message TEXT NOT NULL
);
`;

export function rowToSink(r: Record<string, unknown>): SinkCounters {
  return {
    name: r.name as string,
    cursor: r.cursor as number,
    addedMs: r.added_ms as number,
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
