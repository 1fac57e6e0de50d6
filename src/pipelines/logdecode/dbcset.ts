/**
 * The DBC side of the pipeline: which databases decode which bus channel, how decoded values are named, and the
 * signal filter — all resolved once, before any frame is read, into flat per-signal arrays for the hot loop.
 *
 * Several DBC files: files are combined into one `Database` as long as their frame ids do not clash; a file whose
 * ids clash with every group so far starts a new group (greedy, in argument order). Every group decodes every
 * frame of the channels it serves, so a frame defined in two clashing files yields values from both (as asammdf
 * does with several DBCs). J1939 PGN matching is on for a group when any of its messages is J1939
 * (`VFrameFormat` J1939PG): an extended frame with no exact-id message is matched by PGN and the source address
 * is reported.
 *
 * Naming: `message` is the DBC message name; when two different loaded messages share a name, the one from a
 * different file is qualified with its DBC file stem (`gnss:gnss_status`), and two in the same file with their id
 * (`gnss_pos#0x13`). Wide-CSV columns are `<message>.<signal>` with that qualified message name.
 */
import { readFileSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { Database, type DbcFile, decodeDbcBytes, type Message, parseDbc } from '../../codecs/dbc/index.js';
import { SigflowError } from '../../errors/index.js';
import { csvField } from './output/format.js';

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

function loadFile(path: string): DbcFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new SigflowError('SF_ERR_DBC_READ', `cannot read DBC file ${path}: ${why}`, { where: path, cause: e });
  }
  // a syntax error is the DBC engine's SigflowError, naming file:line:column
  const { text, encoding } = decodeDbcBytes(bytes);
  const file = parseDbc(text, { file: path });
  file.encoding = encoding;
  return file;
}

/** Greedy grouping: combine files while their ids do not clash. */
function groupFiles(paths: string[], cache: Map<string, DbcFile>): { db: Database; files: string[] }[] {
  const groups: { db: Database; files: string[] }[] = [];
  for (const p of paths) {
    const key = resolve(p);
    let file = cache.get(key);
    if (!file) {
      file = loadFile(p);
      cache.set(key, file);
    }
    let placed = false;
    for (const g of groups) {
      if (clashes(g.db, file)) continue;
      g.db.add(file);
      g.files.push(p);
      placed = true;
      break;
    }
    if (!placed) {
      const db = new Database();
      db.add(file);
      groups.push({ db, files: [p] });
    }
  }
  return groups;
}

function clashes(db: Database, file: DbcFile): boolean {
  for (const m of file.messages) if (db.lookup(m.id, m.extended, false)) return true;
  return false;
}

function stem(path: string): string {
  return basename(path, extname(path));
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
}

/**
 * Loads and groups the DBC files. A file used by several sets is parsed once but decoded by its own Database per
 * set only when the sets differ (a database shared by identical sets is reused).
 */
export function buildDecoderConfig(opts: BuildOptions): DecoderConfig {
  if (opts.dbc.length === 0 && (opts.channels ?? []).length === 0) {
    throw new SigflowError(
      'SF_ERR_LOGDECODE_NO_DBC',
      'no DBC file given (use --dbc file.dbc, or --channel CAN<n>=file.dbc)',
    );
  }
  const { groups, global, perChannel } = loadSets(opts);
  const qualify = messageNamer(groups);
  const databases = groups.map((g) => decodeDb(g, qualify, opts.signals));
  return { databases, global, perChannel };
}

type Group = { db: Database; files: string[] };

/** The databases of the global set and of each channel's set, each once (identical sets share theirs). */
function loadSets(opts: BuildOptions): { groups: Group[]; global: number[]; perChannel: Map<number, number[]> } {
  const cache = new Map<string, DbcFile>();
  const groupsGlobal = opts.dbc.length > 0 ? groupFiles(opts.dbc, cache) : [];
  const byChannel = new Map<number, string[]>();
  for (const c of opts.channels ?? []) {
    const list = byChannel.get(c.channel) ?? [];
    list.push(c.file);
    byChannel.set(c.channel, list);
  }
  const groups: Group[] = [...groupsGlobal];
  const global = groupsGlobal.map((_, i) => i);
  const perChannel = new Map<number, number[]>();
  const setKey = new Map<string, number[]>();
  for (const [chn, files] of byChannel) {
    const key = files.map((f) => resolve(f)).join('\n');
    let idx = setKey.get(key);
    if (!idx) {
      idx = groupFiles(files, cache).map((g) => {
        groups.push(g);
        return groups.length - 1;
      });
      setKey.set(key, idx);
    }
    perChannel.set(chn, idx);
  }
  return { groups, global, perChannel };
}

/** Message naming across everything loaded: `<dbc stem>:` for a name another file defines, `#0x<id>` within one. */
function messageNamer(groups: Group[]): (m: Message) => string {
  const byName = new Map<string, { m: Message; file: string }[]>();
  for (const g of groups)
    for (const m of g.db.messages) {
      const list = byName.get(m.name) ?? [];
      if (!list.some((x) => x.m.id === m.id && x.m.extended === m.extended && x.m.file === m.file))
        list.push({ m, file: m.file });
      byName.set(m.name, list);
    }
  return (m: Message): string => {
    const list = byName.get(m.name) ?? [];
    if (list.length <= 1) return m.name;
    const files = new Set(list.map((x) => resolve(x.file)));
    let name = m.name;
    if (files.size > 1) name = `${stem(m.file)}:${name}`;
    const sameFile = list.filter((x) => resolve(x.file) === resolve(m.file));
    if (sameFile.length > 1) name = `${name}#0x${m.id.toString(16)}`;
    return name;
  };
}

/** One database with the per-signal arrays the hot loops index (names, filter, output prefixes). */
function decodeDb({ db, files }: Group, qualify: (m: Message) => string, signals: RegExp | undefined): DecodeDb {
  const messageName = db.messages.map(qualify);
  const n = db.signals.length;
  const include = new Uint8Array(n);
  const column: string[] = new Array(n);
  const jsonPrefix: string[] = new Array(n);
  const csvPrefix: string[] = new Array(n);
  const hasChoices: boolean[] = new Array(n);
  for (let gi = 0; gi < n; gi++) {
    const s = db.signals[gi];
    const m = db.signalMessage[gi];
    const mn = messageName[m.index];
    column[gi] = `${mn}.${s.name}`;
    include[gi] =
      !signals || signals.test(column[gi]) || signals.test(`${m.name}.${s.name}`) || signals.test(s.name) ? 1 : 0;
    jsonPrefix[gi] = `"message":${jsonString(mn)},"signal":${jsonString(s.name)},"value":`;
    csvPrefix[gi] = `${csvField(mn)},${csvField(s.name)},`;
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
}

/** The decoder configuration of a spec; its problems are usage errors (exit 2) naming the file or option. */
export function decoderConfigFrom(spec: DecoderSpec): DecoderConfig {
  return buildDecoderConfig({
    dbc: spec.dbc,
    channels: spec.channel.map(parseChannelSpec),
    signals: spec.signals !== undefined ? parseSignalFilter(spec.signals) : undefined,
  });
}
