/**
 * DBC syntax: text → the statements of a file as written (`RawDbc`), by recursive descent over the token stream,
 * one method per statement. Nothing is resolved here — which message a signal's comment belongs to, multiplexing,
 * long names, attribute values by definition: that is building the database model (build.ts). Attribute
 * definitions are the exception that proves the rule: a BA_DEF_DEF_ default is typed against its BA_DEF_ as it is
 * read, because the file declares them in that order.
 *
 * Anything that does not fit the grammar is a DbcSyntaxError naming the position and what was expected; the
 * quirks real files have (quirks.ts) are reported to the QuirkLog and the statement read as its author meant it.
 */
import type { Lexer, Token } from './lexer.js';
import type {
  AttributeDefinition,
  AttrType,
  AttrValue,
  ByteOrder,
  Choice,
  DbcFile,
  EnvironmentVariable,
  MuxRange,
  SignalGroup,
  SourcePos,
} from './model.js';
import type { QuirkCode, QuirkLog } from './quirks.js';

const TOP_KEYWORDS = new Set([
  'VERSION',
  'NS_',
  'BS_',
  'BU_',
  'BO_',
  'SG_',
  'CM_',
  'BA_DEF_',
  'BA_DEF_DEF_',
  'BA_',
  'BA_DEF_REL_',
  'BA_DEF_DEF_REL_',
  'BA_REL_',
  'VAL_',
  'VAL_TABLE_',
  'SIG_VALTYPE_',
  'SG_MUL_VAL_',
  'BO_TX_BU_',
  'SIG_GROUP_',
  'EV_',
  'ENVVAR_DATA_',
  'SGTYPE_',
  'SGTYPE_VAL_',
  'BA_DEF_SGTYPE_',
  'BA_SGTYPE_',
  'SIG_TYPE_REF_',
  'SIG_TYPE_ATTR_',
  'VAL_TABLE_',
  'CAT_DEF_',
  'CAT_',
  'FILTER',
  'EV_DATA_',
  'SIGTYPE_VALTYPE_',
  'BU_SG_REL_',
  'BU_EV_REL_',
  'BU_BO_REL_',
  'SG_MUL_VAL_',
]);

export interface RawSignal {
  name: string;
  mux: string | null; // null, 'M', 'm', 'm<n>', 'm<n>M'
  start: number;
  length: number;
  byteOrder: ByteOrder;
  signed: boolean;
  factor: number;
  offset: number;
  minimum: number;
  maximum: number;
  unit: string;
  receivers: string[];
  pos: SourcePos;
}

export interface RawMessage {
  dbcId: number;
  name: string;
  length: number;
  sender: string;
  signals: RawSignal[];
  pos: SourcePos;
}

export type ObjRef =
  | { kind: 'database' }
  | { kind: 'node'; node: string }
  | { kind: 'message'; id: number }
  | { kind: 'signal'; id: number; signal: string }
  | { kind: 'envvar'; name: string };

/** A DBC file's statements as written (in file order where order matters). */
export interface RawDbc {
  version: string | null;
  newSymbols: string[];
  nodeNames: string[];
  messages: RawMessage[];
  /** By object key (refKey). A later comment on the same object replaces an earlier one. */
  comments: Map<string, { text: string; pos: SourcePos }>;
  /** By name; defaults already typed against their definition. */
  attrDefs: Map<string, AttributeDefinition>;
  /** BA_ values as written: the object by its key (refKey) and the statement's line and column (no objects). */
  attrs: { name: string; key: string; value: AttrValue; line: number; column: number }[];
  relAttrs: DbcFile['relationAttributes'];
  valueDescs: { ref: ObjRef; choices: Choice[]; pos: SourcePos }[];
  valueTables: DbcFile['valueTables'];
  /** SIG_VALTYPE_ by `<message id>:<signal>`. */
  sigTypes: Map<string, { type: number; pos: SourcePos }>;
  mulVals: { id: number; signal: string; muxer: string; ranges: MuxRange[]; pos: SourcePos }[];
  txNodes: Map<number, string[]>;
  sigGroups: { id: number; group: SignalGroup; pos: SourcePos }[];
  envVars: EnvironmentVariable[];
  envData: Map<string, number>;
  unknown: DbcFile['unknownStatements'];
}

