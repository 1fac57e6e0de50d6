/**
 * CANedge `passwords.json`: `{"<DEVICEID>": "password", "default": "password"}`. Lookup is by the device id in
 * upper-case hex, then `default`. Malformed files are errors naming the file and the line:column.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CanedgeError } from './errors.js';

export class PasswordBook {
  private readonly byDevice: Map<string, string>;
  private readonly fallback: string | undefined;

  constructor(
    entries: Record<string, string>,
    /** Where the passwords came from (for messages). */
    readonly source = 'passwords',
  ) {
    this.byDevice = new Map();
    let fallback: string | undefined;
    for (const [k, v] of Object.entries(entries)) {
      if (k.toLowerCase() === 'default') fallback = v;
      else this.byDevice.set(k.trim().toUpperCase(), v);
    }
    this.fallback = fallback;
  }

  static empty(): PasswordBook {
    return new PasswordBook({}, 'no passwords file');
  }

  /** One book from several: for a device id (and for `default`) the first book that has an entry wins. */
  static combine(books: readonly PasswordBook[]): PasswordBook {
    if (books.length === 1) return books[0];
    const entries: Record<string, string> = {};
    for (const b of books) {
      for (const [k, v] of b.byDevice) if (!(k in entries)) entries[k] = v;
      if (b.fallback !== undefined && !('default' in entries)) entries.default = b.fallback;
    }
    return new PasswordBook(entries, books.map((b) => b.source).join(' + ') || 'no passwords file');
  }

  /** The password for a device id (any case), else `default`, else undefined. */
  lookup(deviceId: string): string | undefined {
    return this.byDevice.get(deviceId.toUpperCase()) ?? this.fallback;
  }

  /** The entries as given to the constructor (to hand the book to a worker thread). */
  entries(): Record<string, string> {
    const out: Record<string, string> = Object.fromEntries(this.byDevice);
    if (this.fallback !== undefined) out.default = this.fallback;
    return out;
  }

  get size(): number {
    return this.byDevice.size + (this.fallback === undefined ? 0 : 1);
  }

  /**
   * A digest of the contents (not reversible to the passwords in any practical sense: salted sha256), used by the
   * log index to notice that passwords changed and files that failed to decrypt are worth another try.
   */
  fingerprint(): string {
    const h = createHash('sha256').update('sigflow-passwords-v1\0');
    for (const k of [...this.byDevice.keys()].sort()) h.update(`${k}\0${this.byDevice.get(k)}\0`);
    h.update(`default\0${this.fallback ?? '\u0000none'}`);
    return h.digest('hex').slice(0, 16);
  }
}

/** Converts a character offset into 1-based line:column. */
function lineCol(text: string, offset: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `${line}:${col}`;
}

/** Parses passwords.json text. `name` (the file) is used in errors. */
export function parsePasswords(text: string, name: string): PasswordBook {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // tolerate a UTF-8 BOM
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    const msg = (err as Error).message;
    const m = /position (\d+)/.exec(msg);
    const where = m
      ? lineCol(body, Number(m[1]))
      : body.trim() === ''
        ? '1:1 (empty file)'
        : `end of file (${lineCol(body, body.length)})`;
    throw new CanedgeError('SF_ERR_CANEDGE_PASSWORDS_FILE', name, `invalid JSON at ${where}: ${msg}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_PASSWORDS_FILE',
      name,
      `expected an object {"<DEVICEID>": "password", "default": "password"}, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
    );
  }
  const entries: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_PASSWORDS_FILE',
        name,
        `the password for "${k}" must be a string, got ${v === null ? 'null' : typeof v}`,
      );
    }
    const key = k.trim();
    if (key.toLowerCase() !== 'default' && !/^[0-9A-Fa-f]{8}$/.test(key)) {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_PASSWORDS_FILE',
        name,
        `key "${k}" is neither an 8-hex-digit device id nor "default"`,
      );
    }
    entries[key] = v;
  }
  return new PasswordBook(entries, name);
}

/** The passwords.json of a log root — `<root>/passwords.json`, where the CANedge tools keep it — or null. */
export function passwordsFileOf(root: string): string | null {
  const file = join(root, 'passwords.json');
  return statSync(file, { throwIfNoEntry: false })?.isFile() ? file : null;
}

/**
 * The passwords for log inputs — the one rule of every command that reads logs (`frames`, `decode`, `import`,
 * `logs index`): the file given (--passwords), else the passwords.json of each folder among the inputs (combined;
 * the first folder's entry wins). `files` lists the files read; `book` is undefined when there is none.
 */
export async function passwordsFor(
  inputs: readonly string[],
  given?: string,
): Promise<{ book: PasswordBook | undefined; files: string[] }> {
  const files =
    given !== undefined
      ? [given]
      : [
          ...new Set(
            inputs
              .filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory())
              .map(passwordsFileOf)
              .filter((f): f is string => f !== null),
          ),
        ];
  if (files.length === 0) return { book: undefined, files };
  return { book: PasswordBook.combine(await Promise.all(files.map(loadPasswords))), files };
}

/** Reads and parses a passwords.json file. */
export async function loadPasswords(path: string): Promise<PasswordBook> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CanedgeError('SF_ERR_CANEDGE_PASSWORDS_FILE', path, `cannot read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parsePasswords(text, path);
}
