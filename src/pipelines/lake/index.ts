/** Logs → the Parquet data lake, and queries over it. See README.md. */
export { DEFAULT_LEASE_MS, type LakeClaims, PgClaims, StoreClaims } from './claims.js';
export { type CompactOptions, type CompactStats, compactLake } from './compact.js';
export { LakeQuery, type LakeQueryResult, type LakeView, lakeDayFiles } from './query.js';
export { dbcFingerprint, type LakeWriteHooks, type LakeWriteJob, type LakeWriteStats, writeLake } from './write.js';