/** The key an object reference is filed under: 'db', 'n:<node>', 'm:<id>', 's:<id>:<signal>', 'e:<name>'. */
export function refKey(ref: ObjRef): string {
  switch (ref.kind) {
    case 'database':
      return 'db';
    case 'node':
      return `n:${ref.node}`;
    case 'message':
      return `m:${ref.id}`;
    case 'signal':
      return `s:${ref.id}:${ref.signal}`;
    case 'envvar':
      return `e:${ref.name}`;
  }
}

/**
 * A numeric attribute (INT, HEX, FLOAT) gets a number (some files quote them); a value that is not a number is a
 * quirk and kept as written. ENUM values stay as written: defaults are labels, values are indexes.
 */
export function normaliseAttr(
  def: AttributeDefinition,
  value: AttrValue,
  at: { line: number; column: number },
  quirks: QuirkLog,
): AttrValue {
  if ((def.type.kind === 'INT' || def.type.kind === 'HEX' || def.type.kind === 'FLOAT') && typeof value !== 'number') {
    const n = Number(value);
    if (value !== '' && Number.isFinite(n)) return n;
    quirks.report('attribute_value_mismatch', at, `attribute "${def.name}" expects a number, got "${value}"`);
  }
  return value;
}

/**
 * `"name" [SG_ id signal | BO_ id | BU_ node | EV_ name] value ;` on one line, with plain strings (no escapes),
 * identifiers that start with a letter and decimal numbers: 1 name, 2–3 signal ref, 4 message id, 5 node, 6
 * environment variable, 7 number value (finite: at most 200 integer digits and a 2-digit exponent), 8 string value.
 * An id or name must end where the lexer ends its token (`(?!\\w)`: `BO_ 12345;` is not id 1234 and value 5).
 */
const BA_LINE =
  /"([^"\\\r\n]*)"[ \t]*(?:SG_[ \t]+(\d{1,15})(?!\w)[ \t]*([A-Za-z_]\w*)(?!\w)|BO_[ \t]+(\d{1,15})(?!\w)|BU_[ \t]+([A-Za-z_]\w*)(?!\w)|EV_[ \t]+([A-Za-z_]\w*)(?!\w))?[ \t]*(?:([+-]?\d{1,200}(?:\.\d+)?(?:[eE][+-]?\d{1,2})?)|"([^"\\\r\n]*)")[ \t]*;/y;

/**
 * A finite decimal number as the lexer reads it (no leading dot: that is a quirk the token path reports): at most
 * 200 integer digits and an exponent of at most two digits after leading zeros (`1E-006`, as tools write them).
 */
const NUM = String.raw`[+-]?\d{1,200}(?:\.\d*)?(?:[eE][+-]?0*\d{1,2})?`;
/** An identifier that starts with a letter or `_`, ending where the lexer ends it (no backtracking into it). */
const ID = String.raw`[A-Za-z_]\w*(?!\w)`;

/**
 * The rest of an `SG_` line after the keyword, in its common form: 1 name, 2 multiplexer marker, 3 start bit, 4
 * length, 5 byte order, 6 sign, 7 factor, 8 offset, 9 minimum, 10 maximum, 11 unit (no escapes), 12 receivers —
 * up to the end of the line (a comment, a line break inside, an escape, a quirk, or a later line that starts with
 * `,`: the token path).
 */
const SG_LINE = new RegExp(
  String.raw`(${ID})(?:[ \t]+(M|m\d*M?)(?!\w))?[ \t]*:[ \t]*(\d{1,15})[ \t]*\|[ \t]*(\d{1,15})[ \t]*@[ \t]*([01])[ \t]*([+-])` +
    String.raw`[ \t]*\([ \t]*(${NUM})[ \t]*,[ \t]*(${NUM})[ \t]*\)[ \t]*\[[ \t]*(${NUM})[ \t]*\|[ \t]*(${NUM})[ \t]*\]` +
    String.raw`[ \t]*"([^"\\\r\n]*)"(?:[ \t]*(${ID}(?:(?:[ \t]*,[ \t]*|[ \t]+)${ID})*))?[ \t]*(?=\r?\n|$)` +
    // the token path takes a `,` that starts a later line as one more receiver separator: leave that to it
    String.raw`(?!(?:\s|\/\/[^\n]*)*,)`,
  'y',
);
/** `<message id> <signal>` after VAL_ (1 id, 2 signal); the environment-variable form goes token by token. */
const VAL_HEAD = new RegExp(String.raw`(\d{1,15})(?!\w)[ \t]+(${ID})`, 'y');
/** An identifier that starts with a letter or `_` (a value table's name). */
const NAME = new RegExp(ID, 'y');
/** A statement's closing `;`, and the place just before one. */
const SEMICOLON = /;/y;
const BEFORE_SEMICOLON = /(?=;)/y;
/**
 * The rest of a `BO_` line: 1 id, 2 name, 3 length in bytes, 4 sender — to the end of the line (without a sender,
 * or with a line break, a comment or a quirk: the token path).
 */
const BO_LINE = new RegExp(
  String.raw`(\d{1,15})(?!\w)[ \t]+(${ID})[ \t]*:[ \t]*(\d{1,15})(?!\w)[ \t]+(${ID})[ \t]*(?=\r?\n|$)`,
  'y',
);
/** One `value "label"` pair of a VAL_ / VAL_TABLE_ list on one line: 1 integer value, 2 label (no escapes). */
const CHOICE_PAIR = /([+-]?\d+)[ \t]*"([^"\\\r\n]*)"/y;

