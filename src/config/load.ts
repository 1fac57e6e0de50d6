/**
 * Reading a configuration file: YAML, or JSON (which is YAML, so both are parsed by the yaml package and keep
 * their positions). `${VAR}` references in string values are replaced from the environment — the process's, over
 * the .env files beside the config — and every key path can be traced back to its line, so that validation errors
 * say where to look:
 *   sigflow.yaml:12: sinks[0].url: expected an http:// or https:// URL
 * redactSecrets makes the result safe to print (`sigflow check`). See README.md, "Loading a file".
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { SigflowError } from '../errors/index.js';
import type { SigflowConfig } from './schema.js';
import { ConfigError, type ConfigPosition, validateConfig } from './validate.js';

export interface LoadConfigOptions {
  /** The process environment (default `process.env`, which is never modified). */
  env?: NodeJS.ProcessEnv;
  /** Read `.env` and `config/.env` beside the config file (default true). */
  loadDotEnv?: boolean;
}

export interface LoadedConfig {
  /** The file, as given: it names the file in every message. */
  path: string;
  /** The plain value after interpolation, ready for validateConfig. */
  value: unknown;
  /** The environment used: the .env files' variables under the process environment's. */
  env: NodeJS.ProcessEnv;
  /** The position of the node at a key path (a map entry's key, a list item), or null when there is none. */
  locate(keyPath: readonly (string | number)[]): { line: number; column: number } | null;
  /** Values substituted for variables whose names look secret (PASSWORD, TOKEN, KEY …): for redactSecrets. */
  secrets: string[];
}

/** Variables whose values must never be printed. */
const SECRET_VAR = /PASSWORD|PASSWD|TOKEN|SECRET|KEY|AUTH/i;
/** Keys whose values must never be printed. */
const SECRET_KEY = /(^|_)(password|passwd|token|secret|key|access_key|secret_key|api_key|auth|credentials)$/i;
/** `$$`, `${NAME}`, `${NAME:-default}`, `${NAME-default}` — and, last, any other `${…` (a mistake to name). */
const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$\{[^}]*\}?/g;

export const REDACTED = '<redacted>';

/** Reads `file`; a missing one is `undefined` when `missingOk` (the .env files are optional). */
function readText(file: string, missingOk = false): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (missingOk && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
    // The catalogue has no read code for configs: one that cannot be read is wrong input (exit 2) all the same.
    throw new SigflowError('SF_ERR_CONFIG_INVALID', `${file}: cannot read it (${(e as Error).message})`, {
      where: file,
      cause: e,
    });
  }
}

