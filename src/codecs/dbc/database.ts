/**
 * A loaded DBC database (one or several files): message lookup by frame id (optionally by J1939 PGN), the
 * compiled batch decoder, the per-frame decoder, and the encoder.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SigflowError, type WarningCode } from '../../errors/index.js';
import { type CompiledFn, compileMessage, isWide, MUX, muxError, SHORT } from './compile.js';
import { type EncodeOptions, type EncodeValue, encodeMessage } from './encoder.js';
import { DbcSyntaxError } from './lexer.js';
import type { DbcFile, Diagnostic, Message, Signal } from './model.js';
import { parseDbc } from './parser.js';
import { decodeDbcBytes } from './text.js';

export interface LoadOptions {
  /** Quirks are errors instead of warnings. */
  strict?: boolean;
}

export interface DecodeOptions {
  /** Look up VAL_ labels (default true). */
  choices?: boolean;
  /** Decode the signals that fit in a short frame instead of failing (cantools' allow_truncated). */
  truncated?: boolean;
}

/** How an extended frame with no exact-id message is matched by its J1939 parameter group number. */
export interface PgnOptions {
  /** Among the J1939 messages (VFrameFormat J1939PG). */
  j1939?: boolean;
  /**
   * Among all extended messages: for reassembled J1939 and NMEA 2000 transport messages, whose ids are rebuilt
   * (priority) or come from another sender than the DBC's.
   */
  anyPgn?: boolean;
}

/** Why a frame did not decode. */
export type FrameErrorKind = 'unknown_id' | 'short' | 'mux';

export const ERR_UNKNOWN_ID = -3;

export type DecodedValue = number | bigint;

/** Something worth saying about how a set of files was loaded (not a quirk of one file). */
export interface LoadNote {
  code: WarningCode;
  message: string;
}

/**
 * The output key of each message of one file: its name, or `<name>#0x<id hex>` when the file defines that name
 * more than once (gnss.dbc: `gnss_pos#0x3`, `gnss_pos#0x13`). A function of the file alone, never of the other
 * files loaded with it.
 */
export function messageKeys(messages: readonly Message[]): string[] {
  const count = new Map<string, number>();
  for (const m of messages) count.set(m.name, (count.get(m.name) ?? 0) + 1);
  return messages.map((m) => ((count.get(m.name) ?? 0) > 1 ? `${m.name}#0x${m.id.toString(16)}` : m.name));
}

/**
 * The output key of each signal of one message: its name; a later signal with the name of an earlier one (the
 * duplicate_signal quirk) is `<name>#<n>` for its n-th occurrence, so no value hides another.
 */
export function signalKeys(signals: readonly Signal[]): string[] {
  const seen = new Map<string, number>();
  return signals.map((s) => {
    const n = (seen.get(s.name) ?? 0) + 1;
    seen.set(s.name, n);
    return n === 1 ? s.name : `${s.name}#${n}`;
  });
}

export type FrameResult =
  | {
      ok: true;
      message: Message;
      phys: Record<string, DecodedValue>;
      raw: Record<string, DecodedValue>;
      choices: Record<string, string>;
    }
  | { ok: false; error: FrameErrorKind; detail: string; message: Message | null };

/** Input frames for the batch decoder, columnar. Frame i's payload is data[offset[i] .. offset[i]+length[i]). */
export interface FrameColumns {
  count: number;
  id: Uint32Array;
  /** 1 = extended (29-bit) id. */
  ext: Uint8Array;
  data: Uint8Array;
  offset: Uint32Array;
  length: Uint8Array | Uint16Array | Uint32Array;
}

/**
 * Batch decode output. For frame i: message[i] is the message index (Database.messages) or a negative error
 * code (ERR_UNKNOWN_ID, SHORT, MUX); its values are slots start[i] .. start[i+1]-1 in the value arrays.
 * Slot k: signal[k] = global signal index (Database.signals), phys[k], raw[k]; choice[k] = label index
 * (Database.labels) or -1, valid only when choices were requested and the signal has choices; wideRaw[k] /
 * widePhys[k] hold exact bigints for wide signals (Database.isWide).
 */
