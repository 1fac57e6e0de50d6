/**
 * DBC parser: text → DbcFile. Recursive descent over the token stream, one function per statement.
 *
 * Lenient by default: the quirks real files have (see QUIRKS) become warnings with file:line:column and the
 * statement is interpreted the way its author evidently meant it. With `strict: true` the first quirk is a
 * DbcSyntaxError. Anything else that does not fit the grammar is a DbcSyntaxError naming the position and what was
 * expected — in both modes.
 */
import { DbcSyntaxError, Lexer, type Token } from './lexer.js';
import type {
  AttributeDefinition,
  AttrType,
  AttrValue,
  ByteOrder,
  Choice,
  DbcFile,
  Diagnostic,
  EnvironmentVariable,
  Message,
  MuxRange,
  Node,
  Signal,
  SignalGroup,
  SourcePos,
} from './model.js';

export interface ParseOptions {
  /** Name used in diagnostics. */
  file?: string;
  /** Turn every quirk warning into an error. */
  strict?: boolean;
}

/** The quirk codes the parser knows, with what they mean. */
export const QUIRKS: Record<string, string> = {
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
};

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

const INDEPENDENT_MSG = 'VECTOR__INDEPENDENT_SIG_MSG';

interface RawSignal {
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

interface RawMessage {
  dbcId: number;
  name: string;
  length: number;
  sender: string;
  signals: RawSignal[];
  pos: SourcePos;
}

type ObjRef =
  | { kind: 'database' }
  | { kind: 'node'; node: string }
  | { kind: 'message'; id: number }
  | { kind: 'signal'; id: number; signal: string }
  | { kind: 'envvar'; name: string };

export function parseDbc(text: string, options: ParseOptions = {}): DbcFile {
  return new Parser(text, options).parse();
}

class Parser {
  private lx: Lexer;
  private file: string;
  private strict: boolean;
  private warnings: Diagnostic[] = [];

  private version: string | null = null;
  private newSymbols: string[] = [];
  private nodeNames: string[] = [];
  private messages: RawMessage[] = [];
  private comments = new Map<string, { text: string; pos: SourcePos }>();
  private attrDefs = new Map<string, AttributeDefinition>();
  private attrDefPos = new Map<string, SourcePos>();
  private attrs: { name: string; ref: ObjRef; value: AttrValue; pos: SourcePos }[] = [];
  private relAttrs: DbcFile['relationAttributes'] = [];
  private valueDescs: { ref: ObjRef; choices: Choice[]; pos: SourcePos }[] = [];
  private valueTables: DbcFile['valueTables'] = [];
  private sigTypes = new Map<string, { type: number; pos: SourcePos }>();
  private mulVals: { id: number; signal: string; muxer: string; ranges: MuxRange[]; pos: SourcePos }[] = [];
  private txNodes = new Map<number, string[]>();
  private sigGroups: { id: number; group: SignalGroup; pos: SourcePos }[] = [];
  private envVars: EnvironmentVariable[] = [];
  private envData = new Map<string, number>();
  private unknown: DbcFile['unknownStatements'] = [];

  constructor(text: string, options: ParseOptions) {
    this.file = options.file ?? '<dbc>';
    this.strict = options.strict ?? false;
    this.lx = new Lexer(text, this.file);
  }

  // ---- diagnostics -------------------------------------------------------------------------------------------

