/**
 * The quirks real DBC files have, and how they are reported. Lenient loading (the default) reads each the way its
 * author evidently meant it and reports a warning with file:line:column; `strict: true` makes the first one a
 * DbcSyntaxError (SF_ERR_DBC_STRICT). Every quirk has a short code (`missing_semicolon`: what users, `--strict`
 * messages and `formatDiagnostic` show) and a catalogue code (`SF_WARN_DBC_MISSING_SEMICOLON`, docs/errors.md);
 * each Diagnostic carries both.
 */
import type { WarningCode } from '../../errors/index.js';
import { DbcSyntaxError } from './lexer.js';
import type { Diagnostic, SourcePos } from './model.js';

/** The quirk codes the parser knows, with what they mean. */
export const QUIRKS = {
  extended_id_without_flag: 'a frame id above 0x7FF without the 0x80000000 extended flag (treated as extended)',
  id_too_wide: 'a frame id wider than 29 bits (masked to 29 bits)',
  digit_identifier: 'an identifier that starts with a digit',
  leading_dot_number: 'a number written without its leading zero (.25)',
  comment_without_signal: 'CM_ SG_ without a signal name (comment ignored)',
  comment_without_kind: 'CM_ with an id but no object kind (comment ignored)',
  missing_semicolon: 'a statement without its closing ;',
  overlapping_signals: 'signals that share bits',
  bare_multiplexed_marker: "a signal marked 'm' with no multiplexer value",
  signal_outside_message: 'a signal that extends beyond the message length',
  unknown_reference: 'a statement that refers to a message, signal or node that does not exist',
  duplicate_message_id: 'two messages with the same frame id',
  duplicate_signal: 'two signals with the same name in one message',
  unknown_statement: 'a statement sigflow does not interpret (kept verbatim)',
  message_too_long: 'a message length above 64 bytes',
  attribute_value_mismatch: 'an attribute value that does not match its definition',
} as const satisfies Record<string, string>;

export type QuirkCode = keyof typeof QUIRKS;

/** Each quirk's catalogue code (src/errors/catalogue.ts WARNINGS). */
export const QUIRK_WARNINGS = {
  extended_id_without_flag: 'SF_WARN_DBC_EXTENDED_ID_WITHOUT_FLAG',
  id_too_wide: 'SF_WARN_DBC_ID_TOO_WIDE',
  digit_identifier: 'SF_WARN_DBC_DIGIT_IDENTIFIER',
  leading_dot_number: 'SF_WARN_DBC_LEADING_DOT_NUMBER',
  comment_without_signal: 'SF_WARN_DBC_COMMENT_WITHOUT_SIGNAL',
  comment_without_kind: 'SF_WARN_DBC_COMMENT_WITHOUT_KIND',
  missing_semicolon: 'SF_WARN_DBC_MISSING_SEMICOLON',
  overlapping_signals: 'SF_WARN_DBC_OVERLAPPING_SIGNALS',
  bare_multiplexed_marker: 'SF_WARN_DBC_BARE_MULTIPLEXED_MARKER',
  signal_outside_message: 'SF_WARN_DBC_SIGNAL_OUTSIDE_MESSAGE',
  unknown_reference: 'SF_WARN_DBC_UNKNOWN_REFERENCE',
  duplicate_message_id: 'SF_WARN_DBC_DUPLICATE_MESSAGE_ID',
  duplicate_signal: 'SF_WARN_DBC_DUPLICATE_SIGNAL',
  unknown_statement: 'SF_WARN_DBC_UNKNOWN_STATEMENT',
  message_too_long: 'SF_WARN_DBC_MESSAGE_TOO_LONG',
  attribute_value_mismatch: 'SF_WARN_DBC_ATTRIBUTE_VALUE_MISMATCH',
} as const satisfies Record<QuirkCode, WarningCode>;

/** Collects the quirks of one file in the order they are found (syntax first, then building the model). */
export class QuirkLog {
  readonly warnings: Diagnostic[] = [];

  constructor(
    readonly file: string,
    readonly strict: boolean,
  ) {}

  /** Reports a quirk at `at`: a warning, or in strict mode a DbcSyntaxError (SF_ERR_DBC_STRICT). */
  report(code: QuirkCode, at: { line: number; column: number } | SourcePos, message: string): void {
    const { line, column } = at;
    if (this.strict)
      throw new DbcSyntaxError(this.file, line, column, `${message} [${code}; strict mode]`, 'SF_ERR_DBC_STRICT');
    this.warnings.push({ code, warningCode: QUIRK_WARNINGS[code], message, file: this.file, line, column });
  }
}
