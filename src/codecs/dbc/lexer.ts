/**
 * DBC tokenizer. Produces identifiers, numbers, strings and punctuation with line/column positions.
 *
 * Real-file quirks are recognised here and flagged on the token (the parser decides whether they are warnings or,
 * in strict mode, errors): identifiers that start with a digit (`64_BIT_LE`), numbers written `.25`.
 */
import { SigflowError } from '../../errors/index.js';
import type { SourcePos } from './model.js';

export type TokenKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Identifier/punctuation text, the number's source text, or the string's unescaped contents. */
  text: string;
  /** Offset in the source of the token's first character. */
  start: number;
  line: number;
  column: number;
  /** True when the token is the first on its line. */
  lineStart: boolean;
  /** Quirk: identifier starting with a digit, or number starting with '.' (always present: one token shape). */
  quirk: 'digit_ident' | 'leading_dot' | null;
}

/**
 * A DBC file that does not fit the grammar (SF_ERR_DBC_SYNTAX), a quirk refused in strict mode (SF_ERR_DBC_STRICT)
 * or frame ids clashing with an already loaded file (SF_ERR_DBC_ID_CLASH), at file:line:column (`where`).
 */
export class DbcSyntaxError extends SigflowError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
    code:
      | 'SF_ERR_DBC_SYNTAX'
      | 'SF_ERR_DBC_STRICT'
      | 'SF_ERR_DBC_ID_CLASH'
      | 'SF_ERR_DBC_NAME_CLASH' = 'SF_ERR_DBC_SYNTAX',
  ) {
    super(code, `${file}:${line}:${column}: ${detail}`, { where: `${file}:${line}:${column}` });
  }
}

enum C {
  TAB = 9,
  LF = 10,
  CR = 13,
  SPACE = 32,
  QUOTE = 34,
  PLUS = 43,
  MINUS = 45,
  DOT = 46,
  SLASH = 47,
  ZERO = 48,
  NINE = 57,
  BACKSLASH = 92,
}

/**
 * Character classes of the code units below 128 (a table, not calls: the first file of a process is lexed by
 * the interpreter before V8 optimises the lexer, and a call per character is what costs most there).
 */
const DIGIT = 1;
const IDENT = 2;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++)
  CLASS[c] =
    (c >= 48 && c <= 57 ? DIGIT | IDENT : 0) | ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 ? IDENT : 0);

/** [0-9A-Za-z_] (NaN, i.e. past the end, is not). */
function isIdentChar(c: number): boolean {
  return c < 128 && (CLASS[c] & IDENT) !== 0;
}

function isDigit(c: number): boolean {
  return c >= C.ZERO && c <= C.NINE;
}

/*
 * Runs of identifier characters and digits are matched by sticky regular expressions: V8 runs them as native code
 * from the first call, while a per-character loop runs in the interpreter until the lexer is optimised — which,
 * for the first file of a process, is most of the file.
 */
const IDENT_RUN = /[0-9A-Za-z_]*/y;
const DIGIT_RUN = /[0-9]*/y;

/** End of the run of identifier characters starting at `p`. */
function identEnd(s: string, p: number): number {
  if (p >= s.length) return p; // (a failed sticky match would reset lastIndex to 0)
  IDENT_RUN.lastIndex = p;
  IDENT_RUN.test(s);
  return IDENT_RUN.lastIndex;
}

/** End of the run of digits starting at `p`. */
function digitsEnd(s: string, p: number): number {
  if (p >= s.length) return p; // (a failed sticky match would reset lastIndex to 0)
  DIGIT_RUN.lastIndex = p;
  DIGIT_RUN.test(s);
  return DIGIT_RUN.lastIndex;
}

export class Lexer {
  private pos = 0;
  private line = 1;
  private lineOffset = 0;
  private sawNewline = true;
  private peeked: Token | null = null;

  constructor(
    readonly src: string,
    readonly file: string,
    /** False: sticky() never matches, so the parser reads everything token by token (the tests' reference). */
    private readonly fastPaths = true,
  ) {}

  peek(): Token {
    if (this.peeked === null) this.peeked = this.scan();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = null;
    return t;
  }

  posOf(t: Token): SourcePos {
    return { file: this.file, line: t.line, column: t.column };
  }

  error(t: Token, detail: string): DbcSyntaxError {
    return new DbcSyntaxError(this.file, t.line, t.column, detail);
  }

  /**
   * Matches the sticky regular expression `re` at the next token (after white space and comments) and, when it
   * matches, moves past it; null (nothing consumed but white space) when it does not or a token was peeked. For
   * the parser's fast paths over the most frequent one-line statements: `re` must not match a line break. With
   * `accept`, a match it refuses is not taken either (null).
   */
  sticky(re: RegExp, accept?: (m: RegExpExecArray) => boolean): RegExpExecArray | null {
    if (this.peeked !== null || !this.fastPaths) return null;
    this.skipSpace();
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (m === null || (accept !== undefined && !accept(m))) return null;
    this.pos = re.lastIndex;
    this.sawNewline = false;
    return m;
  }

