/**
 * DBC writer: DbcFile → text that parseDbc reads back to the same messages, signals, comments, choices,
 * attributes, value types and multiplexing. Used to normalise files and by the round-trip property tests.
 * Extended multiplexing is written as SG_MUL_VAL_ whenever a message has more than one multiplexer or a signal is
 * active for more than one value.
 */
import type { AttributeDefinition, AttrValue, DbcFile, Message, Signal } from './model.js';

function str(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function num(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const s = String(x);
  return s.startsWith('.') ? `0${s}` : s.startsWith('-.') ? `-0${s.slice(1)}` : s;
}

function dbcId(m: Message): number {
  return m.extended ? m.id + 0x80000000 : m.id;
}

function attrValue(v: AttrValue): string {
  return typeof v === 'number' ? num(v) : str(v);
}

function attrDef(d: AttributeDefinition): string {
  const kinds: Record<string, string> = { database: '', node: 'BU_ ', message: 'BO_ ', signal: 'SG_ ', envvar: 'EV_ ' };
  const rel = d.objectKind.endsWith('_REL_');
  const kind = rel ? `${d.objectKind} ` : kinds[d.objectKind];
  const t = d.type;
  const type =
    t.kind === 'ENUM'
      ? `ENUM ${t.values.map(str).join(',')}`
      : t.kind === 'STRING'
        ? 'STRING'
        : `${t.kind} ${num(t.min)} ${num(t.max)}`;
  return `${rel ? 'BA_DEF_REL_' : 'BA_DEF_'} ${kind}${str(d.name)} ${type};`;
}

function needsExtendedMux(m: Message): boolean {
  const muxers = m.signals.filter((s) => s.isMultiplexer).length;
  return (
    muxers > 1 ||
    m.signals.some(
      (s) =>
        s.multiplexerRanges &&
        (s.multiplexerRanges.length > 1 || s.multiplexerRanges[0].lo !== s.multiplexerRanges[0].hi),
    )
  );
}

function muxMarker(s: Signal, extended: boolean): string {
  const r = s.multiplexerRanges?.[0];
  if (s.multiplexerSignal && r) return s.isMultiplexer ? ` m${r.lo}M` : ` m${r.lo}`;
  if (s.isMultiplexer) return ' M';
  void extended;
  return '';
}

export function writeDbc(f: DbcFile): string {
  const out: string[] = [];
  out.push(`VERSION ${str(f.version ?? '')}`, '', 'NS_ :');
  for (const s of f.newSymbols) out.push(`\t${s}`);
  out.push('', 'BS_:', '', `BU_: ${f.nodes.map((n) => n.shortName).join(' ')}`, '');
  for (const t of f.valueTables) {
    out.push(`VAL_TABLE_ ${t.name} ${t.choices.map((c) => `${c.value} ${str(c.label)}`).join(' ')} ;`);
  }
  for (const m of f.messages) {
    out.push('', `BO_ ${dbcId(m)} ${m.shortName}: ${m.length} ${m.senders[0] ?? 'Vector__XXX'}`);
    const ext = needsExtendedMux(m);
    for (const s of m.signals) {
      out.push(
        ` SG_ ${s.shortName}${muxMarker(s, ext)} : ${s.startBit}|${s.length}@${s.byteOrder === 'little_endian' ? 1 : 0}${s.signed ? '-' : '+'} (${num(s.factor)},${num(s.offset)}) [${num(s.minimum)}|${num(s.maximum)}] ${str(s.unit)} ${s.receivers.join(',') || 'Vector__XXX'}`,
      );
    }
  }
  out.push('');
  for (const m of f.messages) {
    if (m.senders.length > 1) out.push(`BO_TX_BU_ ${dbcId(m)} : ${m.senders.join(',')};`);
  }
  if (f.comment !== null) out.push(`CM_ ${str(f.comment)};`);
  for (const n of f.nodes) if (n.comment !== null) out.push(`CM_ BU_ ${n.shortName} ${str(n.comment)};`);
  for (const m of f.messages) {
    if (m.comment !== null) out.push(`CM_ BO_ ${dbcId(m)} ${str(m.comment)};`);
    for (const s of m.signals)
      if (s.comment !== null) out.push(`CM_ SG_ ${dbcId(m)} ${s.shortName} ${str(s.comment)};`);
  }
  for (const d of f.attributeDefinitions.values()) out.push(attrDef(d));
  for (const d of f.attributeDefinitions.values()) {
    if (d.defaultValue !== null)
      out.push(
        `${d.objectKind.endsWith('_REL_') ? 'BA_DEF_DEF_REL_' : 'BA_DEF_DEF_'} ${str(d.name)} ${attrValue(d.defaultValue)};`,
      );
  }
  for (const [k, v] of f.attributes) out.push(`BA_ ${str(k)} ${attrValue(v)};`);
  for (const n of f.nodes)
    for (const [k, v] of n.attributes) out.push(`BA_ ${str(k)} BU_ ${n.shortName} ${attrValue(v)};`);
  for (const m of f.messages) {
    for (const [k, v] of m.attributes) out.push(`BA_ ${str(k)} BO_ ${dbcId(m)} ${attrValue(v)};`);
    for (const s of m.signals)
      for (const [k, v] of s.attributes) out.push(`BA_ ${str(k)} SG_ ${dbcId(m)} ${s.shortName} ${attrValue(v)};`);
  }
  for (const r of f.relationAttributes) {
    const target =
      r.kind === 'BU_SG_REL_'
        ? `SG_ ${r.messageId} ${r.signal}`
        : r.kind === 'BU_BO_REL_'
          ? `${r.messageId}`
          : `${r.envVar}`;
    out.push(`BA_REL_ ${str(r.name)} ${r.kind} ${r.node} ${target} ${attrValue(r.value)};`);
  }
  for (const m of f.messages) {
    for (const s of m.signals) {
      if (s.choices)
        out.push(`VAL_ ${dbcId(m)} ${s.shortName} ${s.choices.map((c) => `${c.value} ${str(c.label)}`).join(' ')} ;`);
    }
  }
  for (const m of f.messages) {
    for (const s of m.signals) {
      if (s.valueType !== 'int')
        out.push(`SIG_VALTYPE_ ${dbcId(m)} ${s.shortName} : ${s.valueType === 'float32' ? 1 : 2};`);
    }
  }
  for (const m of f.messages) {
    for (const g of m.signalGroups)
      out.push(`SIG_GROUP_ ${dbcId(m)} ${g.name} ${g.repetitions} : ${g.signals.join(' ')};`);
  }
  for (const m of f.messages) {
    if (!needsExtendedMux(m)) continue;
    for (const s of m.signals) {
      if (!s.multiplexerSignal || !s.multiplexerRanges) continue;
      const muxer = m.signals.find((x) => x.name === s.multiplexerSignal)?.shortName ?? s.multiplexerSignal;
      out.push(
        `SG_MUL_VAL_ ${dbcId(m)} ${s.shortName} ${muxer} ${s.multiplexerRanges.map((r) => `${r.lo}-${r.hi}`).join(', ')};`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}
