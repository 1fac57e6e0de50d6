/**
 * Building the database model from a file's statements (syntax.ts → model.ts): attributes resolved through their
 * definitions, long names, comments and value descriptions attached, frame ids normalised, multiplexing worked
 * out as cantools does, the layout checked, and every reference that points nowhere reported. The quirks found
 * here go to the same QuirkLog as the syntax's, after them, in file order.
 */

import { signalBits } from './layout.js';
import { DbcSyntaxError } from './lexer.js';
import type { AttrValue, Choice, DbcFile, Message, MuxRange, Node, Signal } from './model.js';
import type { QuirkLog } from './quirks.js';
import { normaliseAttr, type RawDbc, type RawMessage, type RawSignal } from './syntax.js';

const INDEPENDENT_MSG = 'VECTOR__INDEPENDENT_SIG_MSG';

/** VFrameFormat values when the attribute is defined as INT instead of ENUM (Vector's numbering). */
const FRAME_FORMATS = [
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
];

/** The database model of one file. */
export function buildDbcFile(raw: RawDbc, file: string, quirks: QuirkLog): DbcFile {
  return new DbcBuilder(raw, file, quirks).build();
}

class DbcBuilder {
  /** BA_ values by object key (refKey), typed through their definitions. */
  private readonly attrsByKey = new Map<string, Map<string, AttrValue>>();
  /** VAL_ of signals by `<message id>:<signal>`, and of environment variables by name. */
  private readonly choicesBySignal = new Map<string, Choice[]>();
  private readonly envChoices = new Map<string, Choice[]>();
  private readonly nodeSet: Set<string>;

  constructor(
    private readonly raw: RawDbc,
    private readonly file: string,
    private readonly quirks: QuirkLog,
  ) {
    this.nodeSet = new Set(raw.nodeNames);
  }

  build(): DbcFile {
    this.indexAttributes();
    const nodes: Node[] = this.raw.nodeNames.map((n) => ({
      name: this.longNode(n),
      shortName: n,
      comment: this.commentOf(`n:${n}`),
      attributes: this.attrsOf(`n:${n}`),
    }));
    this.indexChoices();
    const { messages, independent, usedKeys } = this.buildMessages();
    this.checkReferences(usedKeys);
    const envVars = this.raw.envVars.map((e) => ({
      ...e,
      comment: this.commentOf(`e:${e.name}`),
      dataSize: this.raw.envData.get(e.name) ?? null,
      choices: this.envChoices.get(e.name) ?? null,
      attributes: this.attrsOf(`e:${e.name}`),
    }));
    return {
      file: this.file,
      version: this.raw.version,
      newSymbols: this.raw.newSymbols,
      nodes,
      messages,
      valueTables: this.raw.valueTables,
      environmentVariables: envVars,
      attributeDefinitions: this.raw.attrDefs,
      attributes: this.attrsOf('db'),
      relationAttributes: this.raw.relAttrs,
      comment: this.commentOf('db'),
      unknownStatements: this.raw.unknown,
      independentSignals: independent,
      warnings: this.quirks.warnings,
      encoding: 'utf-8',
    };
  }

  // ---- lookups -----------------------------------------------------------------------------------------------

  private indexAttributes(): void {
    for (const a of this.raw.attrs) {
      let m = this.attrsByKey.get(a.key);
      if (!m) this.attrsByKey.set(a.key, (m = new Map()));
      const def = this.raw.attrDefs.get(a.name);
      m.set(a.name, def ? normaliseAttr(def, a.value, a, this.quirks) : a.value);
    }
  }

  private indexChoices(): void {
    for (const v of this.raw.valueDescs) {
      if (v.ref.kind === 'signal') this.choicesBySignal.set(`${v.ref.id}:${v.ref.signal}`, v.choices);
      else if (v.ref.kind === 'envvar') this.envChoices.set(v.ref.name, v.choices);
    }
  }