  private quirk(code: string, at: SourcePos | Token, message: string): void {
    const line = at.line;
    const column = at.column;
    if (this.strict) throw new DbcSyntaxError(this.file, line, column, `${message} [${code}; strict mode]`);
    this.warnings.push({ code, message, file: this.file, line, column });
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

  parse(): DbcFile {
    for (;;) {
      const t = this.lx.peek();
      if (t.kind === 'eof') break;
      if (t.kind !== 'ident') this.fail(t, 'a statement keyword (BO_, SG_, CM_, BA_ …)');
      this.lx.next();
      switch (t.text) {
        case 'VERSION':
          this.version = this.string('the version string');
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
    return this.build();
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
    this.unknown.push({ keyword: kw.text, text: this.lx.slice(kw.start, end), pos: this.lx.posOf(kw) });
    this.quirk('unknown_statement', kw, `${kw.text} is not interpreted; kept verbatim`);
  }

  private parseNewSymbols(): void {
    this.expectPunct(':');
    // The symbols are indented keywords; the list ends at the first token at the start of a line without indent.
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'ident' || (t.lineStart && t.column === 1)) break;
      this.newSymbols.push(this.lx.next().text);
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
      this.nodeNames.push(this.ident('a node name'));
    }
  }

  private parseMessage(kw: Token): void {
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
    this.messages.push({ dbcId, name, length, sender, signals: [], pos: this.lx.posOf(kw) });
  }

  private parseSignal(kw: Token): void {
    const msg = this.messages[this.messages.length - 1];
    if (!msg) throw this.lx.error(kw, 'SG_ outside of a message (no BO_ before it)');
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
    if (length < 1 || length > 64) throw this.lx.error(kw, `signal ${name}: length ${length} is outside 1..64 bits`);
    if (start < 0 || start > 511) throw this.lx.error(kw, `signal ${name}: start bit ${start} is outside 0..511`);
    msg.signals.push({
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
      receivers: receivers.filter((r) => r !== 'Vector__XXX'),
      pos: this.lx.posOf(kw),
    });
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

  private refKey(ref: ObjRef): string {
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
    this.comments.set(this.refKey(ref), { text, pos: this.lx.posOf(kw) });
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
    this.attrDefs.set(name, { name, objectKind, type, defaultValue: null });
    this.attrDefPos.set(name, this.lx.posOf(kw));
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
    const def = this.attrDefs.get(name);
    if (def) def.defaultValue = this.normaliseAttr(def, value, kw);
    else this.quirk('unknown_reference', kw, `default for undefined attribute "${name}"`);
    this.endStatement(kw.text, kw);
  }

  /**
   * Numeric attribute types get numbers (some files quote them); a value that is not a number is a quirk. ENUM
   * values stay as written: defaults are labels, values are indexes (enumAttr resolves them).
   */
  private normaliseAttr(def: AttributeDefinition, value: AttrValue, at: SourcePos | Token): AttrValue {
    if (
      (def.type.kind === 'INT' || def.type.kind === 'HEX' || def.type.kind === 'FLOAT') &&
      typeof value !== 'number'
    ) {
      const n = Number(value);
      if (value !== '' && Number.isFinite(n)) return n;
      this.quirk('attribute_value_mismatch', at, `attribute "${def.name}" expects a number, got "${value}"`);
    }
    return value;
  }

  private parseAttr(kw: Token): void {
    const name = this.string('the attribute name');
    const ref = this.objectRef('BU_, BO_, SG_, EV_ or the value');
    const value = this.attrValue();
    this.attrs.push({ name, ref, value, pos: this.lx.posOf(kw) });
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
      this.relAttrs.push({ name, kind: 'BU_SG_REL_', node, messageId, signal, value });
    } else if (kindTok.text === 'BU_BO_REL_') {
      const node = this.ident('a node name');
      const messageId = this.integer('a message id');
      const value = this.attrValue();
      this.relAttrs.push({ name, kind: 'BU_BO_REL_', node, messageId, value });
    } else if (kindTok.text === 'BU_EV_REL_') {
      const node = this.ident('a node name');
      const envVar = this.ident('an environment variable name');
      const value = this.attrValue();
      this.relAttrs.push({ name, kind: 'BU_EV_REL_', node, envVar, value });
    } else {
      this.fail(kindTok, 'BU_SG_REL_, BU_EV_REL_ or BU_BO_REL_');
    }
    this.endStatement('BA_REL_', kw);
  }

  private choices(): Choice[] {
    const out: Choice[] = [];
    for (;;) {
      const t = this.lx.peek();
      if (t.kind !== 'number') break;
      const value = this.bigInteger('a raw value');
      const label = this.string('the value description string');
      out.push({ value, label });
    }
    return out;
  }

  private parseValueDesc(kw: Token): void {
    const t = this.lx.peek();
    let ref: ObjRef;
    if (t.kind === 'number') {
      const id = this.integer('a message id');
      ref = { kind: 'signal', id, signal: this.ident('a signal name') };
    } else {
      ref = { kind: 'envvar', name: this.ident('a message id or an environment variable name') };
    }
    const choices = this.choices();
    this.valueDescs.push({ ref, choices, pos: this.lx.posOf(kw) });
    this.endStatement('VAL_', kw);
  }

  private parseValueTable(kw: Token): void {
    const name = this.ident('the value table name');
    this.valueTables.push({ name, choices: this.choices() });
    this.endStatement('VAL_TABLE_', kw);
  }

  private parseSigValType(kw: Token): void {
    const id = this.integer('a message id');
    const signal = this.ident('a signal name');
    this.acceptPunct(':');
    const typeTok = this.lx.peek();
    const type = this.integer('the value type (0 int, 1 float32, 2 float64)');
    if (type < 0 || type > 3) this.fail(typeTok, 'the value type 0, 1 or 2');
    this.sigTypes.set(`${id}:${signal}`, { type, pos: this.lx.posOf(kw) });
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
    this.mulVals.push({ id, signal, muxer, ranges, pos: this.lx.posOf(kw) });
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
    const prev = this.txNodes.get(id) ?? [];
    this.txNodes.set(id, [...prev, ...nodes]);
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
    this.sigGroups.push({ id, group: { name, repetitions, signals }, pos: this.lx.posOf(kw) });
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
    this.envVars.push({
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
    this.envData.set(name, this.integer('the data size'));
    this.endStatement('ENVVAR_DATA_', kw);
  }

  // ---- assembly ----------------------------------------------------------------------------------------------

  private build(): DbcFile {
    const attrsByKey = new Map<string, Map<string, AttrValue>>();
    for (const a of this.attrs) {
      const key = this.refKey(a.ref);
      let m = attrsByKey.get(key);
      if (!m) attrsByKey.set(key, (m = new Map()));
      const def = this.attrDefs.get(a.name);
      m.set(a.name, def ? this.normaliseAttr(def, a.value, a.pos) : a.value);
    }
    const attrsOf = (key: string) => attrsByKey.get(key) ?? new Map<string, AttrValue>();
    const commentOf = (key: string) => this.comments.get(key)?.text ?? null;
    const longNode = (short: string) => {
      const v = attrsOf(`n:${short}`).get('SystemNodeLongSymbol');
      return typeof v === 'string' && v !== '' ? v : short;
    };

    const nodes: Node[] = this.nodeNames.map((n) => ({
      name: longNode(n),
      shortName: n,
      comment: commentOf(`n:${n}`),
      attributes: attrsOf(`n:${n}`),
    }));
    const nodeSet = new Set(this.nodeNames);

    const choicesBySignal = new Map<string, Choice[]>();
    const envChoices = new Map<string, Choice[]>();
    for (const v of this.valueDescs) {
      if (v.ref.kind === 'signal') choicesBySignal.set(`${v.ref.id}:${v.ref.signal}`, v.choices);
      else if (v.ref.kind === 'envvar') envChoices.set(v.ref.name, v.choices);
    }

    const usedKeys = new Set<string>();
    const messages: Message[] = [];
    const independent: Signal[] = [];
    const seenIds = new Map<string, RawMessage>();
    let globalIndex = 0;
    for (const raw of this.messages) {
      let id = raw.dbcId & 0x7fffffff;
      let extended = raw.dbcId >= 0x80000000;
      if (raw.name === INDEPENDENT_MSG) {
        for (const s of raw.signals)
          independent.push(this.buildSignal(raw, s, null, null, attrsOf, commentOf, choicesBySignal, -1));
        continue;
      }
      if (extended && id > 0x1fffffff) {
        this.quirk(
          'id_too_wide',
          raw.pos,
          `message ${raw.name}: extended id 0x${id.toString(16)} is wider than 29 bits; masked`,
        );
        id &= 0x1fffffff;
      } else if (!extended && id > 0x7ff) {
        this.quirk(
          'extended_id_without_flag',
          raw.pos,
          `message ${raw.name}: id 0x${id.toString(16)} does not fit 11 bits and lacks the extended flag; read as extended`,
        );
        extended = true;
        if (id > 0x1fffffff) {
          this.quirk(
            'id_too_wide',
            raw.pos,
            `message ${raw.name}: id 0x${id.toString(16)} is wider than 29 bits; masked`,
          );
          id &= 0x1fffffff;
        }
      }
      const idKey = `${extended ? 'x' : 's'}${id}`;
      const dup = seenIds.get(idKey);
      if (dup) {
        this.quirk(
          'duplicate_message_id',
          raw.pos,
          `message ${raw.name} has the same id 0x${id.toString(16)} as ${dup.name} (${this.file}:${dup.pos.line}); the later one decodes frames`,
        );
      }
      seenIds.set(idKey, raw);

      const mk = `m:${raw.dbcId}`;
      usedKeys.add(mk);
      const mattrs = attrsOf(mk);
      const frameFormat = this.enumAttr('VFrameFormat', mattrs);
      const longName = mattrs.get('SystemMessageLongSymbol');
      const senders = [longNode(raw.sender), ...(this.txNodes.get(raw.dbcId) ?? [])].filter(
        (s, i, a) => s !== 'Vector__XXX' && a.indexOf(s) === i,
      );
      if (raw.sender !== 'Vector__XXX' && nodeSet.size > 0 && !nodeSet.has(raw.sender)) {
        this.quirk('unknown_reference', raw.pos, `message ${raw.name}: sender ${raw.sender} is not in BU_`);
      }

      const signals = this.buildSignals(raw, attrsOf, commentOf, choicesBySignal, globalIndex);
      globalIndex += signals.length;
      for (const s of raw.signals) usedKeys.add(`s:${raw.dbcId}:${s.name}`);
      const cycle = this.numAttr('GenMsgCycleTime', mattrs);
      const message: Message = {
        id,
        extended,
        name: typeof longName === 'string' && longName !== '' ? longName : raw.name,
        shortName: raw.name,
        length: raw.length,
        senders,
        signals,
        comment: commentOf(mk),
        attributes: mattrs,
        isFd: frameFormat === 'StandardCAN_FD' || frameFormat === 'ExtendedCAN_FD',
        isJ1939: frameFormat === 'J1939PG',
        frameFormat,
        cycleTime: cycle === null || cycle === 0 ? null : cycle,
        sendType: this.enumAttr('GenMsgSendType', mattrs),
        signalGroups: this.sigGroups.filter((g) => g.id === raw.dbcId).map((g) => g.group),
        pos: raw.pos,
        index: messages.length,
        file: this.file,
      };
      this.checkLayout(message);
      messages.push(message);
    }

    // References to things that do not exist.
    const knownMsgIds = new Set(this.messages.map((m) => m.dbcId));
    for (const [key, c] of this.comments) {
      if ((key.startsWith('m:') || key.startsWith('s:')) && !usedKeys.has(key)) {
        const id = Number(key.split(':')[1]);
        if (!knownMsgIds.has(id) || key.startsWith('s:'))
          this.quirk(
            'unknown_reference',
            c.pos,
            `CM_ refers to ${key.startsWith('m:') ? 'message' : 'signal'} ${key.slice(2)}, which does not exist`,
          );
      }
    }
    for (const v of this.valueDescs) {
      if (v.ref.kind === 'signal' && !usedKeys.has(`s:${v.ref.id}:${v.ref.signal}`))
        this.quirk(
          'unknown_reference',
          v.pos,
          `VAL_ refers to signal ${v.ref.id}:${v.ref.signal}, which does not exist`,
        );
    }
    for (const [key, t] of this.sigTypes) {
      if (!usedKeys.has(`s:${key}`))
        this.quirk('unknown_reference', t.pos, `SIG_VALTYPE_ refers to signal ${key}, which does not exist`);
    }

    const envVars = this.envVars.map((e) => ({
      ...e,
      comment: commentOf(`e:${e.name}`),
      dataSize: this.envData.get(e.name) ?? null,
      choices: envChoices.get(e.name) ?? null,
      attributes: attrsOf(`e:${e.name}`),
    }));

    return {
      file: this.file,
      version: this.version,
      newSymbols: this.newSymbols,
      nodes,
      messages,
      valueTables: this.valueTables,
      environmentVariables: envVars,
      attributeDefinitions: this.attrDefs,
      attributes: attrsOf('db'),
      relationAttributes: this.relAttrs,
      comment: commentOf('db'),
      unknownStatements: this.unknown,
      independentSignals: independent,
      warnings: this.warnings,
      encoding: 'utf-8',
    };
  }

  /** An attribute value resolved through its ENUM definition (index → label), or its default. */
  private enumAttr(name: string, attrs: Map<string, AttrValue>): string | null {
    const def = this.attrDefs.get(name);
    const v = attrs.has(name) ? attrs.get(name)! : (def?.defaultValue ?? null);
    if (v === null) return null;
    if (def?.type.kind === 'ENUM' && typeof v === 'number') return def.type.values[v] ?? String(v);
    if (def?.type.kind === 'INT' && name === 'VFrameFormat' && typeof v === 'number') {
      return (
        [
          'StandardCAN',
          'ExtendedCAN',
          'reserved',
          'J1939PG',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'reserved',
          'StandardCAN_FD',
          'ExtendedCAN_FD',
        ][v] ?? String(v)
      );
    }
    return String(v);
  }

  private numAttr(name: string, attrs: Map<string, AttrValue>): number | null {
    const v = attrs.has(name) ? attrs.get(name)! : (this.attrDefs.get(name)?.defaultValue ?? null);
    if (v === null) return null;
    const n = typeof v === 'number' ? v : Number(v);
    return Number.isFinite(n) ? n : null;
  }

  private buildSignals(
    raw: RawMessage,
    attrsOf: (k: string) => Map<string, AttrValue>,
    commentOf: (k: string) => string | null,
    choicesBySignal: Map<string, Choice[]>,
    firstIndex: number,
  ): Signal[] {
    // Multiplexing, as cantools interprets it (see docs/dbc.md in shared docs):
    //  - exactly one M/m<n>M signal: it is the multiplexer of every m<n> signal; values = n plus SG_MUL_VAL_ ranges.
    //  - several: parents and values come only from SG_MUL_VAL_.
    //  - sigflow addition: a bare 'm' (no value) in a message without any M, while other signals are m<n>, is the
    //    multiplexer its author meant (vw_pq Motor_2); reported as a warning. cantools drops those signals.
    const mulByName = new Map<string, { muxer: string; ranges: MuxRange[] }>();
    for (const mv of this.mulVals) {
      if (mv.id !== raw.dbcId) continue;
      const prev = mulByName.get(mv.signal);
      if (prev && prev.muxer === mv.muxer) prev.ranges.push(...mv.ranges);
      else mulByName.set(mv.signal, { muxer: mv.muxer, ranges: [...mv.ranges] });
    }
    const names = new Set<string>();
    for (const s of raw.signals) {
      if (names.has(s.name))
        this.quirk('duplicate_signal', s.pos, `message ${raw.name} has two signals named ${s.name}`);
      names.add(s.name);
    }
    let muxers = raw.signals.filter((s) => s.mux?.endsWith('M'));
    const bare = raw.signals.filter((s) => s.mux === 'm');
    let bareAsMuxer: RawSignal | null = null;
    for (const b of bare) {
      const hasChildren = raw.signals.some((s) => s.mux !== null && /^m\d+$/.test(s.mux));
      if (muxers.length === 0 && bare.length === 1 && hasChildren) {
        bareAsMuxer = b;
        this.quirk(
          'bare_multiplexed_marker',
          b.pos,
          `signal ${b.name} is marked 'm' with no value; read as the multiplexer 'M' of ${raw.name}`,
        );
      } else {
        this.quirk(
          'bare_multiplexed_marker',
          b.pos,
          `signal ${b.name} is marked 'm' with no value; read as a plain signal`,
        );
      }
    }
    if (bareAsMuxer) muxers = [bareAsMuxer];
    const single = muxers.length === 1 ? muxers[0].name : null;

    const out: Signal[] = [];
    for (const s of raw.signals) {
      const isMultiplexer = s.mux !== null && (s.mux.endsWith('M') || s === bareAsMuxer);
      let parent: string | null = null;
      let values: MuxRange[] = [];
      const mul = mulByName.get(s.name);
      const m = s.mux ? /^m(\d+)/.exec(s.mux) : null;
      if (single !== null) {
        if (s.mux !== null && s.name !== single && !s.mux.endsWith('M')) {
          if (m) {
            parent = single;
            values.push({ lo: Number(m[1]), hi: Number(m[1]) });
          } else if (s.mux === 'm' && s !== bareAsMuxer) parent = null;
          if (parent && mul && mul.muxer === single) values.push(...mul.ranges);
        }
      } else if (mul) {
        parent = mul.muxer;
        values = [...mul.ranges];
      }
      if (parent !== null && values.length === 0) parent = null;
      if (parent !== null && !raw.signals.some((x) => x.name === parent)) {
        this.quirk(
          'unknown_reference',
          s.pos,
          `signal ${s.name} is multiplexed on ${parent}, which is not in ${raw.name}`,
        );
        parent = null;
      }
      out.push(
        this.buildSignal(
          raw,
          s,
          parent,
          parent ? mergeRanges(values) : null,
          attrsOf,
          commentOf,
          choicesBySignal,
          firstIndex + out.length,
          isMultiplexer,
        ),
      );
    }
    // Multiplexer references use the multiplexer's (long) name, like every other name in the model.
    const longOf = new Map(out.map((x) => [x.shortName, x.name]));
    for (const x of out)
      if (x.multiplexerSignal) x.multiplexerSignal = longOf.get(x.multiplexerSignal) ?? x.multiplexerSignal;
    return out;
  }

  private buildSignal(
    raw: RawMessage,
    s: RawSignal,
    parent: string | null,
    ranges: MuxRange[] | null,
    attrsOf: (k: string) => Map<string, AttrValue>,
    commentOf: (k: string) => string | null,
    choicesBySignal: Map<string, Choice[]>,
    globalIndex: number,
    isMultiplexer = false,
  ): Signal {
    const key = `${raw.dbcId}:${s.name}`;
    const attrs = attrsOf(`s:${key}`);
    const long = attrs.get('SystemSignalLongSymbol');
    const vt = this.sigTypes.get(key)?.type ?? 0;
    const valueType = vt === 1 ? 'float32' : vt === 2 ? 'float64' : 'int';
    if (valueType === 'float32' && s.length !== 32)
      throw new DbcSyntaxError(
        this.file,
        s.pos.line,
        s.pos.column,
        `signal ${s.name} is float32 (SIG_VALTYPE_ 1) but ${s.length} bits long`,
      );
    if (valueType === 'float64' && s.length !== 64)
      throw new DbcSyntaxError(
        this.file,
        s.pos.line,
        s.pos.column,
        `signal ${s.name} is float64 (SIG_VALTYPE_ 2) but ${s.length} bits long`,
      );
    const start = this.numAttr('GenSigStartValue', attrs);
    const spn = attrs.get('SPN');
    return {
      name: typeof long === 'string' && long !== '' ? long : s.name,
      shortName: s.name,
      startBit: s.start,
      length: s.length,
      byteOrder: s.byteOrder,
      signed: s.signed,
      valueType,
      factor: s.factor,
      offset: s.offset,
      minimum: s.minimum,
      maximum: s.maximum,
      unit: s.unit,
      receivers: s.receivers,
      comment: commentOf(`s:${key}`),
      choices: choicesBySignal.get(key)?.length ? choicesBySignal.get(key)! : null,
      isMultiplexer,
      multiplexerSignal: parent,
      multiplexerRanges: ranges,
      attributes: attrs,
      startValue: attrs.has('GenSigStartValue') ? start : null,
      spn: typeof spn === 'number' ? spn : null,
      pos: s.pos,
      globalIndex,
    };
  }

  /** Signals must lie inside the message; same-order signals that are always present together must not overlap. */
  private checkLayout(m: Message): void {
    const owners: (Signal | undefined)[] = new Array(m.length * 8);
    for (const s of m.signals) {
      const bits = signalBits(s);
      if (bits.some((b) => b >= m.length * 8 || b < 0)) {
        this.quirk(
          'signal_outside_message',
          s.pos,
          `signal ${s.name} extends beyond the ${m.length}-byte message ${m.name}`,
        );
        continue;
      }
      for (const b of bits) {
        const o = owners[b];
        if (o && mayCoexist(o, s)) {
          this.quirk(
            'overlapping_signals',
            s.pos,
            `signal ${s.name} overlaps ${o.name} in message ${m.name} (bit ${b})`,
          );
          break;
        }
        owners[b] = s;
      }
    }
  }
}

/** Two signals can be present in the same frame (so overlapping them is a defect). Conservative: mux-aware. */
function mayCoexist(a: Signal, b: Signal): boolean {
  if (a.multiplexerSignal && b.multiplexerSignal && a.multiplexerSignal === b.multiplexerSignal) {
    const ra = a.multiplexerRanges ?? [];
    const rb = b.multiplexerRanges ?? [];
    return ra.some((x) => rb.some((y) => x.lo <= y.hi && y.lo <= x.hi));
  }
  if (a.multiplexerSignal && b.multiplexerSignal) return false; // different multiplexers: can't tell; don't warn
  return true;
}

/** Frame bit indexes (byte*8 + bit-in-byte) a signal occupies. */
export function signalBits(s: { startBit: number; length: number; byteOrder: ByteOrder }): number[] {
  const out: number[] = [];
  if (s.byteOrder === 'little_endian') {
    for (let i = 0; i < s.length; i++) out.push(s.startBit + i);
  } else {
    // Motorola: start bit is the MSB in sawtooth numbering; walk towards the LSB.
    let linear = (s.startBit >> 3) * 8 + (7 - (s.startBit & 7));
    for (let i = 0; i < s.length; i++, linear++) out.push((linear >> 3) * 8 + (7 - (linear & 7)));
  }
  return out;
}

function mergeRanges(rs: MuxRange[]): MuxRange[] {
  const sorted = [...rs].sort((a, b) => a.lo - b.lo);
  const out: MuxRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else out.push({ ...r });
  }
  return out;
}
