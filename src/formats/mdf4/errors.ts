/** The MDF4 reader's typed error and its warnings, with their catalogue codes (src/errors/catalogue.ts). */
import { SigflowError } from '../../errors/index.js';

export type Mdf4ErrorCode =
  | 'SF_ERR_MDF4_NOT_MDF4'
  | 'SF_ERR_MDF4_CORRUPT'
  | 'SF_ERR_MDF4_UNSUPPORTED'
  | 'SF_ERR_MDF4_TOO_LARGE'
  | 'SF_ERR_MDF4_WRITE_INPUT';

/** Malformed or unsupported MDF4 input: names the source and the byte offset. */
export class Mdf4Error extends SigflowError {
  declare readonly code: Mdf4ErrorCode;

  constructor(
    readonly file: string,
    readonly offset: number,
    readonly detail: string,
    code: Mdf4ErrorCode = 'SF_ERR_MDF4_CORRUPT',
  ) {
    super(code, `${file}: at byte ${offset}: ${detail}`, { where: `${file} at byte ${offset}` });
  }
}

export type Mdf4WarningCode =
  | 'SF_WARN_MDF4_DATA_DAMAGED'
  | 'SF_WARN_MDF4_GROUP_SKIPPED'
  | 'SF_WARN_MDF4_OUT_OF_ORDER'
  | 'SF_WARN_MDF4_VLSD'
  | 'SF_WARN_MDF4_UNSUPPORTED'
  | 'SF_WARN_MDF4_LOCAL_TIME'
  | 'SF_WARN_MDF4_HISTORY';

/** A non-fatal problem: the reader recovered (e.g. stopped before damaged data). */
export interface Mdf4Warning {
  code: Mdf4WarningCode;
  file: string;
  offset: number;
  message: string;
}
