/** Typed errors for CANedge containers, password files and log trees. Every error names the file it is about. */
export type CanedgeErrorCode =
  | 'not-a-log' // neither MDF nor a Generic File container
  | 'unknown-container' // Generic File with a type/subtype this reader does not know
  | 'truncated' // header or payload shorter than the format requires
  | 'corrupt' // bad parameters or a payload that does not decode
  | 'missing-password'
  | 'wrong-password' // AES-GCM authentication failed (wrong password, or a tampered/corrupt file)
  | 'too-large'
  | 'bad-passwords-file'
  | 'io';

export class CanedgeError extends Error {
  constructor(
    readonly code: CanedgeErrorCode,
    /** The file (path or store key) the error is about. */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
    this.name = 'CanedgeError';
  }
}
