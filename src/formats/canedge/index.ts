/**
 * CANedge logs: containers (MF4, MFC heatshrink, MFE AES-256-GCM, MFM), passwords.json, log-tree paths, log
 * stores and the incremental log index. See README.md in this folder. Byte sources come from src/io.
 */
export {
  buildCompressedContainer,
  buildEncryptedContainer,
  buildMfm,
  type CompressedHeader,
  type CompressOptions,
  type ContainerKind,
  DEFAULT_MAX_IN_MEMORY,
  decodeContainer,
  deriveKey,
  type EncryptedHeader,
  type EncryptOptions,
  type GenericHeader,
  type Layer,
  type OpenedLog,
  type OpenLogOptions,
  openLog,
  parseContainerHeader,
  parseGenericHeader,
  peekContainer,
  sniff,
} from './container.js';
export { CanedgeError, type CanedgeErrorCode } from './errors.js';
export {
  checkHeatshrinkParams,
  createHeatshrinkDecodeStream,
  DEFAULT_MAX_OUTPUT,
  type HeatshrinkDecodeOptions,
  HeatshrinkDecoder,
  HeatshrinkError,
  type HeatshrinkParams,
  heatshrinkDecode,
  heatshrinkEncode,
} from './heatshrink.js';
export {
  type DataWarnings,
  defaultCacheDir,
  defaultIndexPath,
  entryBounds,
  INDEX_FORMAT,
  INDEX_VERSION,
  type IndexEntry,
  type IndexFile,
  LogIndex,
  PROBE_REVISION,
  probeLogFile,
  type QueryOptions,
  type RefreshOptions,
  type RefreshStats,
  refreshIndex,
  type TimeRangeProbe,
} from './log-index.js';
export {
  EmptyLogStore,
  LocalLogStore,
  type LogStore,
  type LogStoreEntry,
  openStore,
  S3LogStore,
  type StoreSpec,
} from './log-store.js';
export { type CanedgeMetadata, type MdfHeaderInfo, readMdfHeader } from './mdf-header.js';
export { MDF4_TIME_RANGE_ID, mdf4TimeRange } from './mdf4-time-range.js';
export { openLogMdf4 } from './open-mdf.js';
export { loadPasswords, PasswordBook, parsePasswords, passwordsFileOf, passwordsFor } from './passwords.js';
export { type LogPath, parseLogPath } from './tree.js';
export { type TreeFile, type TreeFs, type TreeProblem, type WalkOptions, walkTree } from './tree-walk.js';
