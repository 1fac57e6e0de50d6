/** Typed errors of the outbox. Every message names what is wrong and where (file, record index, byte offset). */

export class OutboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A record handed to `enqueue` is not a valid TelemetryRecord (names the record index and the field). */
export class OutboxInputError extends OutboxError {}

/** An encoded batch cannot be decoded (checksum mismatch, truncation, bad tag); names the byte offset. */
export class BatchDecodeError extends OutboxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
  }
}

/** `when_full: block` waited for space longer than its timeout. Nothing was stored. */
export class OutboxFullError extends OutboxError {}

/** A single batch is larger than the whole disk budget, so no policy can ever make room for it. */
export class BatchTooLargeError extends OutboxError {}

/** The data directory holds something that is not a sigflow outbox, or a newer schema, or is locked. */
export class OutboxOpenError extends OutboxError {}

/** The outbox was used after close(). */
export class OutboxClosedError extends OutboxError {}