export class DecodedBatch {
  frames = 0;
  message = new Int32Array(0);
  start = new Uint32Array(1);
  signal = new Uint32Array(0);
  phys = new Float64Array(0);
  raw = new Float64Array(0);
  choice = new Int32Array(0);
  wideRaw: (bigint | undefined)[] = [];
  widePhys: (bigint | undefined)[] = [];

  ensureFrames(n: number): void {
    if (this.message.length >= n) return;
    this.message = new Int32Array(n);
    this.start = new Uint32Array(n + 1);
  }

  ensureValues(n: number): void {
    if (this.signal.length >= n) return;
    const cap = Math.max(n, this.signal.length * 2, 1024);
    const grow = <T extends Uint32Array | Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.signal = grow(this.signal, (k) => new Uint32Array(k));
    this.phys = grow(this.phys, (k) => new Float64Array(k));
    this.raw = grow(this.raw, (k) => new Float64Array(k));
    this.choice = grow(this.choice, (k) => new Int32Array(k));
  }

  get values(): number {
    return this.start[this.frames];
  }
}

function idKey(id: number, extended: boolean): number {
  return extended ? id + 0x100000000 : id;
}

/** J1939 parameter group number of a 29-bit id (PDU1: the PS byte is a destination address, not part of the PGN). */
export function j1939Pgn(id: number): number {
  const pgn = (id >>> 8) & 0x3ffff;
  return ((pgn >>> 8) & 0xff) < 240 ? pgn & 0x3ff00 : pgn;
}

/** Assigns a property as an own data property even when the name is `__proto__` (names come from files). */
function setOwn<T>(o: Record<string, T>, k: string, v: T): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

type ObjectBuilder = (b: DecodedBatch, labels: string[], choices: boolean) => FrameResult;

/**
 * Generates `(b, labels, choices) => ({ ok, message, phys: {…}, raw: {…}, choices })` for one slot layout of a
 * message: slot k holds global signal `sigs[k]` (for a multiplexed message, one layout per decoded branch: the
 * decoder emits roots first and each multiplexer's active children after it). The object literals have the
 * layout's fixed shape, with the keys the generic path gives (Database.signalKey, in slot order). Returns null
 * (use the generic path) when a key is `__proto__` or two slots share a key.
 */
function makeObjectBuilder(
  m: Message,
  sigs: ArrayLike<number>,
  signals: readonly Signal[],
  signalKey: readonly string[],
  wide: readonly boolean[],
  budget: ShapeBudget,
): ObjectBuilder | null {
  const keys = Array.from(sigs, (gi) => signalKey[gi]);
  if (keys.includes('__proto__') || new Set(keys).size !== keys.length) return null;
  const phys: string[] = [];
  const raw: string[] = [];
  const pre: string[] = [];
  const chSlots: ChoiceSlot[] = [];
  keys.forEach((name, k) => {
    const s = signals[sigs[k]];
    const key = JSON.stringify(name);
    if (wide[s.globalIndex]) {
      pre.push(
        `const wp${k} = b.widePhys[${k}], wr${k} = b.wideRaw[${k}]; b.widePhys[${k}] = undefined; b.wideRaw[${k}] = undefined;`,
      );
      phys.push(`${key}: wp${k} !== undefined ? wp${k} : P[${k}]`);
      raw.push(`${key}: ${s.length > 53 ? `wr${k} !== undefined ? wr${k} : ` : ''}R[${k}]`);
    } else {
      phys.push(`${key}: P[${k}]`);
      raw.push(`${key}: R[${k}]`);
    }
    if (s.choices) chSlots.push({ k, key, always: choiceAlways(s) });
  });
  const src = `return function build(b, labels, choices) {
  const P = b.phys, R = b.raw, C = b.choice;
  ${pre.join('\n  ')}
  let ch;
  if (choices) {
    ${choicesCode(chSlots)}
  } else ch = {};
  return { ok: true, message: m, phys: { ${phys.join(', ')} }, raw: { ${raw.join(', ')} }, choices: ch };
};`;
  const shapes = new Map<number, ChoiceShape>();
  const shapeOf = (mask: number): ChoiceShape | null => choiceShape(chSlots, mask, shapes, budget);
  return new Function('m', 'shapes', 'shapeOf', src)(m, shapes, shapeOf) as ObjectBuilder;
}

