/** Public API of the DBC engine. See README.md in this folder. */

export { MUX as ERR_MUX, SHORT as ERR_SHORT } from './compile.js';
export type {
  DecodedValue,
  DecodeOptions,
  FrameColumns,
  FrameErrorKind,
  FrameResult,
  LoadNote,
  LoadOptions,
  PgnOptions,
} from './database.js';
export { Database, DecodedBatch, ERR_UNKNOWN_ID, j1939Pgn, messageKeys, signalKeys } from './database.js';
export type { EncodeOptions, EncodeValue } from './encoder.js';
export { EncodeError, encodeMessage } from './encoder.js';
export { DbcSyntaxError } from './lexer.js';
export type * from './model.js';
export { formatDiagnostic } from './model.js';
export { type ParseOptions, parseDbc } from './parser.js';
export { QUIRK_WARNINGS, QUIRKS, type QuirkCode } from './quirks.js';
export { decodeDbcBytes } from './text.js';
export { writeDbc } from './writer.js';