/** Reads every statement of `lx`'s text. */
export function parseStatements(lx: Lexer, quirks: QuirkLog): RawDbc {
  return new StatementParser(lx, quirks).parse();
}

class StatementParser {
  readonly raw: RawDbc = {
    version: null,
    newSymbols: [],
    nodeNames: [],
    messages: [],
    comments: new Map(),
    attrDefs: new Map(),
    attrs: [],
    relAttrs: [],
    valueDescs: [],
    valueTables: [],
    sigTypes: new Map(),
    mulVals: [],
    txNodes: new Map(),
    sigGroups: [],
    envVars: [],
    envData: new Map(),
    unknown: [],
  };

  constructor(
    private readonly lx: Lexer,
    private readonly quirks: QuirkLog,
  ) {}

  // ---- diagnostics -------------------------------------------------------------------------------------------

  private quirk(code: QuirkCode, at: SourcePos | Token, message: string): void {
    this.quirks.report(code, at, message);
  }

  private fail(t: Token, expected: string): never {
    const got =
      t.kind === 'eof' ? 'end of file' : t.kind === 'string' ? `string "${t.text.slice(0, 40)}"` : `'${t.text}'`;
    throw this.lx.error(t, `expected ${expected}, got ${got}`);
  }

  // ---- token helpers -----------------------------------------------------------------------------------------

  private isKeyword(t: Token): boolean {
    return t.kind === 'ident' && TOP_KEYWORDS.has(t.text);
  }

  private expectPunct(p: string): Token {
    const t = this.lx.next();
    if (t.kind !== 'punct' || t.text !== p) this.fail(t, `'${p}'`);
    return t;
  }

  private acceptPunct(p: string): boolean {
    const t = this.lx.peek();
    if (t.kind === 'punct' && t.text === p) {
      this.lx.next();
      return true;
    }
    return false;
  }

  private ident(what: string): string {
    const t = this.lx.next();
    if (t.kind !== 'ident') this.fail(t, what);
    if (t.quirk === 'digit_ident') this.quirk('digit_identifier', t, `identifier '${t.text}' starts with a digit`);
    return t.text;
  }

  private number(what: string): number {
    const t = this.lx.next();
    if (t.kind !== 'number') this.fail(t, what);
    if (t.quirk === 'leading_dot') this.quirk('leading_dot_number', t, `number '${t.text}' has no leading zero`);
    const v = Number(t.text);
    if (!Number.isFinite(v)) this.fail(t, what);
    return v;
  }

  private integer(what: string): number {
    const t = this.lx.peek();
    const v = this.number(what);
    if (!Number.isInteger(v)) this.fail(t, what);
    return v;
  }

  private bigInteger(what: string): bigint {
    const t = this.lx.next();
    if (t.kind !== 'number' || !/^[+-]?\d+$/.test(t.text)) {
      // Some files write choice values as floats (1.0): accept integral ones.
      if (t.kind === 'number' && Number.isInteger(Number(t.text))) return BigInt(Number(t.text));
      this.fail(t, what);
    }
    return BigInt(t.text);
  }

  private string(what: string): string {
    const t = this.lx.next();
    if (t.kind !== 'string') this.fail(t, what);
    return t.text;
  }

  /** The statement's closing ';' — missing is a quirk when the next token starts a new statement. */
  private endStatement(keyword: string, at: Token): void {
    if (this.lx.sticky(SEMICOLON) !== null) return;
    const t = this.lx.peek();
    if (t.kind === 'punct' && t.text === ';') {
      this.lx.next();
      return;
    }
    if (t.kind === 'eof' || (this.isKeyword(t) && t.lineStart)) {
      this.quirk('missing_semicolon', at, `${keyword} statement has no closing ';'`);
      return;
    }
    this.fail(t, `';' to end the ${keyword} statement`);
  }

