/**
 * The typed error of CANedge containers, password files and log trees: a SigflowError with a canedge code
 * (src/errors/catalogue.ts) that names the file it is about.
 */
import { SigflowError } from '../../errors/index.js';

export type CanedgeErrorCode =
  | 'SF_ERR_CANEDGE_NOT_A_LOG' // neither MDF nor a Generic File container
  | 'SF_ERR_CANEDGE_UNKNOWN_CONTAINER' // Generic File with a type/subtype/layer order this reader does not know
  | 'SF_ERR_CANEDGE_TRUNCATED' // header or payload shorter than the format requires
  | 'SF_ERR_CANEDGE_CORRUPT' // bad parameters or a payload that does not decode
  | 'SF_ERR_CANEDGE_MISSING_PASSWORD'
  | 'SF_ERR_CANEDGE_WRONG_PASSWORD' // AES-GCM authentication failed (wrong password, or a tampered/corrupt file)
  | 'SF_ERR_CANEDGE_TOO_LARGE'
  | 'SF_ERR_CANEDGE_PASSWORDS_FILE'
  | 'SF_ERR_CANEDGE_TREE_UNREADABLE'
  | 'SF_ERR_CANEDGE_BUILD_OPTIONS';

export class CanedgeError extends SigflowError {
  declare readonly code: CanedgeErrorCode;

  constructor(
    code: CanedgeErrorCode,
    /** The file (path or store key) the error is about. */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}: ${message}`, { where: file, cause: options?.cause });
  }
}
