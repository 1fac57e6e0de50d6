/** The CSS-compatible Parquet data lake: layout, table files, the store (folder or S3), the ledger. See README.md. */

export {
  DEVICEMETA_KEY,
  datePath,
  dayOf,
  dayOfPath,
  isDeviceFolder,
  LAKE_META,
  logStem,
  type MessageFolderSpec,
  messageFolder,
  messagesKey,
  parseTableKey,
  safeSegment,
  tableKey,
  US_PER_DAY,
} from './layout.js';
export { type FailureEntry, LakeLedger, type LedgerEntry } from './ledger.js';
export { writeDeviceMetaTable, writeMessagesTable } from './side.js';
export { FolderLakeStore, type LakeObject, type LakeStore, openLakeStore, S3LakeStore } from './store.js';
export { LakeTable } from './table.js';