  // ---- statements --------------------------------------------------------------------------------------------

  parse(): RawDbc {
    for (;;) {
      const t = this.lx.peek();
      if (t.kind === 'eof') break;
      if (t.kind !== 'ident') this.fail(t, 'a statement keyword (BO_, SG_, CM_, BA_ …)');
      this.lx.next();
      switch (t.text) {
        case 'VERSION':
          this.raw.version = this.string('the version string');
          break;
        case 'NS_':
          this.parseNewSymbols();
          break;
        case 'BS_':
          this.parseBitTiming();
          break;
        case 'BU_':
          this.parseNodes();
          break;
        case 'BO_':
          this.parseMessage(t);
          break;
        case 'SG_':
          this.parseSignal(t);
          break;
        case 'CM_':
          this.parseComment(t);
          break;
        case 'BA_DEF_':
          this.parseAttrDef(t, false);
          break;
        case 'BA_DEF_REL_':
          this.parseAttrDef(t, true);
          break;
        case 'BA_DEF_DEF_':
        case 'BA_DEF_DEF_REL_':
          this.parseAttrDefault(t);
          break;
        case 'BA_':
          this.parseAttr(t);
          break;
        case 'BA_REL_':
          this.parseRelAttr(t);
          break;
        case 'VAL_':
          this.parseValueDesc(t);
          break;
        case 'VAL_TABLE_':
          this.parseValueTable(t);
          break;
        case 'SIG_VALTYPE_':
          this.parseSigValType(t);
          break;
        case 'SG_MUL_VAL_':
          this.parseMulVal(t);
          break;
        case 'BO_TX_BU_':
          this.parseTxNodes(t);
          break;
        case 'SIG_GROUP_':
          this.parseSigGroup(t);
          break;
        case 'EV_':
          this.parseEnvVar(t);
          break;
        case 'ENVVAR_DATA_':
          this.parseEnvVarData(t);
          break;
        default:
          if (TOP_KEYWORDS.has(t.text)) this.skipUnknown(t);
          else this.fail(t, 'a statement keyword (BO_, SG_, CM_, BA_ …)');
      }
    }
    return this.raw;
  }

  private skipUnknown(kw: Token): void {
    // Keep the statement verbatim up to its ';' (or the next statement keyword at the start of a line).
    let end = kw.start;
    for (;;) {
      const t = this.lx.peek();
      if (t.kind === 'eof' || (this.isKeyword(t) && t.lineStart)) break;
      this.lx.next();
      end = t.start + (t.kind === 'string' ? t.text.length + 2 : t.text.length);
      if (t.kind === 'punct' && t.text === ';') break;
    }
    this.raw.unknown.push({ keyword: kw.text, text: this.lx.slice(kw.start, end), pos: this.lx.posOf(kw) });
    this.quirk('unknown_statement', kw, `${kw.text} is not interpreted; kept verbatim`);
  }

