/**
 * Config validation errors that name the key path: a zod error (with the value that was validated) becomes
 * lines like `sinks[1].retention_policy: expected string, got number` or
 * `sinks[0].retentionPolicy: unknown key (renamed: retention_policy)`, thrown as SF_ERR_CONFIG_INVALID.
 * Used by createSink here and by the root config (src/config), so both speak the same way.
 */
import type { z } from 'zod';
import { SigflowError } from '../errors/index.js';

/** Renamed keys (old → new) in effect at a path, for the hint on an unknown key. */
export type RenamedAt = (path: readonly PropertyKey[]) => Readonly<Record<string, string>> | undefined;

/** `sinks[1].retention_policy`; keys that are not identifiers are quoted: `tags["a b"]`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(String(k))}]`;
  }
  return out;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function unknownKey(key: string, renamed: Readonly<Record<string, string>> | undefined): string {
  const to = renamed && Object.hasOwn(renamed, key) ? renamed[key] : undefined;
  if (to) return `unknown key (renamed: ${to})`;
  if (/[A-Z]/.test(key)) return 'unknown key (config keys are snake_case)';
  return 'unknown key';
}

/** One line per problem, each `path: what is wrong`, in the order zod found them. */
export function describeConfigIssues(error: z.ZodError, input: unknown, renamedAt?: RenamedAt): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const value = valueAt(input, issue.path);
    const at = (path: readonly PropertyKey[], msg: string) => lines.push(`${formatKeyPath(path) || '(root)'}: ${msg}`);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) at([...issue.path, key], unknownKey(key, renamedAt?.(issue.path)));
        break;
      case 'invalid_type':
        // a schema's own message (e.g. a planned section's) says it better than the generic one
        if (!issue.message.startsWith('Invalid input')) at(issue.path, issue.message);
        else if (value === undefined) at(issue.path, `missing (expected ${issue.expected})`);
        else at(issue.path, `expected ${issue.expected}, got ${kindOf(value)}`);
        break;
      case 'invalid_value':
        at(issue.path, `expected ${issue.values.map(show).join(' | ')}, got ${show(value)}`);
        break;
      case 'invalid_union':
        if (issue.discriminator !== undefined && 'options' in issue && issue.options)
          at(issue.path, `expected ${issue.options.map(show).join(' | ')}, got ${show(value)}`);
        else at(issue.path, issue.message);
        break;
      default:
        at(issue.path, issue.message.replace(/^Invalid input: /, ''));
    }
  }
  return lines;
}

/** A sink config (or any config section given to createSink) does not fit its schema. `where` is the key path. */
export class SinkConfigError extends SigflowError {
  constructor(
    message: string,
    where: string,
    /** Every problem found, one `path: what` line each (the message names the first). */
    readonly problems: readonly string[] = [message],
  ) {
    super('SF_ERR_CONFIG_INVALID', message, { where });
  }
}

/** Prefixes a relative issue line (`url: expected a URL`) with the key path of the section (`sinks[0]`). */
export function underPath(prefix: string, line: string): string {
  if (!prefix) return line;
  if (line.startsWith('(root): ')) return `${prefix}: ${line.slice(8)}`;
  return line.startsWith('[') ? `${prefix}${line}` : `${prefix}.${line}`;
}
