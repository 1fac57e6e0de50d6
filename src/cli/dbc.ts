/**
 * `sigflow dbc inspect` and `sigflow dbc decode`.
 */
import type { Command } from 'commander';
import {
  Database,
  type DecodedValue,
  type Diagnostic,
  type FrameResult,
  formatDiagnostic,
  j1939Pgn,
  type Message,
  type Signal,
} from '../codecs/dbc/index.js';
import { SigflowError } from '../errors/index.js';
import { ChunkedWriter, readLines } from './lines.js';

/** Loads the DBC files; an unreadable or malformed one is the DBC engine's error (SF_ERR_DBC_READ, SF_ERR_DBC_SYNTAX …: exit 2). */
function load(files: string[], strict: boolean): Database {
  return Database.load(files, { strict });
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
    .description('decode NDJSON frames from stdin, one NDJSON result per input line on stdout')
    .argument('<files...>', 'DBC files (several are combined)')
    .option('--strict', 'treat real-world quirks in the DBC as errors')
    .option('--truncated', 'decode the signals that fit in short frames instead of reporting "short"')
    .option('--no-choices', 'do not look up VAL_ labels')
    .option('--j1939', 'match extended frames to J1939 messages by PGN (ignoring priority and source address)')
    .addHelpText(
      'after',
      `
Input lines:   {"id":291,"extended":false,"data":"0a1b2c3d"}
Output lines:  {"id":291,"extended":false,"message":"M","phys":{…},"raw":{…},"choices":{"S":"label"}}
           or  {"id":291,"extended":false,"error":"short"|"mux"|"unknown_id","detail":"…"}
Integers beyond 2^53 are decimal strings; NaN and infinities are "NaN", "Infinity", "-Infinity".
A line that is not a valid frame gives {"error":"input","detail":"line N: …"}; a summary goes to stderr.

Example:
  echo '{"id":291,"extended":false,"data":"0102030405060708"}' | sigflow dbc decode vehicle.dbc`,
    )
    .action(decodeAction);
}

function inspectAction(files: string[], opts: { json?: boolean; strict?: boolean; message?: string }): void {
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
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(inspectJson(db, messages), null, 2)}\n`);
  } else {
    process.stdout.write(inspectText(db, messages));
  }
  printWarnings(db.warnings);
}

async function decodeAction(
  files: string[],
  opts: { strict?: boolean; truncated?: boolean; choices: boolean; j1939?: boolean },
): Promise<void> {
  const db = load(files, opts.strict ?? false);
  printWarnings(db.warnings);
  const stats = await decodeStream(db, process.stdin, process.stdout, {
    truncated: opts.truncated ?? false,
    choices: opts.choices,
    j1939: opts.j1939 ?? false,
  });
  const parts = Object.entries(stats)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`);
  process.stderr.write(`sigflow dbc decode: ${parts.join(', ') || 'no input'}\n`);
}

// ---- decode -------------------------------------------------------------------------------------------------

export interface DecodeStats {
  frames: number;
  decoded: number;
  truncated: number;
  unknown_id: number;
  short: number;
  mux: number;
  bad_input: number;
}

function jsonValue(v: DecodedValue, wide: boolean): string {
  if (typeof v === 'bigint') return `"${v}"`;
  if (Number.isNaN(v)) return '"NaN"';
  if (v === Number.POSITIVE_INFINITY) return '"Infinity"';
  if (v === Number.NEGATIVE_INFINITY) return '"-Infinity"';
  if (wide && Number.isInteger(v)) return `"${BigInt(v)}"`;
  if (Object.is(v, -0)) return '-0.0';
  return JSON.stringify(v);
}