/** True when every raw value of the signal has a VAL_ label (so its choice is always present). */
function choiceAlways(s: Signal): boolean {
  if (!s.choices || s.valueType !== 'int' || s.length > 12) return false;
  const values = new Set(s.choices.map((c) => c.value));
  const lo = s.signed ? -(2n ** BigInt(s.length - 1)) : 0n;
  const hi = s.signed ? 2n ** BigInt(s.length - 1) - 1n : 2n ** BigInt(s.length) - 1n;
  if (BigInt(values.size) < hi - lo + 1n) return false;
  for (let v = lo; v <= hi; v++) if (!values.has(v)) return false;
  return true;
}

/** Up to this many choice signals whose label may be absent: one object literal per combination of presence. */
const CHOICE_VARIANT_BITS = 4;
/** Up to this many: literal builders made per combination met (choiceShape), then properties added one by one. */
const CHOICE_SHAPE_BITS = 30;
/** Up to this many: properties added one by one (at most 2^n hidden classes per layout); more: dictionary mode. */
const CHOICE_ADD_BITS = 10;
/** Literal builders per slot layout, and per database: beyond them, the adds or the dictionary. */
const MAX_SHAPES = 64;
const MAX_DB_SHAPES = 4096;

type ChoiceSlot = { k: number; key: string; always: boolean };
/** Builds one choices object of a fixed set of present labels (a literal: one hidden class, made once). */
type ChoiceShape = (C: Int32Array, labels: string[]) => Record<string, string>;
/** What is left of a database's MAX_DB_SHAPES. */
interface ShapeBudget {
  left: number;
}

const choiceLiteral = (present: ChoiceSlot[]) => `{ ${present.map((c) => `${c.key}: labels[C[${c.k}]]`).join(', ')} }`;

/**
 * The literal builder of the choices objects whose optional labels present are the bits of `mask` (in the order
 * of the optional slots), made on the first frame that needs it and kept in `shapes`; null when the layout or the
 * database has made its share (the caller then adds properties). Real traffic meets a few combinations per
 * message (a signal's value mostly stays within its labelled states), random payloads many.
 */
function choiceShape(
  slots: ChoiceSlot[],
  mask: number,
  shapes: Map<number, ChoiceShape>,
  budget: ShapeBudget,
): ChoiceShape | null {
  if (shapes.size >= MAX_SHAPES || budget.left <= 0) return null;
  budget.left--;
  let bit = 0;
  const present = slots.filter((c) => c.always || (mask & (1 << bit++)) !== 0);
  const shape = new Function('C', 'labels', `return ${choiceLiteral(present)};`) as ChoiceShape;
  shapes.set(mask, shape);
  return shape;
}

/**
 * Code that sets `ch` to the choices object: the labels present, in slot order. Adding properties one by one to
 * `{}` gives a hidden class per combination of present keys, and stores that see many of them. So: with at most
 * CHOICE_VARIANT_BITS signals whose label may be absent (signals whose every raw value has a label are always
 * present), one object literal per combination (fixed shapes); up to CHOICE_SHAPE_BITS, a literal builder per
 * combination met (`shapes`/`shapeOf`, choiceShape), bounded; past the bound, up to CHOICE_ADD_BITS, adds (a
 * bounded set of hidden classes, made once); with more, varied payloads would make V8 create a new hidden class
 * for nearly every frame: a dictionary-mode object (built without a prototype, then given Object.prototype — the
 * same own keys, order and prototype as `{}` with the same properties added).
 */
