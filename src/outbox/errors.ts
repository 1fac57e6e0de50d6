/**
 * Typed errors of the outbox, each a SigflowError with an outbox code from the catalogue
 * (src/errors/catalogue.ts). Every message names what is wrong and where (file, record index, byte offset); the
 * classes stay for callers that want their typed detail (`offset`, `holder`), everyone else branches on `code`.
 */
import { type ErrorCode, SigflowError, type SigflowErrorOptions } from '../errors/index.js';

/** The codes an outbox error can carry. */
export type OutboxErrorCode = Extract<
  ErrorCode,
  | 'SF_ERR_OUTBOX_INPUT'
  | 'SF_ERR_OUTBOX_BATCH_DECODE'
  | 'SF_ERR_OUTBOX_FULL'
  | 'SF_ERR_OUTBOX_BATCH_TOO_LARGE'
  | 'SF_ERR_OUTBOX_OPEN'
  | 'SF_ERR_OUTBOX_MISSING'
  | 'SF_ERR_OUTBOX_LOCKED'
  | 'SF_ERR_OUTBOX_CORRUPT'
  | 'SF_ERR_OUTBOX_CLOSED'
  | 'SF_ERR_OUTBOX_NO_SINKS'
  | 'SF_ERR_OUTBOX_UNKNOWN_SINK'
  | 'SF_ERR_OUTBOX_NOT_IDLE'
  | 'SF_ERR_OUTBOX_DRAIN_TIMEOUT'
  | 'SF_ERR_OUTBOX_WRITE_TIMEOUT'
  | 'SF_ERR_OUTBOX_NO_SUCH_DEAD_LETTER'
>;

export class OutboxError extends SigflowError {
  declare readonly code: OutboxErrorCode;

  constructor(code: OutboxErrorCode, message: string, options?: SigflowErrorOptions) {
    super(code, message, options);
  }
}

/** A record handed to `enqueue` is not a valid TelemetryRecord (names the record index and the field). */
export class OutboxInputError extends OutboxError {
  constructor(message: string, options?: SigflowErrorOptions) {
    super('SF_ERR_OUTBOX_INPUT', message, options);
  }
}

/** An encoded batch cannot be decoded (checksum mismatch, truncation, bad tag); names the byte offset. */
export class BatchDecodeError extends OutboxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super('SF_ERR_OUTBOX_BATCH_DECODE', `${message} (at byte ${offset})`, { where: `byte ${offset}` });
  }
}

/** `when_full: block` waited for space longer than its timeout. Nothing was stored. */
export class OutboxFullError extends OutboxError {
  constructor(message: string) {
    super('SF_ERR_OUTBOX_FULL', message);
  }
}

/** A single batch is larger than the whole disk budget, so no policy can ever make room for it. */
export class BatchTooLargeError extends OutboxError {
  constructor(message: string) {
    super('SF_ERR_OUTBOX_BATCH_TOO_LARGE', message);
  }
}

/**
 * The data directory cannot be used: not a sigflow outbox, a newer schema, missing (commands that never create
 * one), damaged (read-only opens), or locked (OutboxLockedError). `where` is the file or directory.
 */
export class OutboxOpenError extends OutboxError {
  constructor(
    message: string,
    options: SigflowErrorOptions & {
      code?: 'SF_ERR_OUTBOX_OPEN' | 'SF_ERR_OUTBOX_MISSING' | 'SF_ERR_OUTBOX_CORRUPT' | 'SF_ERR_OUTBOX_LOCKED';
    } = {},
  ) {
    super(options.code ?? 'SF_ERR_OUTBOX_OPEN', message, options);
  }
}

/** Another process (or this one) owns the data directory. `holder` is its pid when known. */
export class OutboxLockedError extends OutboxOpenError {
  constructor(
    message: string,
    readonly holder: number | null,
    where: string,
  ) {
    super(message, { code: 'SF_ERR_OUTBOX_LOCKED', where });
  }
}

/** The outbox was used after close(), or closed while a call was waiting. */
export class OutboxClosedError extends OutboxError {
  constructor(message: string) {
    super('SF_ERR_OUTBOX_CLOSED', message);
  }
}

/** The reason a write that outlived `write_timeout` is aborted with (its AbortSignal's reason). */
export class SinkWriteTimeoutError extends OutboxError {
  constructor(message: string) {
    super('SF_ERR_OUTBOX_WRITE_TIMEOUT', message);
  }
}