  /** The object's attributes (a map of its own, empty when it has none). */
  private attrsOf(key: string): Map<string, AttrValue> {
    return this.attrsByKey.get(key) ?? new Map<string, AttrValue>();
  }

  private commentOf(key: string): string | null {
    return this.raw.comments.get(key)?.text ?? null;
  }

  private longNode(short: string): string {
    const v = this.attrsOf(`n:${short}`).get('SystemNodeLongSymbol');
    return typeof v === 'string' && v !== '' ? v : short;
  }

  /** An attribute value resolved through its ENUM definition (index → label), or its default. */
  private enumAttr(name: string, attrs: Map<string, AttrValue>): string | null {
    const def = this.raw.attrDefs.get(name);
    const v = attrs.has(name) ? attrs.get(name)! : (def?.defaultValue ?? null);
    if (v === null) return null;
    if (def?.type.kind === 'ENUM' && typeof v === 'number') return def.type.values[v] ?? String(v);
    if (def?.type.kind === 'INT' && name === 'VFrameFormat' && typeof v === 'number') {
      return FRAME_FORMATS[v] ?? String(v);
    }
    return String(v);
  }

  private numAttr(name: string, attrs: Map<string, AttrValue>): number | null {
    const v = attrs.has(name) ? attrs.get(name)! : (this.raw.attrDefs.get(name)?.defaultValue ?? null);
    if (v === null) return null;
    const n = typeof v === 'number' ? v : Number(v);
    return Number.isFinite(n) ? n : null;
  }

  // ---- messages ----------------------------------------------------------------------------------------------

  private buildMessages(): { messages: Message[]; independent: Signal[]; usedKeys: Set<string> } {
    const usedKeys = new Set<string>();
    const messages: Message[] = [];
    const independent: Signal[] = [];
    const seenIds = new Map<string, RawMessage>();
    let globalIndex = 0;
    for (const raw of this.raw.messages) {
      if (raw.name === INDEPENDENT_MSG) {
        for (const s of raw.signals) independent.push(this.buildSignal(raw, s, null, null, -1));
        continue;
      }
      const { id, extended } = this.frameId(raw);
      const idKey = `${extended ? 'x' : 's'}${id}`;
      const dup = seenIds.get(idKey);
      if (dup) {
        this.quirks.report(
          'duplicate_message_id',
          raw.pos,
          `message ${raw.name} has the same id 0x${id.toString(16)} as ${dup.name} (${this.file}:${dup.pos.line}); the later one decodes frames`,
        );
      }
      seenIds.set(idKey, raw);
      const message = this.buildMessage(raw, id, extended, globalIndex, messages.length, usedKeys);
      globalIndex += message.signals.length;
      this.checkLayout(message);
      messages.push(message);
    }
    return { messages, independent, usedKeys };
  }

  /** The frame id and whether it is extended, from BO_'s id (bit 31 = extended), lenient about real files. */
  private frameId(raw: RawMessage): { id: number; extended: boolean } {
    let id = raw.dbcId & 0x7fffffff;
    let extended = raw.dbcId >= 0x80000000;
    if (extended && id > 0x1fffffff) {
      this.quirks.report(
        'id_too_wide',
        raw.pos,
        `message ${raw.name}: extended id 0x${id.toString(16)} is wider than 29 bits; masked`,
      );
      id &= 0x1fffffff;
    } else if (!extended && id > 0x7ff) {
      this.quirks.report(
        'extended_id_without_flag',
        raw.pos,
        `message ${raw.name}: id 0x${id.toString(16)} does not fit 11 bits and lacks the extended flag; read as extended`,
      );
      extended = true;
      if (id > 0x1fffffff) {
        this.quirks.report(
          'id_too_wide',
          raw.pos,
          `message ${raw.name}: id 0x${id.toString(16)} is wider than 29 bits; masked`,
        );
        id &= 0x1fffffff;
      }
    }
    return { id, extended };
  }

