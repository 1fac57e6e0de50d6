/**
 * The typed error of byte sources: a SigflowError with an io code from the catalogue (open, read, closed, range,
 * truncated), naming the source and the offset.
 */
import { SigflowError } from '../errors/index.js';

export type IoErrorCode =
  | 'SF_ERR_IO_OPEN'
  | 'SF_ERR_IO_READ'
  | 'SF_ERR_IO_CLOSED'
  | 'SF_ERR_IO_RANGE'
  | 'SF_ERR_IO_TRUNCATED'
  | 'SF_ERR_IO_WRITE';

export class IoError extends SigflowError {
  declare readonly code: IoErrorCode;

  constructor(
    code: IoErrorCode,
    /** The source's name (a path, a store key, `<buffer>`). */
    readonly source: string,
    message: string,
    options: { offset?: number; cause?: unknown } = {},
  ) {
    super(code, `${source}: ${message}`, {
      where: options.offset === undefined ? source : `${source} at byte ${options.offset}`,
      cause: options.cause,
    });
    this.offset = options.offset;
  }

  /** The byte offset the error is about, when there is one. */
  readonly offset: number | undefined;
}

/** The system's short reason for a failed operation: its code (ENOENT, EACCES, EIO …), else its message. */
export function systemReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException | null;
  return err?.code ?? err?.message ?? String(e);
}