  /** Source text between two offsets (for keeping unknown statements verbatim). */
  slice(from: number, to: number): string {
    return this.src.slice(from, to);
  }

  get offset(): number {
    return this.peeked ? this.peeked.start : this.pos;
  }

  private skipSpace(): void {
    const s = this.src;
    const n = s.length;
    let p = this.pos;
    for (;;) {
      if (p >= n) break;
      const c = s.charCodeAt(p);
      if (c === C.LF) {
        p++;
        this.line++;
        this.lineOffset = p;
        this.sawNewline = true;
      } else if (c === C.SPACE || c === C.TAB || c === C.CR || c === 0xfeff || c === 12 || c === 11) {
        p++;
      } else if (c === C.SLASH && s.charCodeAt(p + 1) === C.SLASH) {
        // `//` line comment (accepted by several tools; not in the Vector grammar).
        const lf = s.indexOf('\n', p);
        p = lf < 0 ? n : lf;
      } else {
        break;
      }
    }
    this.pos = p;
  }

  private scan(): Token {
    this.skipSpace();
    const s = this.src;
    const start = this.pos;
    const line = this.line;
    const column = start - this.lineOffset + 1;
    const lineStart = this.sawNewline;
    this.sawNewline = false;
    if (start >= s.length) return { kind: 'eof', text: '', start, line, column, lineStart: true, quirk: null };
    const c = s.charCodeAt(start);

    if (c === C.QUOTE) return this.scanString(start, line, column, lineStart);

    // Numbers: [+-]? (digits [. digits]? | . digits) ([eE] [+-]? digits)?
    const signed = (c === C.MINUS || c === C.PLUS) && start + 1 < s.length;
    const c1 = signed ? s.charCodeAt(start + 1) : c;
    if (isDigit(c1) || (c1 === C.DOT && isDigit(s.charCodeAt(start + (signed ? 2 : 1))))) {
      let p = start + (signed ? 1 : 0);
      const leadingDot = s.charCodeAt(p) === C.DOT;
      p = digitsEnd(s, p);
      // A run of digits followed by identifier characters is an identifier that starts with a digit.
      if (!signed && !leadingDot && p < s.length && isIdentChar(s.charCodeAt(p)) && !this.isExponent(p)) {
        p = identEnd(s, p);
        this.pos = p;
        return { kind: 'ident', text: s.slice(start, p), start, line, column, lineStart, quirk: 'digit_ident' };
      }
      if (s.charCodeAt(p) === C.DOT) p = digitsEnd(s, p + 1);
      if (this.isExponent(p)) {
        p++;
        if (s.charCodeAt(p) === C.PLUS || s.charCodeAt(p) === C.MINUS) p++;
        p = digitsEnd(s, p);
      }
      this.pos = p;
      return {
        kind: 'number',
        text: s.slice(start, p),
        start,
        line,
        column,
        lineStart,
        quirk: leadingDot ? 'leading_dot' : null,
      };
    }

    if (isIdentChar(c)) {
      const p = identEnd(s, start + 1);
      this.pos = p;
      return { kind: 'ident', text: s.slice(start, p), start, line, column, lineStart, quirk: null };
    }

    this.pos = start + 1;
    return { kind: 'punct', text: s[start], start, line, column, lineStart, quirk: null };
  }

  /** `e`/`E` followed by an optionally signed digit: an exponent, not an identifier tail. */
  private isExponent(p: number): boolean {
    const s = this.src;
    const c = s.charCodeAt(p);
    if (c !== 101 && c !== 69) return false;
    let q = p + 1;
    if (s.charCodeAt(q) === C.PLUS || s.charCodeAt(q) === C.MINUS) q++;
    if (!isDigit(s.charCodeAt(q))) return false;
    q = digitsEnd(s, q);
    return !(q < s.length && isIdentChar(s.charCodeAt(q)));
  }

  private scanString(start: number, line: number, column: number, lineStart: boolean): Token {
    const s = this.src;
    let p = start + 1;
    let out = '';
    let chunk = p;
    for (;;) {
      if (p >= s.length) {
        throw new DbcSyntaxError(this.file, line, column, 'unterminated string (missing closing ")');
      }
      const c = s.charCodeAt(p);
      if (c === C.QUOTE) {
        out += s.slice(chunk, p);
        p++;
        break;
      }
      if (c === C.BACKSLASH && p + 1 < s.length) {
        const n = s.charCodeAt(p + 1);
        if (n === C.QUOTE || n === C.BACKSLASH) {
          out += s.slice(chunk, p) + s[p + 1];
          p += 2;
          chunk = p;
          continue;
        }
      }
      if (c === C.LF) {
        this.line++;
        this.lineOffset = p + 1;
      }
      p++;
    }
    this.pos = p;
    return {
      kind: 'string',
      text: out.indexOf('\r') >= 0 ? out.replace(/\r\n/g, '\n') : out,
      start,
      line,
      column,
      lineStart,
      quirk: null,
    };
  }
}
