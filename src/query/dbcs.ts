/**
 * The DBC files a server decodes with, keyed as the old CANedge backend keyed them: the file's stem in lower case
 * (`canmod-gps.dbc` → `canmod-gps`). Each file is its own database (a query names one); a signal name that two
 * messages of one file share is served under message-qualified names (`Message.Signal`) — the old backend merged
 * them into one series (a reported bug). Signal selection is by exact name, never by a regular expression built
 * from the request: Grafana's `(A|B|C)` multi-value form is split into names.
 */
import { basename, extname } from 'node:path';
import { Database, type Message, type Signal } from '../codecs/dbc/index.js';
import { SigflowError } from '../errors/index.js';

/** One signal as a query sees it: its database, message and signal, and the name it is served under. */
export interface SignalRef {
  db: LoadedDbc;
  message: Message;
  signal: Signal;
  /** `Signal`, or `Message.Signal` when the file has the signal name in more than one message. */
  name: string;
}

export class LoadedDbc {
  /** Signal name → every signal of that name (in message order). */
  private readonly byName = new Map<string, Signal[]>();
  /** `Message.Signal` → signal. */
  private readonly byQualified = new Map<string, Signal>();
  /** True when a message is J1939 (VFrameFormat J1939PG): frames are matched by PGN too. */
  readonly j1939: boolean;

  constructor(
    /** The lower-case stem. */
    readonly key: string,
    readonly path: string,
    readonly db: Database,
    readonly mtimeMs: number,
    /** The file's text when it is not on disk (an S3 object): how a worker thread loads it again. */
    readonly text?: string,
  ) {
    for (const s of db.signals) {
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
      this.byQualified.set(`${db.signalMessage[s.globalIndex].name}.${s.name}`, s);
    }
    this.j1939 = db.messages.some((m) => m.isJ1939);
  }

  /** The names to offer (DBC order): each signal name once, then `Message.Signal` for names shared by messages. */
  signalNames(): string[] {
    const out = [...this.byName.keys()];
    for (const [name, list] of this.byName) {
      if (list.length > 1) for (const s of list) out.push(`${this.db.signalMessage[s.globalIndex].name}.${name}`);
    }
    return out;
  }

  /** The signals a requested name stands for (none when unknown): a qualified name one, a shared name each. */
  resolve(name: string): SignalRef[] {
    const q = this.byQualified.get(name);
    if (q && !this.byName.has(name)) return [this.ref(q, true)];
    const list = this.byName.get(name);
    if (!list) return q ? [this.ref(q, true)] : [];
    return list.map((s) => this.ref(s, list.length > 1));
  }

  private ref(s: Signal, qualified: boolean): SignalRef {
    const message = this.db.signalMessage[s.globalIndex];
    return { db: this, message, signal: s, name: qualified ? `${message.name}.${s.name}` : s.name };
  }
}

/**
 * Loads one DBC file per key; two files with one stem are refused (a query could not say which it means).
 * `text`: the file's contents when it is not on disk (an S3 object; `path` names it).
 */
export function loadDbcs(files: { path: string; mtimeMs: number; text?: string }[]): Map<string, LoadedDbc> {
  const out = new Map<string, LoadedDbc>();
  for (const f of files) {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const key = basename(name, extname(name)).toLowerCase();
    const prev = out.get(key);
    if (prev) {
      throw new SigflowError(
        'SF_ERR_SERVE_CONFIG',
        `two DBC files have the key "${key}": ${prev.path} and ${f.path} (a query names a DBC by its file name, case-insensitive)`,
        { where: f.path },
      );
    }
    const db = f.text === undefined ? Database.load([f.path]) : Database.fromText(f.text, f.path);
    out.set(key, new LoadedDbc(key, f.path, db, f.mtimeMs, f.text));
  }
  return out;
}

/**
 * Splits a requested signal selection into names: `Speed`, `(Latitude|Longitude)` (Grafana's multi-value
 * format, with its regex escapes), `{A,B}` (Grafana's glob format) or a list. No regular expression is compiled.
 */
export function signalNames(sel: string | readonly string[]): string[] {
  if (typeof sel !== 'string') return [...new Set(sel.flatMap((s) => signalNames(s)))];
  let s = sel.trim();
  let sep: string | null = s.includes('|') ? '|' : null;
  if (s.startsWith('(') && s.endsWith(')')) s = s.slice(1, -1);
  else if (s.startsWith('{') && s.endsWith('}')) {
    s = s.slice(1, -1);
    sep = ',';
  }
  const parts = sep ? s.split(sep) : [s];
  const names = parts.map((p) => p.trim().replace(/\\(.)/g, '$1')).filter((p) => p.length > 0);
  return [...new Set(names)];
}

/** What a worker thread needs to load the same DBC. */
export interface DbcSpec {
  key: string;
  path: string;
  mtimeMs: number;
  text?: string;
}

export function dbcSpec(d: LoadedDbc): DbcSpec {
  return { key: d.key, path: d.path, mtimeMs: d.mtimeMs, text: d.text };
}

/** Loads a DBC from its spec (in a worker thread). */
export function loadDbcSpec(s: DbcSpec): LoadedDbc {
  const db = s.text === undefined ? Database.load([s.path]) : Database.fromText(s.text, s.path);
  return new LoadedDbc(s.key, s.path, db, s.mtimeMs, s.text);
}
