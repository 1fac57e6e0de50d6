/** The CSS-compatible Parquet data lake: layout, table files, the store (folder or S3), the ledger. See README.md. */

export {
  columnNames,
  compactedFile,
  DEVICEMETA_KEY,
  datePath,
  dayOf,
  dayOfPath,
  isCompactedFile,
  isDeviceFolder,
  LAKE_META,
  logStem,
  MAX_SEGMENT,
  type MessageFolderSpec,
  messageFolder,
  messagesKey,
  parseTableKey,
  safeSegment,
  tableKey,
  US_PER_DAY,
  uniqueSegment,
} from './layout.js';
export { type CompactionRecord, type FailureEntry, LakeLedger, type LedgerEntry } from './ledger.js';
export {
  DEFAULT_MIRROR_MAX_BYTES,
  LakeMirror,
  type MirrorOptions,
  type MirrorStats,
  mirrorFolder,
} from './mirror.js';
export { writeDeviceMetaTable, writeMessagesTable, writeSideTables } from './side.js';
export {
  asS3Store,
  FolderLakeStore,
  type LakeObject,
  type LakeStore,
  openLakeStore,
  S3LakeStore,
} from './store.js';
export { LakeTable } from './table.js';
