/**
 * The DBC side of the pipeline: which databases decode which bus channel, how decoded values are named, and the
 * signal filter — all resolved once, before any frame is read, into flat per-signal arrays for the hot loop.
 *
 * Several DBC files: the files of a set (`--dbc …`, or the files of one `--channel CAN<n>=…`) are combined into one
 * `Database` by the DBC engine's one loading rule (`Database.load`, shared with `dbc inspect` / `dbc decode`): a
 * file with the same contents as an earlier one is loaded once (a note), two files defining one frame id or one
 * message name are refused (SF_ERR_DBC_ID_CLASH / SF_ERR_DBC_NAME_CLASH). J1939 PGN matching is on for a set when
 * any of its messages is J1939 (`VFrameFormat` J1939PG): an extended frame with no exact-id message is matched by
 * PGN and the source address is reported.
 *
 * Naming: a value's `message` is a function of the message and its own file only (`Database.messageKey`): the DBC
 * name, or `<name>#0x<id>` when its file defines that name more than once (gnss.dbc: `gnss_pos#0x13`); a signal
 * whose name its message repeats is `<name>#<n>` (`Database.signalKey`). Wide-CSV columns are
 * `<message>.<signal>`.
 */
import { resolve } from 'node:path';
import { Database, type LoadNote } from '../../codecs/dbc/index.js';
import { SigflowError } from '../../errors/index.js';
import { csvField } from './output/format.js';
import { BatchReassembly, parseTransportChoices, type TransportChoices } from './transport.js';

/** One loaded database plus the precomputed naming/filter arrays the hot loop indexes by global signal index. */
export interface DecodeDb {
  db: Database;
  files: string[];
  /** Match extended frames by J1939 PGN when no exact id matches. */
  j1939: boolean;
  /** Per message index: the (qualified) message name. */
  messageName: string[];
  /** Per message index: is J1939. */
  messageJ1939: boolean[];
  /** Per global signal index: 1 = emitted (passes --signals). */
  include: Uint8Array;
  /** Per global signal index: `<message>.<signal>`. */
  column: string[];
  /** Per global signal index: the signal's output name (`Database.signalKey`). */
  signalName: string[];
  /** Per global signal index: wide (bigint) values. */
  wide: boolean[];
  /** Per global signal index: a JSON prefix `"message":"…","signal":"…","value":` for NDJSON. */
  jsonPrefix: string[];
  /** Per global signal index: a CSV fragment `message,signal,` for long CSV. */
  csvPrefix: string[];
  /** Per global signal index: has VAL_ choices. */
  hasChoices: boolean[];
}

export interface ChannelSpec {
  /** Bus name as written (CAN) and channel number. */
  bus: 'CAN';
  channel: number;
  file: string;
}

/** The whole DBC configuration: the global set and per-channel sets (`--channel CAN2=b.dbc`). */
export interface DecoderConfig {
  /** All databases, each once. */
  databases: DecodeDb[];
  /** Database indexes (into `databases`) of the global set. */
  global: number[];
  /** CAN channel number → database indexes of its set (channels absent here use `global`). */
  perChannel: Map<number, number[]>;
  /** Transport-protocol reassembly for every channel and per channel (`--transport`; default auto). */
  transport: TransportChoices;
  /** Worth saying before decoding: files loaded once (same contents), files that define nothing, reassembly on. */
  notes: LoadNote[];
}

/** Parses `CAN2=b.dbc` (SF_ERR_LOGDECODE_CHANNEL_SPEC when it is not of that form). */
export function parseChannelSpec(s: string): ChannelSpec {
  const bad = (why: string) =>
    new SigflowError('SF_ERR_LOGDECODE_CHANNEL_SPEC', `--channel "${s}": ${why}`, { where: '--channel' });
  const m = /^CAN(\d{1,3})=(.+)$/i.exec(s.trim());
  if (!m) throw bad('expected CAN<n>=<file.dbc>, e.g. CAN2=powertrain.dbc');
  const channel = Number(m[1]);
  if (channel < 1 || channel > 255) throw bad('channel must be 1…255');
  return { bus: 'CAN', channel, file: m[2] };
}

function jsonString(s: string): string {
  return JSON.stringify(s);
}

export interface BuildOptions {
  /** Global DBC files (--dbc). */
  dbc: string[];
  /** Per-channel DBC files (--channel CAN2=b.dbc). */
  channels?: ChannelSpec[];
  /** Keep only signals whose `message.signal` or `signal` matches. */
  signals?: RegExp;
  /** Transport-protocol reassembly (default: auto for every channel). */
  transport?: TransportChoices;
}

/**
 * Loads the DBC sets (one Database per distinct set; channels with the same file list share theirs). Refused, as
 * usage errors naming the files: a set whose files define no signal at all (SF_ERR_LOGDECODE_EMPTY_DBC), a
 * `--signals` pattern that matches no signal of any set (SF_ERR_LOGDECODE_SIGNALS_UNMATCHED), and the DBC
 * engine's errors (unreadable, syntax, id or name clash).
 */