function resultLine(db: Database, id: number, ext: boolean, r: FrameResult, truncated: boolean): string {
  const head = `{"id":${id},"extended":${ext}`;
  if (!r.ok) return `${head},"error":"${r.error}","detail":${JSON.stringify(r.detail)}}`;
  let phys = '';
  let raw = '';
  let choices = '';
  for (const s of r.message.signals) {
    if (!(s.name in r.phys)) continue;
    const key = JSON.stringify(s.name);
    const wide = db.wide[s.globalIndex];
    phys += `${phys ? ',' : ''}${key}:${jsonValue(r.phys[s.name], wide)}`;
    raw += `${raw ? ',' : ''}${key}:${jsonValue(r.raw[s.name], wide)}`;
    const c = r.choices[s.name];
    if (c !== undefined) choices += `${choices ? ',' : ''}${key}:${JSON.stringify(c)}`;
  }
  return `${head},"message":${JSON.stringify(r.message.name)},"phys":{${phys}},"raw":{${raw}},"choices":{${choices}}${truncated ? ',"truncated":true' : ''}}`;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export async function decodeStream(
  db: Database,
  input: NodeJS.ReadableStream & AsyncIterable<unknown>,
  output: NodeJS.WritableStream,
  opts: { truncated: boolean; choices: boolean; j1939: boolean },
): Promise<DecodeStats> {
  const stats: DecodeStats = { frames: 0, decoded: 0, truncated: 0, unknown_id: 0, short: 0, mux: 0, bad_input: 0 };
  const out = new ChunkedWriter(output as never);
  let lineNo = 0;
  for await (const lines of readLines(input as never)) {
    for (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let f: { id?: unknown; extended?: unknown; data?: unknown };
      try {
        f = JSON.parse(line);
      } catch (e) {
        stats.bad_input++;
        out.push(
          `{"error":"input","detail":${JSON.stringify(`line ${lineNo}: not JSON (${(e as Error).message})`)}}\n`,
        );
        continue;
      }
      const id = f?.id;
      const data = f?.data;
      const ext = f?.extended ?? false;
      const problem =
        typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x1fffffff
          ? 'id must be an integer 0..0x1FFFFFFF'
          : typeof ext !== 'boolean'
            ? 'extended must be true or false'
            : typeof data !== 'string' || !HEX.test(data) || data.length > 128
              ? 'data must be hex, at most 64 bytes'
              : null;
      if (problem) {
        stats.bad_input++;
        out.push(`{"error":"input","detail":${JSON.stringify(`line ${lineNo}: ${problem}`)}}\n`);
        continue;
      }
      stats.frames++;
      const bytes = Buffer.from(data as string, 'hex');
      let r = db.decodeFrame(id as number, ext as boolean, bytes, { choices: opts.choices, j1939: opts.j1939 });
      let wasTruncated = false;
      if (!r.ok && r.error === 'short' && opts.truncated && r.message) {
        r = db.decodeMessage(r.message, bytes, { choices: opts.choices, truncated: true });
        wasTruncated = r.ok;
      }
      if (r.ok) stats[wasTruncated ? 'truncated' : 'decoded']++;
      else stats[r.error]++;
      out.push(`${resultLine(db, id as number, ext as boolean, r, wasTruncated)}\n`);
    }
    if (out.full) await out.flush();
  }
  await out.flush();
  return stats;
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

function inspectText(db: Database, messages: Message[]): string {
  const out: string[] = [];
  for (const f of db.files) {
    const sigs = f.messages.reduce((a, m) => a + m.signals.length, 0);
    out.push(
      `${f.file}: ${f.messages.length} messages, ${sigs} signals, ${f.nodes.length} nodes, ${f.warnings.length} warnings (${f.encoding})`,
    );
  }
  for (const m of messages) {
    const flags = [
      m.extended ? 'extended' : 'standard',
      m.isFd ? 'CAN FD' : '',
      m.isJ1939 ? `J1939 PGN 0x${j1939Pgn(m.id).toString(16).toUpperCase()}` : '',
      m.cycleTime ? `cycle ${m.cycleTime} ms` : '',
      m.sendType ? `send ${m.sendType}` : '',
    ].filter(Boolean);
    out.push('');
    out.push(
      `${hexId(m)} (${m.id}) ${m.name}  ${m.length} bytes  sender ${m.senders.join(',') || '-'}  [${flags.join(', ')}]`,
    );
    if (m.comment) out.push(`  "${m.comment.replace(/\s+/g, ' ').slice(0, 100)}"`);
    for (const s of m.signals) {
      const type = s.valueType === 'int' ? (s.signed ? 'signed' : 'unsigned') : s.valueType;
      const scale = `(${s.factor},${s.offset}) [${s.minimum}|${s.maximum}]`;
      const extra = [muxText(s), choiceList(s)].filter(Boolean).join('  ');
      out.push(
        `  ${s.name.padEnd(28)} ${String(s.startBit).padStart(3)}|${String(s.length).padEnd(2)} ${s.byteOrder === 'little_endian' ? 'LE' : 'BE'} ${type.padEnd(8)} ${scale} ${JSON.stringify(s.unit)}${extra ? `  ${extra}` : ''}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

function inspectJson(db: Database, messages: Message[]) {
  return {
    files: db.files.map((f) => ({
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
    })),
    messages: messages.map((m) => ({
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
    })),
  };
}
