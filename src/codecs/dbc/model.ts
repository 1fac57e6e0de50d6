/**
 * The DBC data model: what a parsed file holds. Everything in the file is kept (attributes, comments, value
 * tables, environment variables, signal groups, unknown statements as raw text), with typed accessors for the
 * well-known attributes. Names are the long names when `System*LongSymbol` attributes give them (as cantools).
 */
import type { WarningCode } from '../../errors/index.js';

export type ByteOrder = 'little_endian' | 'big_endian';
export type ValueType = 'int' | 'float32' | 'float64';
export type AttrValue = number | string;
export type ObjectKind = 'database' | 'node' | 'message' | 'signal' | 'envvar';

/** Where something came from, for messages that name file:line:column. */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

export interface Choice {
  value: bigint;
  label: string;
}

/** An inclusive range of multiplexer values. */
export interface MuxRange {
  lo: number;
  hi: number;
}

export interface Signal {
  /** Long name when SystemSignalLongSymbol gives one, else the short name. */
  name: string;
  shortName: string;
  startBit: number;
  length: number;
  byteOrder: ByteOrder;
  signed: boolean;
  valueType: ValueType;
  factor: number;
  offset: number;
  minimum: number;
  maximum: number;
  unit: string;
  receivers: string[];
  comment: string | null;
  /** VAL_ entries, keyed by raw value. Null when the signal has none. */
  choices: Choice[] | null;
  /** True for `M` and `m<n>M` signals. */
  isMultiplexer: boolean;
  /** Name of the multiplexer this signal depends on, or null when always present. */
  multiplexerSignal: string | null;
  /** The multiplexer values that make this signal present (when multiplexerSignal is set). */
  multiplexerRanges: MuxRange[] | null;
  attributes: Map<string, AttrValue>;
  /** GenSigStartValue (raw), when set. */
  startValue: number | null;
  /** J1939 SPN attribute, when set. */
  spn: number | null;
  pos: SourcePos;
  /** Index of this signal across the whole database (stable; used by the batch decoder). */
  globalIndex: number;
}

export interface Message {
  /** Frame id without the extended flag. */
  id: number;
  extended: boolean;
  /** Long name when SystemMessageLongSymbol gives one. */
  name: string;
  shortName: string;
  length: number;
  senders: string[];
  signals: Signal[];
  comment: string | null;
  attributes: Map<string, AttrValue>;
  /** VFrameFormat is StandardCAN_FD or ExtendedCAN_FD. */
  isFd: boolean;
  /** VFrameFormat is J1939PG. */
  isJ1939: boolean;
  frameFormat: string | null;
  cycleTime: number | null;
  sendType: string | null;
  signalGroups: SignalGroup[];
  pos: SourcePos;
  /** Index in Database.messages. */
  index: number;
  /** Source file (for combined databases). */
  file: string;
}

export interface Node {
  name: string;
  shortName: string;
  comment: string | null;
  attributes: Map<string, AttrValue>;
}

export interface SignalGroup {
  name: string;
  repetitions: number;
  signals: string[];
}

export type AttrType =
  | { kind: 'INT' | 'HEX' | 'FLOAT'; min: number; max: number }
  | { kind: 'STRING' }
  | { kind: 'ENUM'; values: string[] };

export interface AttributeDefinition {
  name: string;
  /** Object kind, or a relation kind (BU_SG_REL_, BU_EV_REL_, BU_BO_REL_) for BA_DEF_REL_. */
  objectKind: ObjectKind | 'BU_SG_REL_' | 'BU_EV_REL_' | 'BU_BO_REL_';
  type: AttrType;
  defaultValue: AttrValue | null;
}

export interface RelationAttribute {
  name: string;
  kind: 'BU_SG_REL_' | 'BU_EV_REL_' | 'BU_BO_REL_';
  node: string;
  messageId?: number;
  signal?: string;
  envVar?: string;
  value: AttrValue;
}

export interface EnvironmentVariable {
  name: string;
  type: number;
  minimum: number;
  maximum: number;
  unit: string;
  initialValue: number;
  id: number;
  accessType: string;
  accessNodes: string[];
  comment: string | null;
  dataSize: number | null;
  choices: Choice[] | null;
  attributes: Map<string, AttrValue>;
}

export interface ValueTable {
  name: string;
  choices: Choice[];
}

export type Severity = 'warning' | 'error';

/** A problem found while loading, with where it is. */
export interface Diagnostic {
  /** The quirk's short code (QUIRKS in quirks.ts): what users, `--strict` and formatDiagnostic show. */
  code: string;
  /** The same warning's catalogue code (QUIRK_WARNINGS in quirks.ts; docs/errors.md). */
  warningCode: WarningCode;
  message: string;
  file: string;
  line: number;
  column: number;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.message} [${d.code}]`;
}

export interface DbcFile {
  file: string;
  version: string | null;
  newSymbols: string[];
  nodes: Node[];
  messages: Message[];
  valueTables: ValueTable[];
  environmentVariables: EnvironmentVariable[];
  attributeDefinitions: Map<string, AttributeDefinition>;
  /** Database-level BA_ values. */
  attributes: Map<string, AttrValue>;
  relationAttributes: RelationAttribute[];
  comment: string | null;
  /** Statements sigflow does not interpret (SGTYPE_, CAT_DEF_ …), kept verbatim. */
  unknownStatements: { keyword: string; text: string; pos: SourcePos }[];
  /** Signals of the VECTOR__INDEPENDENT_SIG_MSG pseudo message (not placed in any frame). */
  independentSignals: Signal[];
  warnings: Diagnostic[];
  encoding: 'utf-8' | 'cp1252';
}