function choicesCode(slots: ChoiceSlot[]): string {
  const bits = slots.filter((c) => !c.always);
  if (bits.length === 0) return `ch = ${choiceLiteral(slots)};`;
  const maskCode = bits.map((c, i) => `(C[${c.k}] >= 0 ? ${1 << i} : 0)`).join(' | ');
  if (bits.length <= CHOICE_VARIANT_BITS) {
    return [
      `switch (${maskCode}) {`,
      ...Array.from({ length: 1 << bits.length }, (_, mask) => {
        const present = slots.filter((c) => c.always || (mask & (1 << bits.indexOf(c))) !== 0);
        return `  case ${mask}: ch = ${choiceLiteral(present)}; break;`;
      }),
      '  default: ch = {};',
      '}',
    ].join('\n    ');
  }
  const fallback =
    bits.length <= CHOICE_ADD_BITS
      ? ['ch = {};', ...slots.map((c) => `if (C[${c.k}] >= 0) ch[${c.key}] = labels[C[${c.k}]];`)]
      : [
          'ch = Object.create(null);',
          ...slots.map((c) =>
            c.always ? `ch[${c.key}] = labels[C[${c.k}]];` : `if (C[${c.k}] >= 0) ch[${c.key}] = labels[C[${c.k}]];`,
          ),
          'Object.setPrototypeOf(ch, Object.prototype);',
        ];
  if (bits.length > CHOICE_SHAPE_BITS) return fallback.join('\n    ');
  return [
    `const mask = ${maskCode};`,
    'const shape = shapes.get(mask) ?? shapeOf(mask);',
    'if (shape !== null) ch = shape(C, labels);',
    'else {',
    ...fallback.map((l) => `  ${l}`),
    '}',
  ].join('\n    ');
}

/** One slot layout of a message (the global signal index of each slot) and its builder; chained on hash clashes. */
interface LayoutBuilder {
  sigs: Uint32Array;
  build: ObjectBuilder | null;
  next: LayoutBuilder | undefined;
}

/** Per message, the layouts seen so far, by a hash of their slots' signal indexes (Database.layoutBuilder). */
interface LayoutTable {
  byHash: Map<number, LayoutBuilder>;
  count: number;
}

/** A message keeps at most this many generated builders (branches × truncation points); others go generic. */
const MAX_LAYOUTS = 256;

export class Database {
  readonly messages: Message[] = [];
  /** Every signal of every message, by global index. */
  readonly signals: Signal[] = [];
  /** The message each global signal belongs to. */
  readonly signalMessage: Message[] = [];
  /** Choice labels, by index (see DecodedBatch.choice). */
  readonly labels: string[] = [];
  readonly files: DbcFile[] = [];
  readonly warnings: Diagnostic[] = [];
  /** How the set was loaded: files skipped because their contents equal an earlier one's (SF_WARN_DBC_DUPLICATE_FILE). */
  readonly notes: LoadNote[] = [];
  /** Per message index: its output key (messageKeys: the name, `#0x<id>` for a name its file repeats). */
  readonly messageKey: string[] = [];
  /** Per global signal index: its output key within its message (signalKeys: `#<n>` for a repeated name). */
  readonly signalKey: string[] = [];
  /** Message output key → message, to refuse two files defining one name. */
  private readonly byKey = new Map<string, Message>();
  /** Per global signal: needs the bigint columns. */
  readonly wide: boolean[] = [];
  /** Frame id key (idKey) → message index. */
  private readonly byId = new Map<number, number>();
  /** Standard (11-bit) ids → message index + 1 (0: none): a dense table for the hot path. */
  private readonly std = new Int32Array(2048);
  /** J1939 PGN → message index. */
  private readonly byPgn = new Map<number, number>();
  /** PGN → an extended message with that PGN (a J1939 one when there is one), for PGN matching of any message. */
  private readonly byPgnAny = new Map<number, number>();
  /** Compiled decoders by variant (truncated·2 + choices), then message index; filled on first use. */
  private readonly fnTables: (CompiledFn | undefined)[][] = [[], [], [], []];
  private readonly labelIndex = new Map<string, number>();
  private maxSignals = 0;
  /**
   * Per message without multiplexed signals: the generated result-object builder for all its signals in order
   * (null: the message cannot use one).
   */
  private readonly builders: (ObjectBuilder | null)[] = [];
  /** Per message: builders for the other slot layouts (multiplexer branches, truncated frames), by layout. */
  private readonly layouts: (LayoutTable | undefined)[] = [];
  /** Per message: has multiplexed signals (its decoder's slot order is not its signal order). */
  private readonly muxed: boolean[] = [];
  private scratch = new DecodedBatch();
  /** The choices-object literal builders the generated builders may still make (choiceShape). */
  private readonly shapeBudget: ShapeBudget = { left: MAX_DB_SHAPES };

