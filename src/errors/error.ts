/**
 * SigflowError: the base of every error sigflow raises on purpose. It carries a stable `code` from the catalogue
 * (catalogue.ts), an optional `where` (file:line:column, file and byte offset, key path, URL …) and, through the
 * catalogue, the exit status and HTTP status it maps to. Areas subclass it to add typed detail (Mdf4Error has the
 * offset, DbcSyntaxError the position …); callers branch on `code`, not on classes.
 */
import { ERRORS, type ErrorCode, type ErrorSpec, isErrorCode } from './catalogue.js';

export interface SigflowErrorOptions {
  /** Where the problem is: file:line:column, file + byte offset, a key path, a URL. */
  where?: string;
  cause?: unknown;
}

export class SigflowError extends Error {
  readonly code: ErrorCode;
  readonly where: string | undefined;

  constructor(code: ErrorCode, message: string, options: SigflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.where = options.where;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }

  /** Process exit status for this error (2: wrong input or invocation; 1: could not be done). */
  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

/** The catalogue code of any thrown value: its own code when it is a SigflowError, else SF_ERR_INTERNAL. */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof SigflowError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? code : 'SF_ERR_INTERNAL';
}

/** The exit status the command line gives for `err`. */
export function exitCodeOf(err: unknown): number {
  return ERRORS[errorCode(err)].exit;
}