export function buildDecoderConfig(opts: BuildOptions): DecoderConfig {
  if (opts.dbc.length === 0 && (opts.channels ?? []).length === 0) {
    throw new SigflowError(
      'SF_ERR_LOGDECODE_NO_DBC',
      'no DBC file given (use --dbc file.dbc, or --channel CAN<n>=file.dbc)',
    );
  }
  const { sets, global, perChannel } = loadSets(opts);
  const notes: LoadNote[] = [];
  for (const set of sets) {
    notes.push(...set.db.notes);
    const empty = set.db.files.filter((f) => f.messages.every((m) => m.signals.length === 0));
    if (empty.length === set.db.files.length) {
      throw new SigflowError(
        'SF_ERR_LOGDECODE_EMPTY_DBC',
        `${set.files.join(', ')}: ${set.files.length > 1 ? 'these DBC files define' : 'the DBC file defines'} no messages with signals: nothing could be decoded`,
        { where: set.files.join(', ') },
      );
    }
    for (const f of empty)
      notes.push({
        code: 'SF_WARN_LOGDECODE_EMPTY_DBC',
        message: `${f.file} defines no messages with signals: it decodes nothing`,
      });
  }
  const databases = sets.map((set) => decodeDb(set, opts.signals));
  if (opts.signals && databases.every((d) => !d.include.includes(1))) {
    const names = databases.flatMap((d) => d.column);
    throw new SigflowError(
      'SF_ERR_LOGDECODE_SIGNALS_UNMATCHED',
      `--signals ${JSON.stringify(opts.signals.source)} matches no signal of the DBC files (${names.length} signals, e.g. ${names.slice(0, 5).join(', ')})`,
      { where: '--signals' },
    );
  }
  const transport = opts.transport ?? { global: 'auto', perChannel: new Map() };
  for (const message of BatchReassembly.forConfig({ databases, global, perChannel, transport })?.notes ?? [])
    notes.push({ code: 'SF_WARN_LOGDECODE_TRANSPORT', message });
  return { databases, global, perChannel, transport, notes };
}

type DbcSet = { db: Database; files: string[] };

/** The databases of the global set and of each channel's set, each once (identical sets share theirs). */
function loadSets(opts: BuildOptions): { sets: DbcSet[]; global: number[]; perChannel: Map<number, number[]> } {
  const sets: DbcSet[] = [];
  const byKey = new Map<string, number>();
  const setOf = (files: string[]): number => {
    const key = files.map((f) => resolve(f)).join('\n');
    let idx = byKey.get(key);
    if (idx === undefined) {
      // parsed per set: a Database numbers the messages and signals it holds, so sets never share parsed files
      sets.push({ db: Database.load(files), files });
      idx = sets.length - 1;
      byKey.set(key, idx);
    }
    return idx;
  };
  const global = opts.dbc.length > 0 ? [setOf(opts.dbc)] : [];
  const byChannel = new Map<number, string[]>();
  for (const c of opts.channels ?? []) {
    const list = byChannel.get(c.channel) ?? [];
    list.push(c.file);
    byChannel.set(c.channel, list);
  }
  const perChannel = new Map<number, number[]>();
  for (const [chn, files] of byChannel) perChannel.set(chn, [setOf(files)]);
  return { sets, global, perChannel };
}

/** One database with the per-signal arrays the hot loops index (names, filter, output prefixes). */
function decodeDb({ db, files }: DbcSet, signals: RegExp | undefined): DecodeDb {
  const messageName = db.messageKey.slice();
  const n = db.signals.length;
  const include = new Uint8Array(n);
  const column: string[] = new Array(n);
  const signalName: string[] = new Array(n);
  const jsonPrefix: string[] = new Array(n);
  const csvPrefix: string[] = new Array(n);
  const hasChoices: boolean[] = new Array(n);
  for (let gi = 0; gi < n; gi++) {
    const s = db.signals[gi];
    const m = db.signalMessage[gi];
    const mn = messageName[m.index];
    const sn = db.signalKey[gi];
    signalName[gi] = sn;
    column[gi] = `${mn}.${sn}`;
    include[gi] =
      !signals ||
      signals.test(column[gi]) ||
      signals.test(`${m.name}.${s.name}`) ||
      signals.test(sn) ||
      signals.test(s.name)
        ? 1
        : 0;
    jsonPrefix[gi] = `"message":${jsonString(mn)},"signal":${jsonString(sn)},"value":`;
    csvPrefix[gi] = `${csvField(mn)},${csvField(sn)},`;
    hasChoices[gi] = s.choices !== null && s.choices.length > 0;
  }
  return {
    db,
    files,
    j1939: db.messages.some((m) => m.isJ1939),
    messageName,
    messageJ1939: db.messages.map((m) => m.isJ1939),
    include,
    column,
    signalName,
    wide: db.wide.slice(),
    jsonPrefix,
    csvPrefix,
    hasChoices,
  };
}

/** Parses --signals; a bad pattern is SF_ERR_LOGDECODE_SIGNAL_FILTER naming it. */
export function parseSignalFilter(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    const why = (e as Error).message;
    throw new SigflowError(
      'SF_ERR_LOGDECODE_SIGNAL_FILTER',
      `--signals "${pattern}": not a valid regular expression (${why})`,
      {
        where: '--signals',
      },
    );
  }
}

/** What to decode with, as written on the command line or in a config file. */
export interface DecoderSpec {
  /** DBC files for every CAN channel. */
  dbc: string[];
  /** Per-channel DBC files, `CAN<n>=<file.dbc>`. */
  channel: string[];
  /** Keep only signals whose `message.signal` or `signal` matches this regular expression. */
  signals?: string;
  /** Transport-protocol reassembly: auto (default), off, isotp,j1939,nmea2000 — each optionally `CAN<n>=…`. */
  transport?: string[];
}

/** The decoder configuration of a spec; its problems are usage errors (exit 2) naming the file or option. */
export function decoderConfigFrom(spec: DecoderSpec): DecoderConfig {
  return buildDecoderConfig({
    dbc: spec.dbc,
    channels: spec.channel.map(parseChannelSpec),
    signals: spec.signals !== undefined ? parseSignalFilter(spec.signals) : undefined,
    transport: parseTransportChoices(spec.transport ?? []),
  });
}