/** The value after `KEY=`: '…' is literal, "…" knows \n \" \\, anything else is trimmed up to a ` #` comment. */
function dotEnvValue(raw: string): string | { error: string } {
  const s = raw.trimStart();
  const q = s[0];
  if (q !== '"' && q !== "'") return raw.replace(/\s#.*$/, '').trim();
  let out = '';
  let i = 1;
  for (; i < s.length && s[i] !== q; i++) {
    if (q === '"' && s[i] === '\\' && i + 1 < s.length) {
      const c = s[++i];
      // other escapes keep their backslash: `"C:\data"` means what it says
      out += c === 'n' ? '\n' : c === '"' || c === '\\' ? c : `\\${c}`;
    } else out += s[i];
  }
  if (i >= s.length) return { error: `no closing ${q} on this line` };
  if (!/^\s*(#.*)?$/.test(s.slice(i + 1))) return { error: `unexpected text after the closing ${q}` };
  return out;
}

/** A .env file: `KEY=value` lines, optional `export `, `#` comments. Every malformed line is named (not its text: it may hold a secret). */
function parseDotEnv(text: string, file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  const problems: string[] = [];
  const positions: ConfigPosition[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (/^\s*(#|$)/.test(line)) return;
      const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
      const value = m ? dotEnvValue(m[2]) : { error: 'expected KEY=value' };
      if (typeof value === 'string') vars[m![1]] = value;
      else {
        problems.push(m ? `${m[1]}: ${value.error}` : value.error);
        positions.push({ line: i + 1 });
      }
    });
  if (problems.length) throw new ConfigError(file, problems, positions);
  return vars;
}

/** `.env`, then `config/.env` over it, then the process environment over both: what systemd and docker users expect. */
function environment(dir: string, env: NodeJS.ProcessEnv, loadDotEnv: boolean): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = {};
  const files = loadDotEnv ? [join(dir, '.env'), join(dir, 'config', '.env')] : [];
  for (const file of files) {
    const text = readText(file, true);
    if (text !== undefined) Object.assign(merged, parseDotEnv(text, file));
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  return merged;
}

/**
 * Reads a YAML or JSON configuration file and interpolates `${VAR}` in its string values (never in keys).
 * Throws ConfigError (SF_ERR_CONFIG_INVALID, exit 2) for a syntax error (`file:line:column: …`), a duplicate key,
 * a malformed .env line (`.env:line: …`), or unset variables (all of them, `file:line: ${X} is not set …`); a file
 * that cannot be read is SF_ERR_CONFIG_INVALID too.
 */
/** A plain YAML scalar's number or boolean (the YAML 1.2 core schema's spellings), else the text itself. */
function plainScalar(text: string): string | number | boolean {
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  return text;
}

export function loadConfigFile(path: string, options: LoadConfigOptions = {}): LoadedConfig {
  const text = readText(path) as string;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const pos = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  if (doc.errors.length)
    throw new ConfigError(
      path,
      doc.errors.map((e) => e.message.split('\n')[0]),
      doc.errors.map((e) => pos(e.pos[0])),
    );

  const env = environment(dirname(path), options.env ?? process.env, options.loadDotEnv !== false);
  const secrets = new Set<string>();
  const problems: string[] = [];
  const positions: ConfigPosition[] = [];
  // Walk values only (keys are never interpolated); an alias is its anchor's node, interpolated where it stands.
  const walk = (node: unknown): void => {
    if (isMap(node)) for (const pair of node.items) walk(pair.value);
    else if (isSeq(node)) for (const item of node.items) walk(item);
    else if (isScalar(node) && typeof node.value === 'string' && node.range) {
      const [start, end] = node.range;
      // a reference's own line when it is found in the source text (multi-line strings), else the string's
      const lineOf = (ref: string) => {
        const at = text.indexOf(ref, start);
        return { line: pos(at >= 0 && at < end ? at : start).line };
      };
      // one pass over the string: a variable's value is inserted as it is, never interpolated again
      const before = node.value;
      node.value = node.value.replace(REF, (ref: string, name?: string, op?: string, fallback?: string) => {
        if (ref === '$$') return '$';
        if (name === undefined) {
          problems.push(
            `${ref} is not a variable reference (write \${NAME}, \${NAME:-default} or \${NAME-default}; $$ for a literal $)`,
          );
          positions.push(lineOf(ref));
          return ref;
        }
        const set = env[name];
        // `:-` replaces an unset or empty variable, `-` only an unset one
        const value = set === undefined || (op === ':-' && set === '') ? fallback : set;
        if (value === undefined) {
          problems.push(`\${${name}} is not set (use \${${name}:-default} for a default)`);
          positions.push(lineOf(ref));
          return ref;
        }
        if (value && SECRET_VAR.test(name)) secrets.add(value);
        return value;
      });
      // an unquoted value reads as if the result had been written there: `baud: ${BAUDRATE:-230400}` is the
      // number 230400, `use_now_time: ${USE_NOW_TIME}` with True a boolean; a quoted one stays a string
      if (node.type === 'PLAIN' && node.value !== before) node.value = plainScalar(node.value as string);
    }
  };
  walk(doc.contents);
  if (problems.length) throw new ConfigError(path, problems, positions);

  let value: unknown;
  try {
    value = doc.toJS();
  } catch (e) {
    // e.g. an alias bomb (yaml limits how often aliases may expand)
    throw new ConfigError(path, [(e as Error).message]);
  }

  const locate = (keyPath: readonly (string | number)[]) => {
    let node: unknown = doc.contents;
    let offset = doc.contents?.range?.[0];
    for (const k of keyPath) {
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        // a map entry is where its key is: `delivery:` rather than the first line of its value
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(k));
        if (!pair || !isScalar(pair.key)) return null;
        offset = pair.key.range?.[0];
        node = pair.value;
      } else if (isSeq(node) && typeof k === 'number' && k < node.items.length) {
        node = node.items[k];
        offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
      } else return null;
    }
    return offset === undefined ? null : pos(offset);
  };

  return { path, value, env, locate, secrets: [...secrets] };
}

/** Loads `path` and validates it: problems name their line (`sigflow.yaml:12: sinks[0].url: …`). */
export function loadAndValidateConfig(
  path: string,
  options: LoadConfigOptions = {},
): { config: SigflowConfig; loaded: LoadedConfig } {
  const loaded = loadConfigFile(path, options);
  return { config: validateConfig(loaded.value, path, loaded.locate), loaded };
}

/**
 * A deep copy safe to print: the value under a secret-looking key (`password`, `token`, `api_key`, `auth`,
 * `credentials` …) becomes "<redacted>" unless it is empty, and so does every occurrence of a `secrets` value in a
 * string (a token inside a URL) and the password of a `scheme://user:password@host` URL.
 */
export function redactSecrets(value: unknown, secrets: readonly string[] = []): unknown {
  const needles = [...new Set(secrets)].filter(Boolean).sort((a, b) => b.length - a.length); // longest first
  // one regex, so that a short secret never matches inside "<redacted>" or a longer secret
  const re = needles.length
    ? new RegExp(needles.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
    : null;
  const scrub = (s: string) =>
    (re ? s.replace(re, REDACTED) : s).replace(/(\/\/[^/\s:@]*:)[^/\s@]+@/g, `$1${REDACTED}@`);
  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (Array.isArray(v)) return v.map(copy);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        k,
        SECRET_KEY.test(k) && x !== null && x !== undefined && x !== '' ? REDACTED : copy(x),
      ]),
    );
  };
  return copy(value);
}
