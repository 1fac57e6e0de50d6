/** Public API of the durable outbox. See README.md in this folder and docs/outbox.md. */
export { decodeBatch, encodeBatch } from './codec.js';
export {
  type OutboxConfig,
  type OutboxOptions,
  outboxConfigSchema,
  outboxOptionsFromConfig,
  type ResolvedOutboxOptions,
  type ResolvedSinkDelivery,
  resolveOutboxOptions,
  type SinkDelivery,
  type SinkDeliveryConfig,
  sinkDeliveryConfigSchema,
} from './config.js';
export { crc32 } from './crc32.js';
export {
  BatchDecodeError,
  BatchTooLargeError,
  OutboxClosedError,
  OutboxError,
  type OutboxErrorCode,
  OutboxFullError,
  OutboxInputError,
  OutboxLockedError,
  OutboxOpenError,
  SinkWriteTimeoutError,
} from './errors.js';
export { lockDataDir, lockHolder } from './lock.js';
export { type EnqueueOptions, type EnqueueResult, Outbox } from './outbox.js';
export {
  accountedRecords,
  type DeadLetter,
  OUTBOX_FILE,
  type OutboxEventKind,
  type RecoveryEvent,
  type SinkCounters,
  type SinkPending,
  type Synchronous,
  type WhenFull,
} from './schema.js';
export type { Sink, SinkContext, WriteResult } from './sink.js';
export { buildStatus, type OutboxStatus, type SinkStatus } from './status.js';
export { OutboxStore, outboxDirOf, outboxExists, type StoreOptions } from './store.js';
export type { StepOutcome } from './worker.js';