  private buildMessage(
    raw: RawMessage,
    id: number,
    extended: boolean,
    firstSignal: number,
    index: number,
    usedKeys: Set<string>,
  ): Message {
    const mk = `m:${raw.dbcId}`;
    usedKeys.add(mk);
    const mattrs = this.attrsOf(mk);
    const frameFormat = this.enumAttr('VFrameFormat', mattrs);
    const longName = mattrs.get('SystemMessageLongSymbol');
    const senders = [this.longNode(raw.sender), ...(this.raw.txNodes.get(raw.dbcId) ?? [])].filter(
      (s, i, a) => s !== 'Vector__XXX' && a.indexOf(s) === i,
    );
    if (raw.sender !== 'Vector__XXX' && this.nodeSet.size > 0 && !this.nodeSet.has(raw.sender)) {
      this.quirks.report('unknown_reference', raw.pos, `message ${raw.name}: sender ${raw.sender} is not in BU_`);
    }
    const signals = this.buildSignals(raw, firstSignal);
    for (const s of raw.signals) usedKeys.add(`s:${raw.dbcId}:${s.name}`);
    const cycle = this.numAttr('GenMsgCycleTime', mattrs);
    return {
      id,
      extended,
      name: typeof longName === 'string' && longName !== '' ? longName : raw.name,
      shortName: raw.name,
      length: raw.length,
      senders,
      signals,
      comment: this.commentOf(mk),
      attributes: mattrs,
      isFd: frameFormat === 'StandardCAN_FD' || frameFormat === 'ExtendedCAN_FD',
      isJ1939: frameFormat === 'J1939PG',
      frameFormat,
      cycleTime: cycle === null || cycle === 0 ? null : cycle,
      sendType: this.enumAttr('GenMsgSendType', mattrs),
      signalGroups: this.raw.sigGroups.filter((g) => g.id === raw.dbcId).map((g) => g.group),
      pos: raw.pos,
      index,
      file: this.file,
    };
  }

  /** CM_, VAL_ and SIG_VALTYPE_ that refer to a message or signal that does not exist. */
  private checkReferences(usedKeys: Set<string>): void {
    const knownMsgIds = new Set(this.raw.messages.map((m) => m.dbcId));
    for (const [key, c] of this.raw.comments) {
      if ((key.startsWith('m:') || key.startsWith('s:')) && !usedKeys.has(key)) {
        const id = Number(key.split(':')[1]);
        if (!knownMsgIds.has(id) || key.startsWith('s:'))
          this.quirks.report(
            'unknown_reference',
            c.pos,
            `CM_ refers to ${key.startsWith('m:') ? 'message' : 'signal'} ${key.slice(2)}, which does not exist`,
          );
      }
    }
    for (const v of this.raw.valueDescs) {
      if (v.ref.kind === 'signal' && !usedKeys.has(`s:${v.ref.id}:${v.ref.signal}`))
        this.quirks.report(
          'unknown_reference',
          v.pos,
          `VAL_ refers to signal ${v.ref.id}:${v.ref.signal}, which does not exist`,
        );
    }
    for (const [key, t] of this.raw.sigTypes) {
      if (!usedKeys.has(`s:${key}`))
        this.quirks.report('unknown_reference', t.pos, `SIG_VALTYPE_ refers to signal ${key}, which does not exist`);
    }
  }

  // ---- signals and multiplexing ------------------------------------------------------------------------------