  /** Parses DBC text. */
  static fromText(text: string, file = '<dbc>', options: LoadOptions = {}): Database {
    const db = new Database();
    db.add(parseDbc(text, { file, strict: options.strict }));
    return db;
  }

  /**
   * Loads and combines DBC files: one set, the same for every command (`dbc inspect`, `dbc decode`, `decode`,
   * `import`). A file whose bytes equal an earlier file's is loaded once (a note in `notes`). Two different files
   * may not define the same frame id (SF_ERR_DBC_ID_CLASH) nor the same message key (SF_ERR_DBC_NAME_CLASH): a
   * frame decodes with one message, and a message's output name never depends on the other files loaded.
   */
  static load(paths: string[], options: LoadOptions = {}): Database {
    const db = new Database();
    const seen = new Map<string, string>();
    for (const p of paths) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(p);
      } catch (e) {
        throw new SigflowError(
          'SF_ERR_DBC_READ',
          `cannot read DBC file ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          { where: p, cause: e },
        );
      }
      const hash = createHash('sha256').update(bytes).digest('hex');
      const first = seen.get(hash);
      if (first !== undefined) {
        db.notes.push({
          code: 'SF_WARN_DBC_DUPLICATE_FILE',
          message: `${p} has the same contents as ${first}: loaded once`,
        });
        continue;
      }
      seen.set(hash, p);
      const { text, encoding } = decodeDbcBytes(bytes);
      const file = parseDbc(text, { file: p, strict: options.strict });
      file.encoding = encoding;
      db.add(file);
    }
    return db;
  }

  /**
   * Adds a parsed file. Throws when one of its frame ids (SF_ERR_DBC_ID_CLASH) or message keys
   * (SF_ERR_DBC_NAME_CLASH) is already defined by another file.
   */
  add(file: DbcFile): void {
    const keys = messageKeys(file.messages);
    const idClashes: { m: Message; prev: Message }[] = [];
    const nameClashes: { m: Message; prev: Message }[] = [];
    file.messages.forEach((m, k) => {
      const prevIndex = this.byId.get(idKey(m.id, m.extended));
      const prev = prevIndex === undefined ? undefined : this.messages[prevIndex];
      if (prev && prev.file !== m.file) idClashes.push({ m, prev });
      else {
        const named = this.byKey.get(keys[k]);
        if (named && named.file !== m.file) nameClashes.push({ m, prev: named });
      }
    });
    const clash = (list: { m: Message; prev: Message }[], what: (x: { m: Message; prev: Message }) => string) => {
      const first = list[0];
      const fileList = [...new Set(list.map((x) => x.prev.file))];
      const files = fileList.join(', ');
      const shown = list.slice(0, 4).map(what).join(', ');
      return {
        at: first.m.pos,
        text: `${files} already define${fileList.length > 1 ? '' : 's'} ${shown}${list.length > 4 ? ` and ${list.length - 4} more` : ''}`,
      };
    };
    const hex = (m: Message) => `0x${m.id.toString(16)}`;
    if (idClashes.length > 0) {
      const c = clash(idClashes, ({ m, prev }) => `${hex(m)} (${prev.name} there, ${m.name} here)`);
      throw new DbcSyntaxError(
        file.file,
        c.at.line,
        c.at.column,
        `frame id clash: ${c.text}. A frame id may be defined by one file of a set only: give one of the files (decode, import: or each to its own channel with --channel CAN<n>=file.dbc)`,
        'SF_ERR_DBC_ID_CLASH',
      );
    }
    if (nameClashes.length > 0) {
      const c = clash(nameClashes, ({ m, prev }) => `${m.name} (${hex(prev)} there, ${hex(m)} here)`);
      throw new DbcSyntaxError(
        file.file,
        c.at.line,
        c.at.column,
        `message name clash: ${c.text}. Output names (measurements) must be unique in a set: rename one, or give one of the files (decode, import: or each to its own channel with --channel CAN<n>=file.dbc)`,
        'SF_ERR_DBC_NAME_CLASH',
      );
    }
    this.files.push(file);
    this.warnings.push(...file.warnings);
    file.messages.forEach((m, k) => {
      m.index = this.messages.length;
      this.messages.push(m);
      this.messageKey.push(keys[k]);
      if (!this.byKey.has(keys[k])) this.byKey.set(keys[k], m);
      const sk = signalKeys(m.signals);
      m.signals.forEach((s, j) => {
        s.globalIndex = this.signals.length;
        this.signals.push(s);
        this.signalMessage.push(m);
        this.signalKey.push(sk[j]);
        const w = isWide(s);
        this.wide.push(w.raw || w.phys);
      });
      this.maxSignals = Math.max(this.maxSignals, m.signals.length);
      this.muxed[m.index] = m.signals.some((s) => s.multiplexerSignal !== null);
      // Later definitions win, as in cantools.
      this.byId.set(idKey(m.id, m.extended), m.index);
      if (!m.extended && m.id < 2048) this.std[m.id] = m.index + 1;
      if (m.extended) {
        const pgn = j1939Pgn(m.id);
        if (m.isJ1939) this.byPgn.set(pgn, m.index);
        const had = this.byPgnAny.get(pgn);
        if (m.isJ1939 || had === undefined || !this.messages[had].isJ1939) this.byPgnAny.set(pgn, m.index);
      }
    });
  }

  /**
   * The message a frame id maps to, or undefined. With no exact id: `j1939` falls back to PGN matching among the
   * J1939 messages (VFrameFormat J1939PG), `anyPgn` among all extended messages.
   */
  lookup(id: number, extended: boolean, j1939 = false, anyPgn = false): Message | undefined {
    const pgns = this.pgnMap(j1939, anyPgn);
    const i = this.byId.get(idKey(id, extended)) ?? (pgns && extended ? pgns.get(j1939Pgn(id)) : undefined);
    return i === undefined ? undefined : this.messages[i];
  }

  private pgnMap(j1939: boolean, anyPgn: boolean): Map<number, number> | null {
    return anyPgn ? this.byPgnAny : j1939 ? this.byPgn : null;
  }

  getMessage(name: string): Message | undefined {
    return this.messages.find((m) => m.name === name || m.shortName === name);
  }

  private label(text: string): number {
    let i = this.labelIndex.get(text);
    if (i === undefined) {
      i = this.labels.length;
      this.labels.push(text);
      this.labelIndex.set(text, i);
    }
    return i;
  }

  /** The compiled decoder of a message for the given variant (compiled on first use). */
  compiled(m: Message, truncated: boolean, choices: boolean): CompiledFn {
    const table = this.fnTables[(truncated ? 2 : 0) + (choices ? 1 : 0)];
    let fn = table[m.index];
    if (!fn) {
      fn = compileMessage(m, { label: (t) => this.label(t) }, { truncated, choices });
      table[m.index] = fn;
    }
    return fn;
  }

  /** Compiles every message's decoder now (otherwise each compiles on first use). */
  compileAll(options: DecodeOptions = {}): void {
    for (const m of this.messages) this.compiled(m, options.truncated ?? false, options.choices ?? true);
  }

  /**
   * Decodes `frames` into `out` without allocating per frame or per signal. Never throws on payload bytes:
   * unknown ids, short frames and undefined multiplexer values become negative codes in out.message.
   */
  decodeBatch(frames: FrameColumns, out: DecodedBatch, options: DecodeOptions & PgnOptions = {}): void {
    const truncated = options.truncated ?? false;
    const choices = options.choices ?? true;
    const pgns = this.pgnMap(options.j1939 ?? false, options.anyPgn ?? false);
    const v = (truncated ? 2 : 0) + (choices ? 1 : 0);
    const n = frames.count;
    out.ensureFrames(n);
    out.ensureValues(n * Math.min(this.maxSignals, 8) + this.maxSignals);
    const { id, ext, data, offset, length } = frames;
    const { byId, std, maxSignals, messages } = this;
    const table = this.fnTables[v];
    const msgOut = out.message;
    const startOut = out.start;
    let S = out.signal;
    let p = 0;
    startOut[0] = 0;
    for (let i = 0; i < n; i++) {
      const fid = id[i];
      let mi: number | undefined;
      if (ext[i] === 0) {
        mi = fid < 2048 ? std[fid] - 1 : -1;
      } else {
        mi = byId.get(fid + 0x100000000);
        if (mi === undefined && pgns !== null) mi = pgns.get(j1939Pgn(fid));
        if (mi === undefined) mi = -1;
      }
      if (mi < 0) {
        msgOut[i] = ERR_UNKNOWN_ID;
        startOut[i + 1] = p;
        continue;
      }
      if (S.length < p + maxSignals + 1) {
        out.ensureValues(p + maxSignals + 1);
        S = out.signal;
      }
      const fn = table[mi] ?? this.compiled(messages[mi], truncated, choices);
      const r = fn(data, offset[i], length[i], out, p);
      if (r < 0) {
        msgOut[i] = r;
      } else {
        msgOut[i] = mi;
        p = r;
      }
      startOut[i + 1] = p;
    }
    out.frames = n;
  }

  /** Decodes one frame into plain objects (convenient; the batch API is the fast path). */
  decodeFrame(id: number, extended: boolean, data: Uint8Array, options: DecodeOptions & PgnOptions = {}): FrameResult {
    // Standard ids: the dense table (as decodeBatch); others through lookup.
    const si = !extended && id >= 0 && id < 2048 ? this.std[id] - 1 : -1;
    const m = si >= 0 ? this.messages[si] : this.lookup(id, extended, options.j1939 ?? false, options.anyPgn ?? false);
    if (!m) {
      return {
        ok: false,
        error: 'unknown_id',
        detail: `no message with ${extended ? 'extended' : 'standard'} id 0x${id.toString(16)}`,
        message: null,
      };
    }
    return this.decodeMessage(m, data, options);
  }

  /** Decodes a payload as the given message. */
  decodeMessage(m: Message, data: Uint8Array, options: DecodeOptions = {}): FrameResult {
    const choices = options.choices ?? true;
    const fn = this.compiled(m, options.truncated ?? false, choices);
    const b = this.scratch;
    b.ensureValues(this.maxSignals + 1);
    const end = fn(data, 0, data.length, b, 0);
    if (end === SHORT) {
      return {
        ok: false,
        error: 'short',
        detail: `${m.name} needs ${m.length} bytes, got ${data.length}`,
        message: m,
      };
    }
    if (end === MUX) return { ok: false, error: 'mux', detail: this.muxErrorDetail(), message: m };
    if (end === m.signals.length && !this.muxed[m.index]) {
      // Every signal present, in definition order: build the objects with a generated function whose object
      // literals have the message's fixed shape.
      let build = this.builders[m.index];
      if (build === undefined)
        build = this.builders[m.index] = makeObjectBuilder(
          m,
          b.signal.subarray(0, end),
          this.signals,
          this.signalKey,
          this.wide,
          this.shapeBudget,
        );
      if (build !== null) return build(b, this.labels, choices);
    } else {
      // A multiplexer branch (or a truncated frame): one generated builder per slot layout, found by a hash of
      // the slots' signal indexes and checked slot by slot.
      const build = this.layoutBuilder(m, b.signal, end);
      if (build !== null) return build(b, this.labels, choices);
    }
    return this.buildGeneric(m, b, end, choices);
  }

  /**
   * The generic object building (per-signal property adds), which the generated builders must equal key for key;
   * public for the tests that pin them against it.
   */
  decodeMessageGeneric(m: Message, data: Uint8Array, options: DecodeOptions = {}): FrameResult {
    const choices = options.choices ?? true;
    const fn = this.compiled(m, options.truncated ?? false, choices);
    const b = this.scratch;
    b.ensureValues(this.maxSignals + 1);
    const end = fn(data, 0, data.length, b, 0);
    if (end === SHORT)
      return { ok: false, error: 'short', detail: `${m.name} needs ${m.length} bytes, got ${data.length}`, message: m };
    if (end === MUX) return { ok: false, error: 'mux', detail: this.muxErrorDetail(), message: m };
    return this.buildGeneric(m, b, end, choices);
  }

  private layoutBuilder(m: Message, S: Uint32Array, end: number): ObjectBuilder | null {
    let table = this.layouts[m.index];
    if (table === undefined) table = this.layouts[m.index] = { byHash: new Map(), count: 0 };
    let h = end;
    for (let k = 0; k < end; k++) h = Math.imul(h ^ S[k], 0x01000193);
    const first = table.byHash.get(h);
    for (let e = first; e !== undefined; e = e.next) {
      const sigs = e.sigs;
      if (sigs.length !== end) continue;
      let k = 0;
      while (k < end && sigs[k] === S[k]) k++;
      if (k === end) return e.build;
    }
    if (table.count >= MAX_LAYOUTS) return null;
    table.count++;
    const sigs = S.slice(0, end);
    const build = makeObjectBuilder(m, sigs, this.signals, this.signalKey, this.wide, this.shapeBudget);
    table.byHash.set(h, { sigs, build, next: first });
    return build;
  }

  private buildGeneric(m: Message, b: DecodedBatch, end: number, choices: boolean): FrameResult {
    const phys: Record<string, DecodedValue> = {};
    const raw: Record<string, DecodedValue> = {};
    const ch: Record<string, string> = {};
    for (let k = 0; k < end; k++) {
      const gi = b.signal[k];
      const s = this.signals[gi];
      let rv: DecodedValue = b.raw[k];
      let pv: DecodedValue = b.phys[k];
      if (this.wide[gi]) {
        const wr = b.wideRaw[k];
        const wp = b.widePhys[k];
        if (wr !== undefined && s.length > 53) rv = wr;
        if (wp !== undefined) pv = wp;
        b.wideRaw[k] = undefined;
        b.widePhys[k] = undefined;
      }
      const key = this.signalKey[gi];
      setOwn(raw, key, rv);
      setOwn(phys, key, pv);
      if (choices && s.choices) {
        const c = b.choice[k];
        if (c >= 0) setOwn(ch, key, this.labels[c]);
      }
    }
    return { ok: true, message: m, phys, raw, choices: ch };
  }

  /** Describes the most recent MUX result (the multiplexer and the value that no signal or VAL_ defines). */
  muxErrorDetail(): string {
    const s = this.signals[muxError[0]];
    const m = this.signalMessage[muxError[0]];
    return `${m?.name}: multiplexer ${s?.name} = ${muxError[1]} is not a defined multiplexer value`;
  }

  /** Encodes signal values into a payload of the message's length. See encoder.ts. */
  encode(message: Message | string, values: Record<string, EncodeValue>, options: EncodeOptions = {}): Uint8Array {
    const m = typeof message === 'string' ? this.getMessage(message) : message;
    if (!m) throw new SigflowError('SF_ERR_DBC_UNKNOWN_MESSAGE', `no message named ${String(message)}`);
    return encodeMessage(m, values, options);
  }
}
