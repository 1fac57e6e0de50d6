/**
 * `sigflow dbc inspect` and `sigflow dbc decode`.
 */
import type { Command } from 'commander';
import {
  Database,
  type Diagnostic,
  formatDiagnostic,
  j1939Pgn,
  type Message,
  type Signal,
} from '../codecs/dbc/index.js';
import { SigflowError } from '../errors/index.js';
import {
  decodeFrameLines,
  noFrameDecoded,
  parseTransportChoices,
  type TransportChoice,
} from '../pipelines/logdecode/index.js';
import { describeStats } from '../transport/index.js';
import { ChunkedWriter } from './chunked-writer.js';
import { collect } from './log-args.js';

/** Loads the DBC files; an unreadable or malformed one is the DBC engine's error (SF_ERR_DBC_READ, SF_ERR_DBC_SYNTAX …: exit 2). */
function load(files: string[], strict: boolean): Database {
  const db = Database.load(files, { strict });
  for (const n of db.notes) process.stderr.write(`note: ${n.message}\n`);
  return db;
}

function hexId(m: { id: number; extended: boolean }): string {
  return `0x${m.id
    .toString(16)
    .toUpperCase()
    .padStart(m.extended ? 8 : 3, '0')}`;
}

function printWarnings(warnings: Diagnostic[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${formatDiagnostic(w)}\n`);
}

export function registerDbcCommands(program: Command): void {
  const dbc = program.command('dbc').description('inspect DBC files and decode CAN frames with them');

  dbc
    .command('inspect')
    .description('list messages, ids, lengths, senders and signals (layout, scaling, units, choices, multiplexing)')
    .argument('<files...>', 'DBC files (several are combined; clashing frame ids are an error)')
    .option('--json', 'machine-readable output')
    .option('--strict', 'treat real-world quirks as errors instead of warnings')
    .option('-m, --message <name>', 'only this message (name or id, e.g. 0x123)')
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow dbc inspect vehicle.dbc\n  sigflow dbc inspect vehicle.dbc --message 0x1A0 --json',
    )
    .action(inspectAction);

  dbc
    .command('decode')
    .description(
      'decode NDJSON frame lines (as `sigflow frames` writes them) from stdin: one NDJSON line out per line in',
    )
    .argument('[files...]', 'DBC files (one set: the same rules as --dbc)')
    .option('--dbc <file>', 'DBC file (repeatable; the same as giving it as an argument)', collect, [])
    .option('--strict', 'treat real-world quirks in the DBC as errors')
    .option('--truncated', 'decode the signals that fit in short frames instead of reporting "short"')
    .option('--no-choices', 'do not look up VAL_ labels')
    .option('--j1939', 'match extended frames to J1939 messages by PGN (default: when the DBC has J1939 messages)')
    .option('--no-j1939', 'never match by PGN')
    .option(
      '--transport <choice>',
      'multi-frame messages: auto (when a DBC message is longer than its frame), off, or isotp,j1939,nmea2000',
      'auto',
    )
    .addHelpText(
      'after',
      `
Input lines (the frame lines of \`sigflow frames\`; only id and data are required):
  {"t":"1641469577108050000","device":"2F6913DB","bus":"CAN","chn":1,"id":291,"ext":false,"data":"0a1b2c3d"}
  "ext" defaults to false ("extended" is accepted too); an id above 0x7FF needs "ext":true (input error otherwise).
  t, device, bus and chn are copied to the output line; LIN frames and remote/error events are not decoded.
Output: exactly one line per input line, in order (blank and bad lines included):
  {"t":"…","device":"…","bus":"CAN","chn":1,"id":291,"ext":false,"message":"M","phys":{…},"raw":{…},"choices":{"S":"label"}}
  {…,"id":291,"ext":false,"error":"short"|"mux"|"unknown_id","detail":"…"}
  {…,"id":291,"ext":false,"error":"not_decoded","detail":"a LIN frame …"}
  {"error":"input","detail":"line N: …"}      (blank, not JSON, bad fields, longer than 1 MiB)
Multi-frame messages (ISO-TP, J1939 TP, NMEA 2000 fast packets; --transport): a frame taken into a message is
answered {…,"transport":"part"}; the frame that completes one is answered with the message decoded:
  {…,"id":2028,"ext":false,"transport":{"protocol":"isotp","frames":9,"t_first":"…","length":63},"message":…}
Messages are kept apart per device and chn; t (when given) times out incomplete ones.
Names: "message" as in \`sigflow decode\` (<name>#0x<id> when the DBC file repeats a name); a signal whose name
its message repeats is "<name>#<n>" (2nd, 3rd …), so every value has its own key.
Integers beyond 2^53 are decimal strings; NaN and infinities are "NaN", "Infinity", "-Infinity".
A summary goes to stderr. Exit status: 0 when at least one line decoded, or no line was bad; 1 when no line
decoded and at least one line was bad input; 2 for bad arguments or DBC files.

Examples:
  echo '{"id":291,"ext":false,"data":"0102030405060708"}' | sigflow dbc decode --dbc vehicle.dbc
  sigflow frames LOG/ | sigflow dbc decode --dbc vehicle.dbc`,
    )
    .action(decodeAction);
}

async function inspectAction(
  files: string[],
  opts: { json?: boolean; strict?: boolean; message?: string },
): Promise<void> {
  const db = load(files, opts.strict ?? false);
  let messages = db.messages;
  if (opts.message) {
    const want = opts.message;
    const id = /^(0x[0-9a-f]+|\d+)$/i.test(want) ? Number(want) : null;
    messages = messages.filter((m) => m.name === want || m.shortName === want || m.id === id);
    if (messages.length === 0) {
      throw new SigflowError('SF_ERR_DBC_UNKNOWN_MESSAGE', `no message ${want} in ${files.join(', ')}`, {
        where: files.join(', '),
      });
    }
  }
  // streamed message by message (a 50 MB DBC made one string too long for JSON.stringify and GBs of memory)
  const w = new ChunkedWriter(process.stdout);
  for (const part of opts.json ? inspectJsonParts(db, messages) : inspectTextLines(db, messages)) {
    w.push(part);
    if (w.full) await w.flush();
  }
  await w.flush();
  printWarnings(db.warnings);
}

async function decodeAction(
  files: string[],
  opts: { dbc: string[]; strict?: boolean; truncated?: boolean; choices: boolean; j1939?: boolean; transport: string },
): Promise<void> {
  const all = [...files, ...opts.dbc];
  if (all.length === 0) throw new SigflowError('SF_ERR_USAGE', 'dbc decode needs a DBC file (--dbc file.dbc)');
  const db = load(all, opts.strict ?? false);
  printWarnings(db.warnings);
  const stats = await decodeFrameLines(db, process.stdin, process.stdout, {
    truncated: opts.truncated ?? false,
    choices: opts.choices,
    j1939: opts.j1939,
    transport: transportChoice(opts.transport),
  });
  for (const n of stats.transportNotes) process.stderr.write(`note: ${n}\n`);
  for (const t of stats.transport)
    process.stderr.write(`sigflow dbc decode: reassembled ${describeStats(t.protocol, t.stats)}\n`);
  const parts = Object.entries(stats)
    .filter(([k, v]) => k !== 'lines' && typeof v === 'number' && v > 0)
    .map(([k, v]) => `${k} ${v}`);
  process.stderr.write(`sigflow dbc decode: ${stats.lines} line(s): ${parts.join(', ') || 'no input'}\n`);
  const err = noFrameDecoded(stats);
  if (err) throw err;
}

/** dbc decode's one --transport choice (no per-channel form: the frames come from anywhere). */
function transportChoice(text: string): TransportChoice {
  const c = parseTransportChoices([text]);
  if (c.perChannel.size > 0)
    throw new SigflowError('SF_ERR_USAGE', `--transport ${text}: dbc decode takes one choice for all frames`);
  return c.global;
}

// ---- inspect ------------------------------------------------------------------------------------------------

function choiceList(s: Signal): string {
  if (!s.choices) return '';
  const shown = s.choices.slice(0, 6).map((c) => `${c.value}=${JSON.stringify(c.label)}`);
  return `{${shown.join(', ')}${s.choices.length > 6 ? `, … ${s.choices.length - 6} more` : ''}}`;
}

function muxText(s: Signal): string {
  const parts: string[] = [];
  if (s.isMultiplexer) parts.push('multiplexer');
  if (s.multiplexerSignal) {
    const r = (s.multiplexerRanges ?? []).map((x) => (x.lo === x.hi ? `${x.lo}` : `${x.lo}-${x.hi}`)).join(',');
    parts.push(`when ${s.multiplexerSignal} ∈ {${r}}`);
  }
  return parts.join(', ');
}

/** The text listing, one line (with its newline) at a time. */
function* inspectTextLines(db: Database, messages: Message[]): Generator<string> {
  for (const f of db.files) {
    const sigs = f.messages.reduce((a, m) => a + m.signals.length, 0);
    yield `${f.file}: ${f.messages.length} messages, ${sigs} signals, ${f.nodes.length} nodes, ${f.warnings.length} warnings (${f.encoding})\n`;
  }
  for (const m of messages) {
    const flags = [
      m.extended ? 'extended' : 'standard',
      m.isFd ? 'CAN FD' : '',
      m.isJ1939 ? `J1939 PGN 0x${j1939Pgn(m.id).toString(16).toUpperCase()}` : '',
      m.cycleTime ? `cycle ${m.cycleTime} ms` : '',
      m.sendType ? `send ${m.sendType}` : '',
    ].filter(Boolean);
    yield '\n';
    yield `${hexId(m)} (${m.id}) ${m.name}  ${m.length} bytes  sender ${m.senders.join(',') || '-'}  [${flags.join(', ')}]\n`;
    if (m.comment) yield `  "${m.comment.replace(/\s+/g, ' ').slice(0, 100)}"\n`;
    for (const s of m.signals) {
      const type = s.valueType === 'int' ? (s.signed ? 'signed' : 'unsigned') : s.valueType;
      const scale = `(${s.factor},${s.offset}) [${s.minimum}|${s.maximum}]`;
      const extra = [muxText(s), choiceList(s)].filter(Boolean).join('  ');
      yield `  ${s.name.padEnd(28)} ${String(s.startBit).padStart(3)}|${String(s.length).padEnd(2)} ${s.byteOrder === 'little_endian' ? 'LE' : 'BE'} ${type.padEnd(8)} ${scale} ${JSON.stringify(s.unit)}${extra ? `  ${extra}` : ''}\n`;
    }
  }
}

/**
 * The JSON document `{"files": […], "messages": […]}` (2-space indentation, as JSON.stringify(doc, null, 2)
 * writes it), one array element at a time.
 */
function* inspectJsonParts(db: Database, messages: Message[]): Generator<string> {
  yield '{\n';
  yield* jsonArrayParts('files', db.files, fileJson, false);
  yield* jsonArrayParts('messages', messages, messageJson, true);
  yield '}\n';
}

/** `  "key": [` + each element indented by 4 + `  ]`, exactly as inside JSON.stringify(…, null, 2). */
function* jsonArrayParts<T>(
  key: string,
  items: readonly T[],
  map: (t: T) => unknown,
  last: boolean,
): Generator<string> {
  const end = last ? '' : ',';
  if (items.length === 0) {
    yield `  ${JSON.stringify(key)}: []${end}\n`;
    return;
  }
  yield `  ${JSON.stringify(key)}: [\n`;
  for (let i = 0; i < items.length; i++) {
    const text = JSON.stringify(map(items[i]), null, 2).replace(/\n/g, '\n    ');
    yield `    ${text}${i < items.length - 1 ? ',' : ''}\n`;
  }
  yield `  ]${end}\n`;
}

function fileJson(f: Database['files'][number]) {
  return {
    file: f.file,
    encoding: f.encoding,
    version: f.version,
    nodes: f.nodes.map((n) => n.name),
    messages: f.messages.length,
    signals: f.messages.reduce((a, m) => a + m.signals.length, 0),
    value_tables: f.valueTables.map((t) => ({
      name: t.name,
      choices: t.choices.map((c) => [String(c.value), c.label]),
    })),
    warnings: f.warnings,
  };
}

function messageJson(m: Message) {
  return {
    id: m.id,
    id_hex: hexId(m),
    extended: m.extended,
    name: m.name,
    length: m.length,
    senders: m.senders,
    fd: m.isFd,
    j1939: m.isJ1939 ? { pgn: j1939Pgn(m.id) } : null,
    cycle_time_ms: m.cycleTime,
    send_type: m.sendType,
    comment: m.comment,
    attributes: Object.fromEntries(m.attributes),
    signals: m.signals.map((s) => ({
      name: s.name,
      start_bit: s.startBit,
      length: s.length,
      byte_order: s.byteOrder,
      signed: s.signed,
      type: s.valueType,
      factor: s.factor,
      offset: s.offset,
      minimum: s.minimum,
      maximum: s.maximum,
      unit: s.unit,
      receivers: s.receivers,
      comment: s.comment,
      choices: s.choices?.map((c) => [String(c.value), c.label]) ?? null,
      multiplexer: s.isMultiplexer,
      multiplexed_on: s.multiplexerSignal,
      multiplexer_values: s.multiplexerRanges,
      start_value: s.startValue,
      attributes: Object.fromEntries(s.attributes),
    })),
  };
}