  /**
   * Multiplexing, as cantools interprets it (see docs/dbc.md in shared docs):
   *  - exactly one M/m<n>M signal: it is the multiplexer of every m<n> signal; values = n plus SG_MUL_VAL_ ranges.
   *  - several: parents and values come only from SG_MUL_VAL_.
   *  - sigflow addition: a bare 'm' (no value) in a message without any M, while other signals are m<n>, is the
   *    multiplexer its author meant (vw_pq Motor_2); reported as a warning. cantools drops those signals.
   */
  private buildSignals(raw: RawMessage, firstIndex: number): Signal[] {
    const mulByName = this.multiplexerRanges(raw);
    const names = new Set<string>();
    for (const s of raw.signals) {
      if (names.has(s.name))
        this.quirks.report('duplicate_signal', s.pos, `message ${raw.name} has two signals named ${s.name}`);
      names.add(s.name);
    }
    const { single, bareAsMuxer } = this.multiplexerOf(raw);

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
        this.quirks.report(
          'unknown_reference',
          s.pos,
          `signal ${s.name} is multiplexed on ${parent}, which is not in ${raw.name}`,
        );
        parent = null;
      }
      out.push(
        this.buildSignal(raw, s, parent, parent ? mergeRanges(values) : null, firstIndex + out.length, isMultiplexer),
      );
    }
    // Multiplexer references use the multiplexer's (long) name, like every other name in the model.
    const longOf = new Map(out.map((x) => [x.shortName, x.name]));
    for (const x of out)
      if (x.multiplexerSignal) x.multiplexerSignal = longOf.get(x.multiplexerSignal) ?? x.multiplexerSignal;
    return out;
  }

  /** SG_MUL_VAL_ of one message: per multiplexed signal, its multiplexer and value ranges. */
  private multiplexerRanges(raw: RawMessage): Map<string, { muxer: string; ranges: MuxRange[] }> {
    const mulByName = new Map<string, { muxer: string; ranges: MuxRange[] }>();
    for (const mv of this.raw.mulVals) {
      if (mv.id !== raw.dbcId) continue;
      const prev = mulByName.get(mv.signal);
      if (prev && prev.muxer === mv.muxer) prev.ranges.push(...mv.ranges);
      else mulByName.set(mv.signal, { muxer: mv.muxer, ranges: [...mv.ranges] });
    }
    return mulByName;
  }

  /** The message's one multiplexer (null when it has none or several), and a bare 'm' read as it. */
  private multiplexerOf(raw: RawMessage): { single: string | null; bareAsMuxer: RawSignal | null } {
    let muxers = raw.signals.filter((s) => s.mux?.endsWith('M'));
    const bare = raw.signals.filter((s) => s.mux === 'm');
    let bareAsMuxer: RawSignal | null = null;
    for (const b of bare) {
      const hasChildren = raw.signals.some((s) => s.mux !== null && /^m\d+$/.test(s.mux));
      if (muxers.length === 0 && bare.length === 1 && hasChildren) {
        bareAsMuxer = b;
        this.quirks.report(
          'bare_multiplexed_marker',
          b.pos,
          `signal ${b.name} is marked 'm' with no value; read as the multiplexer 'M' of ${raw.name}`,
        );
      } else {
        this.quirks.report(
          'bare_multiplexed_marker',
          b.pos,
          `signal ${b.name} is marked 'm' with no value; read as a plain signal`,
        );
      }
    }
    if (bareAsMuxer) muxers = [bareAsMuxer];
    return { single: muxers.length === 1 ? muxers[0].name : null, bareAsMuxer };
  }

  private buildSignal(
    raw: RawMessage,
    s: RawSignal,
    parent: string | null,
    ranges: MuxRange[] | null,
    globalIndex: number,
    isMultiplexer = false,
  ): Signal {
    const key = `${raw.dbcId}:${s.name}`;
    const attrs = this.attrsOf(`s:${key}`);
    const long = attrs.get('SystemSignalLongSymbol');
    const vt = this.raw.sigTypes.get(key)?.type ?? 0;
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
    const choices = this.choicesBySignal.get(key);
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
      comment: this.commentOf(`s:${key}`),
      choices: choices?.length ? choices : null,
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
        this.quirks.report(
          'signal_outside_message',
          s.pos,
          `signal ${s.name} extends beyond the ${m.length}-byte message ${m.name}`,
        );
        continue;
      }
      for (const b of bits) {
        const o = owners[b];
        if (o && mayCoexist(o, s)) {
          this.quirks.report(
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