  private parseNewSymbols(): void {
    this.expectPunct(':');
    // The symbols are indented keywords; the list ends at the first token at the start of a line without indent.
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'ident' || (t.lineStart && t.column === 1)) break;
      this.raw.newSymbols.push(this.lx.next().text);
    }
  }

  private parseBitTiming(): void {
    this.expectPunct(':');
    // Optional `baudrate : btr1 , btr2` — obsolete; skip to the next statement.
    for (;;) {
      const t = this.lx.peek();
      if (t.kind === 'eof' || (t.kind === 'ident' && t.lineStart)) break;
      this.lx.next();
    }
  }

  private parseNodes(): void {
    this.expectPunct(':');
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'ident' || (t.lineStart && this.isKeyword(t))) break;
      this.raw.nodeNames.push(this.ident('a node name'));
    }
  }

  private parseMessage(kw: Token): void {
    // the common form in one native match: a valid id and a length of at most 64 (else the token path reports)
    const m = this.lx.sticky(BO_LINE, (x) => Number(x[1]) <= 0xffffffff && Number(x[3]) <= 64);
    if (m !== null) {
      const pos = this.lx.posOf(kw);
      this.raw.messages.push({ dbcId: Number(m[1]), name: m[2], length: Number(m[3]), sender: m[4], signals: [], pos });
      return;
    }
    const idTok = this.lx.peek();
    const dbcId = this.integer('the message id');
    if (dbcId < 0 || dbcId > 0xffffffff) this.fail(idTok, 'a message id between 0 and 4294967295');
    const name = this.ident('the message name');
    this.expectPunct(':');
    const lenTok = this.lx.peek();
    const length = this.integer('the message length in bytes');
    if (length < 0) this.fail(lenTok, 'a message length ≥ 0');
    if (length > 64)
      this.quirk('message_too_long', lenTok, `message ${name} is ${length} bytes long (CAN FD allows 64)`);
    const senderTok = this.lx.peek();
    let sender = 'Vector__XXX';
    if (senderTok.kind === 'ident' && !(senderTok.lineStart && this.isKeyword(senderTok)))
      sender = this.ident('the sender');
    this.raw.messages.push({ dbcId, name, length, sender, signals: [], pos: this.lx.posOf(kw) });
  }

  private parseSignal(kw: Token): void {
    const msg = this.raw.messages[this.raw.messages.length - 1];
    if (!msg) throw this.lx.error(kw, 'SG_ outside of a message (no BO_ before it)');
    const m = this.lx.sticky(SG_LINE);
    if (m !== null) {
      // the common form in one native match (2150 SG_ lines of ford_lincoln_base_pt); the same result as the token
      // path below (test/codecs/dbc/fastpath.test.ts)
      const receivers = m[12] === undefined ? [] : m[12].split(/[ \t,]+/);
      this.addSignal(kw, msg, {
        name: m[1],
        mux: m[2] ?? null,
        start: Number(m[3]),
        length: Number(m[4]),
        byteOrder: m[5] === '0' ? 'big_endian' : 'little_endian',
        signed: m[6] === '-',
        factor: Number(m[7]),
        offset: Number(m[8]),
        minimum: Number(m[9]),
        maximum: Number(m[10]),
        unit: m[11],
        receivers,
        pos: this.lx.posOf(kw),
      });
      return;
    }
    const name = this.ident('the signal name');
    let mux: string | null = null;
    const t = this.lx.peek();
    if (t.kind === 'ident') {
      if (/^(M|m\d*M?)$/.test(t.text)) {
        mux = this.lx.next().text;
      } else {
        this.fail(t, "':' or a multiplexer marker (M, m<n>, m<n>M)");
      }
    }
    this.expectPunct(':');
    const start = this.integer('the start bit');
    this.expectPunct('|');
    const length = this.integer('the signal length in bits');
    this.expectPunct('@');
    const orderTok = this.lx.next();
    // `@1+` lexes as number 1 then '+'; `@1-` likewise. `@0-5` cannot occur.
    let order: string;
    if (orderTok.kind === 'number' && (orderTok.text === '0' || orderTok.text === '1')) order = orderTok.text;
    else this.fail(orderTok, 'byte order 0 (big-endian) or 1 (little-endian) after @');
    const signTok = this.lx.next();
    if (signTok.kind !== 'punct' || (signTok.text !== '+' && signTok.text !== '-')) this.fail(signTok, "'+' or '-'");
    this.expectPunct('(');
    const factor = this.number('the factor');
    this.expectPunct(',');
    const offset = this.number('the offset');
    this.expectPunct(')');
    this.expectPunct('[');
    const minimum = this.number('the minimum');
    this.expectPunct('|');
    const maximum = this.number('the maximum');
    this.expectPunct(']');
    const unit = this.string('the unit string');
    const receivers: string[] = [];
    for (;;) {
      const r = this.lx.peek();
      if (r.kind !== 'ident' || r.lineStart) break;
      receivers.push(this.ident('a receiver node'));
      if (!this.acceptPunct(',')) {
        const n = this.lx.peek();
        if (n.kind !== 'ident' || n.lineStart) break;
      }
    }
    this.addSignal(kw, msg, {
      name,
      mux,
      start,
      length,
      byteOrder: order === '0' ? 'big_endian' : 'little_endian',
      signed: signTok.text === '-',
      factor,
      offset,
      minimum,
      maximum,
      unit,
      receivers,
      pos: this.lx.posOf(kw),
    });
  }

  /** Checks a signal's bit range and adds it to its message (`Vector__XXX`, "no receiver", left out). */
  private addSignal(kw: Token, msg: RawMessage, sig: RawSignal): void {
    const { name, start, length } = sig;
    if (length < 1 || length > 64) throw this.lx.error(kw, `signal ${name}: length ${length} is outside 1..64 bits`);
    if (start < 0 || start > 511) throw this.lx.error(kw, `signal ${name}: start bit ${start} is outside 0..511`);
    if (sig.receivers.includes('Vector__XXX')) sig.receivers = sig.receivers.filter((r) => r !== 'Vector__XXX');
    msg.signals.push(sig);
  }

  private objectRef(what: string): ObjRef {
    const t = this.lx.peek();
    if (t.kind !== 'ident') return { kind: 'database' };
    switch (t.text) {
      case 'BU_':
        this.lx.next();
        return { kind: 'node', node: this.ident('a node name') };
      case 'BO_':
        this.lx.next();
        return { kind: 'message', id: this.integer('a message id') };
      case 'SG_':
        this.lx.next();
        return { kind: 'signal', id: this.integer('a message id'), signal: this.ident('a signal name') };
      case 'EV_':
        this.lx.next();
        return { kind: 'envvar', name: this.ident('an environment variable name') };
      default:
        this.fail(t, what);
    }
  }

  private parseComment(kw: Token): void {
    const t = this.lx.peek();
    let ref: ObjRef;
    if (t.kind === 'number') {
      // `CM_ 145 "…"`: an id with no object kind.
      this.lx.next();
      this.string('the comment text');
      this.quirk('comment_without_kind', kw, `CM_ ${t.text} has no object kind (BU_/BO_/SG_/EV_); ignored`);
      this.endStatement('CM_', kw);
      return;
    }
    if (t.kind === 'ident' && t.text === 'SG_') {
      this.lx.next();
      const id = this.integer('a message id');
      const n = this.lx.peek();
      if (n.kind === 'string') {
        this.lx.next();
        this.quirk('comment_without_signal', kw, `CM_ SG_ ${id} has no signal name; ignored`);
        this.endStatement('CM_', kw);
        return;
      }
      ref = { kind: 'signal', id, signal: this.ident('a signal name') };
    } else {
      ref = this.objectRef('BU_, BO_, SG_, EV_ or the comment string');
    }
    const text = this.string('the comment text');
    this.raw.comments.set(refKey(ref), { text, pos: this.lx.posOf(kw) });
    this.endStatement('CM_', kw);
  }

  private parseAttrType(): AttrType {
    const t = this.lx.next();
    if (t.kind !== 'ident') this.fail(t, 'an attribute type (INT, HEX, FLOAT, STRING, ENUM)');
    switch (t.text) {
      case 'INT':
      case 'HEX':
      case 'FLOAT': {
        const p = this.lx.peek();
        if (p.kind !== 'number') return { kind: t.text, min: 0, max: 0 };
        const min = this.number('the minimum');
        const max = this.number('the maximum');
        return { kind: t.text, min, max };
      }
      case 'STRING':
        return { kind: 'STRING' };
      case 'ENUM': {
        const values: string[] = [];
        for (;;) {
          const p = this.lx.peek();
          if (p.kind !== 'string') break;
          values.push(this.string('an enum value'));
          if (!this.acceptPunct(',')) break;
        }
        return { kind: 'ENUM', values };
      }
      default:
        this.fail(t, 'an attribute type (INT, HEX, FLOAT, STRING, ENUM)');
    }
  }

  private parseAttrDef(kw: Token, rel: boolean): void {
    let objectKind: AttributeDefinition['objectKind'] = 'database';
    const t = this.lx.peek();
    if (t.kind === 'ident') {
      const kinds: Record<string, AttributeDefinition['objectKind']> = rel
        ? { BU_SG_REL_: 'BU_SG_REL_', BU_EV_REL_: 'BU_EV_REL_', BU_BO_REL_: 'BU_BO_REL_' }
        : { BU_: 'node', BO_: 'message', SG_: 'signal', EV_: 'envvar' };
      const k = kinds[t.text];
      if (!k) this.fail(t, rel ? 'BU_SG_REL_, BU_EV_REL_ or BU_BO_REL_' : 'BU_, BO_, SG_, EV_ or the attribute name');
      this.lx.next();
      objectKind = k;
    }
    const name = this.string('the attribute name');
    const type = this.parseAttrType();
    this.raw.attrDefs.set(name, { name, objectKind, type, defaultValue: null });
    this.endStatement(kw.text, kw);
  }

  private attrValue(): AttrValue {
    const t = this.lx.peek();
    if (t.kind === 'string') return this.string('a value');
    return this.number('an attribute value');
  }

  private parseAttrDefault(kw: Token): void {
    const name = this.string('the attribute name');
    const value = this.attrValue();
    const def = this.raw.attrDefs.get(name);
    if (def) def.defaultValue = normaliseAttr(def, value, kw, this.quirks);
    else this.quirk('unknown_reference', kw, `default for undefined attribute "${name}"`);
    this.endStatement(kw.text, kw);
  }

  private parseAttr(kw: Token): void {
    const m = this.lx.sticky(BA_LINE);
    if (m !== null) {
      // the common forms in one native match (a file of 7000 BA_ lines spent a quarter of its parse here); the
      // same result as the token path below, which handles everything else (escapes, comments, quirks, errors)
      // the object's key as refKey writes it (ids as numbers: `007` is 7)
      const key =
        m[2] !== undefined
          ? `s:${Number(m[2])}:${m[3]}`
          : m[4] !== undefined
            ? `m:${Number(m[4])}`
            : m[5] !== undefined
              ? `n:${m[5]}`
              : m[6] !== undefined
                ? `e:${m[6]}`
                : 'db';
      const value = m[7] !== undefined ? Number(m[7]) : m[8];
      this.raw.attrs.push({ name: m[1], key, value, line: kw.line, column: kw.column });
      return;
    }
    const name = this.string('the attribute name');
    const ref = this.objectRef('BU_, BO_, SG_, EV_ or the value');
    const value = this.attrValue();
    this.raw.attrs.push({ name, key: refKey(ref), value, line: kw.line, column: kw.column });
    this.endStatement('BA_', kw);
  }

  private parseRelAttr(kw: Token): void {
    const name = this.string('the attribute name');
    const kindTok = this.lx.next();
    if (kindTok.kind !== 'ident') this.fail(kindTok, 'BU_SG_REL_, BU_EV_REL_ or BU_BO_REL_');
    if (kindTok.text === 'BU_SG_REL_') {
      const node = this.ident('a node name');
      const sg = this.lx.next();
      if (sg.kind !== 'ident' || sg.text !== 'SG_') this.fail(sg, 'SG_');
      const messageId = this.integer('a message id');
      const signal = this.ident('a signal name');
      const value = this.attrValue();
      this.raw.relAttrs.push({ name, kind: 'BU_SG_REL_', node, messageId, signal, value });
    } else if (kindTok.text === 'BU_BO_REL_') {
      const node = this.ident('a node name');
      const messageId = this.integer('a message id');
      const value = this.attrValue();
      this.raw.relAttrs.push({ name, kind: 'BU_BO_REL_', node, messageId, value });
    } else if (kindTok.text === 'BU_EV_REL_') {
      const node = this.ident('a node name');
      const envVar = this.ident('an environment variable name');
      const value = this.attrValue();
      this.raw.relAttrs.push({ name, kind: 'BU_EV_REL_', node, envVar, value });
    } else {
      this.fail(kindTok, 'BU_SG_REL_, BU_EV_REL_ or BU_BO_REL_');
    }
    this.endStatement('BA_REL_', kw);
  }

  private choices(): Choice[] {
    const out: Choice[] = [];
    for (;;) {
      // a pair on one line in one native match; anything else (a float value, an escape, a break) token by token
      const m = this.lx.sticky(CHOICE_PAIR);
      if (m !== null) {
        out.push({ value: BigInt(m[1]), label: m[2] });
        continue;
      }
      if (this.lx.sticky(BEFORE_SEMICOLON) !== null) break; // the end: no token made to see it
      const t = this.lx.peek();
      if (t.kind !== 'number') break;
      const value = this.bigInteger('a raw value');
      const label = this.string('the value description string');
      out.push({ value, label });
    }
    return out;
  }

  private parseValueDesc(kw: Token): void {
    const h = this.lx.sticky(VAL_HEAD);
    if (h !== null) {
      const ref: ObjRef = { kind: 'signal', id: Number(h[1]), signal: h[2] };
      const choices = this.choices();
      this.raw.valueDescs.push({ ref, choices, pos: this.lx.posOf(kw) });
      this.endStatement('VAL_', kw);
      return;
    }
    const t = this.lx.peek();
    let ref: ObjRef;
    if (t.kind === 'number') {
      const id = this.integer('a message id');
      ref = { kind: 'signal', id, signal: this.ident('a signal name') };
    } else {
      ref = { kind: 'envvar', name: this.ident('a message id or an environment variable name') };
    }
    const choices = this.choices();
    this.raw.valueDescs.push({ ref, choices, pos: this.lx.posOf(kw) });
    this.endStatement('VAL_', kw);
  }

  private parseValueTable(kw: Token): void {
    const name = this.lx.sticky(NAME)?.[0] ?? this.ident('the value table name');
    this.raw.valueTables.push({ name, choices: this.choices() });
    this.endStatement('VAL_TABLE_', kw);
  }

  private parseSigValType(kw: Token): void {
    const id = this.integer('a message id');
    const signal = this.ident('a signal name');
    this.acceptPunct(':');
    const typeTok = this.lx.peek();
    const type = this.integer('the value type (0 int, 1 float32, 2 float64)');
    if (type < 0 || type > 3) this.fail(typeTok, 'the value type 0, 1 or 2');
    this.raw.sigTypes.set(`${id}:${signal}`, { type, pos: this.lx.posOf(kw) });
    this.endStatement('SIG_VALTYPE_', kw);
  }

  private parseMulVal(kw: Token): void {
    const id = this.integer('a message id');
    const signal = this.ident('the multiplexed signal name');
    const muxer = this.ident('the multiplexer signal name');
    const ranges: MuxRange[] = [];
    for (;;) {
      const loTok = this.lx.peek();
      if (loTok.kind !== 'number') break;
      const lo = this.integer('the range start');
      // `0-3` lexes as 0 and -3; `0 - 3` as 0, '-', 3.
      let hi: number;
      const n = this.lx.peek();
      if (n.kind === 'number' && n.text.startsWith('-')) hi = -this.integer('the range end');
      else {
        this.expectPunct('-');
        hi = this.integer('the range end');
      }
      if (hi < lo || lo < 0) this.fail(loTok, `a multiplexer range lo-hi with 0 ≤ lo ≤ hi (got ${lo}-${hi})`);
      ranges.push({ lo, hi });
      if (!this.acceptPunct(',')) break;
    }
    this.raw.mulVals.push({ id, signal, muxer, ranges, pos: this.lx.posOf(kw) });
    this.endStatement('SG_MUL_VAL_', kw);
  }

  private parseTxNodes(kw: Token): void {
    const id = this.integer('a message id');
    this.expectPunct(':');
    const nodes: string[] = [];
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'ident' || (t.lineStart && this.isKeyword(t))) break;
      nodes.push(this.ident('a node name'));
      this.acceptPunct(',');
    }
    const prev = this.raw.txNodes.get(id) ?? [];
    this.raw.txNodes.set(id, [...prev, ...nodes]);
    this.endStatement('BO_TX_BU_', kw);
  }

  private parseSigGroup(kw: Token): void {
    const id = this.integer('a message id');
    const name = this.ident('the signal group name');
    const repetitions = this.integer('the repetitions');
    this.expectPunct(':');
    const signals: string[] = [];
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'ident' || (t.lineStart && this.isKeyword(t))) break;
      signals.push(this.ident('a signal name'));
      this.acceptPunct(',');
    }
    this.raw.sigGroups.push({ id, group: { name, repetitions, signals }, pos: this.lx.posOf(kw) });
    this.endStatement('SIG_GROUP_', kw);
  }

  private parseEnvVar(kw: Token): void {
    const name = this.ident('the environment variable name');
    this.expectPunct(':');
    const type = this.integer('the variable type');
    this.expectPunct('[');
    const minimum = this.number('the minimum');
    this.expectPunct('|');
    const maximum = this.number('the maximum');
    this.expectPunct(']');
    const unit = this.string('the unit');
    const initialValue = this.number('the initial value');
    const id = this.integer('the variable id');
    const accessType = this.ident('the access type');
    const accessNodes: string[] = [];
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'ident' || (t.lineStart && this.isKeyword(t))) break;
      accessNodes.push(this.ident('an access node'));
      this.acceptPunct(',');
    }
    this.raw.envVars.push({
      name,
      type,
      minimum,
      maximum,
      unit,
      initialValue,
      id,
      accessType,
      accessNodes,
      comment: null,
      dataSize: null,
      choices: null,
      attributes: new Map(),
    });
    this.endStatement('EV_', kw);
  }

  private parseEnvVarData(kw: Token): void {
    const name = this.ident('the environment variable name');
    this.expectPunct(':');
    this.raw.envData.set(name, this.integer('the data size'));
    this.endStatement('ENVVAR_DATA_', kw);
  }
}
