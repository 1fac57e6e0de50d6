/**
 * Log import: CANedge / MDF4 logs → DBC decode (src/pipelines/logdecode) → records → the durable outbox → sinks.
 * `runImport` is the whole job (`sigflow import`); `recordsFromBatch` maps decoded frames to records;
 * `ImportLedger` remembers imported files.
 */
export { type ImportHooks, type ImportJob, type ImportSummary, runImport } from './job.js';
export { ImportLedger, importFingerprint, type LedgerEntry } from './ledger.js';
export { recordsFromBatch } from './records.js';
export { type ImportTrigger, notifiedKeys, startImportTrigger, untilNextRound } from './watch.js';
