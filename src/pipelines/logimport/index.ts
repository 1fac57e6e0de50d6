/**
 * Log import: CANedge / MDF4 logs → DBC decode (src/pipelines/logdecode) → records → the durable outbox → sinks.
 * `recordsFromBatch` maps decoded frames to records; `ImportLedger` remembers imported files.
 */
export { ImportLedger, importFingerprint, type LedgerEntry } from './ledger.js';
export { recordsFromBatch } from './records.js';
