/** Public API of the durable outbox. See README.md in this folder and docs/outbox.md. */
export { decodeBatch, encodeBatch } from './codec.js';
export {
  type OutboxConfig,
  outboxConfigSchema,
  outboxOptionsFromConfig,
  type SinkDeliveryConfig,
  sinkDeliveryConfigSchema,
} from './config.js';
export { crc32 } from './crc32.js';
export {
  BatchDecodeError,
  BatchTooLargeError,
  OutboxClosedError,
  OutboxError,
  OutboxFullError,
  OutboxInputError,
  OutboxOpenError,
} from './errors.js';
export {
  buildStatus,
  type EnqueueOptions,
  type EnqueueResult,
  Outbox,
  type OutboxOptions,
  type OutboxStatus,
  type SinkDelivery,
  type SinkStatus,
  type StepOutcome,
} from './outbox.js';
export {
  type DeadLetter,
  OUTBOX_FILE,
  OutboxStore,
  outboxExists,
  type RecoveryEvent,
  type SinkCounters,
  type Synchronous,
  type WhenFull,
} from './store.js';
