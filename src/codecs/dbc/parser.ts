/**
 * DBC parser: text → DbcFile, in two steps — syntax (syntax.ts: statements as written) and building the database
 * model (build.ts: references resolved, multiplexing, attributes, layout checks).
 *
 * Lenient by default: the quirks real files have (quirks.ts, QUIRKS) become warnings with file:line:column and
 * the statement is interpreted the way its author evidently meant it. With `strict: true` the first quirk is a
 * DbcSyntaxError (SF_ERR_DBC_STRICT). Anything else that does not fit the grammar is a DbcSyntaxError
 * (SF_ERR_DBC_SYNTAX) naming the position and what was expected — in both modes.
 */
import { buildDbcFile } from './build.js';
import { Lexer } from './lexer.js';
import type { DbcFile } from './model.js';
import { QuirkLog } from './quirks.js';
import { parseStatements } from './syntax.js';

/** The quirk table lives in quirks.ts; re-exported here, where callers have always found it. */
export { QUIRK_WARNINGS, QUIRKS, type QuirkCode } from './quirks.js';

export interface ParseOptions {
  /** Name used in diagnostics. */
  file?: string;
  /** Turn every quirk warning into an error. */
  strict?: boolean;
}

export function parseDbc(text: string, options: ParseOptions = {}): DbcFile {
  const file = options.file ?? '<dbc>';
  const quirks = new QuirkLog(file, options.strict ?? false);
  const raw = parseStatements(new Lexer(text, file), quirks);
  return buildDbcFile(raw, file, quirks);
}
