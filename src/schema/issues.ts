/**
 * Validation problems that name the key path: a zod error (with the value that was validated) becomes issues like
 * `sinks[1].retention_policy: expected string, got number` or `sinks[0].retentionPolicy: unknown key (renamed:
 * retention_policy)`. Shared by every configuration and project file, so all of them speak the same way.
 */
import type { z } from 'zod';

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

/** One problem of a validated value: where (`['tags', 3, 'protocol']`) and what is wrong. */
export interface ConfigIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Every problem zod found, in its order, each with its key path and a sentence a person can act on. */
export function configIssues(error: z.ZodError, input: unknown, renamedAt?: RenamedAt): ConfigIssue[] {
  const lines: ConfigIssue[] = [];
  collect(error.issues, [], input, renamedAt, lines);
  return lines;
}

type Issue = z.core.$ZodIssue;

/** A union branch the value does not even have the type of: its only issue is at the union's own path. */
function mismatch(branch: readonly Issue[]): string | null {
  if (branch.length !== 1 || branch[0].path.length !== 0) return null;
  const i = branch[0];
  if (i.code === 'invalid_type') return String(i.expected);
  if (i.code === 'invalid_value') return i.values.map(show).join(' | ');
  return null;
}

function collect(
  issues: readonly Issue[],
  prefix: readonly PropertyKey[],
  input: unknown,
  renamedAt: RenamedAt | undefined,
  lines: ConfigIssue[],
): void {
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const value = valueAt(input, path);
    const at = (where: readonly PropertyKey[], message: string) => lines.push({ path: where, message });
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) at([...path, key], unknownKey(key, renamedAt?.(path)));
        break;
      case 'invalid_type':
        // a schema's own message (e.g. a planned section's) says it better than the generic one
        if (!issue.message.startsWith('Invalid input')) at(path, issue.message);
        else if (value === undefined) at(path, `missing (expected ${issue.expected})`);
        else at(path, `expected ${issue.expected}, got ${kindOf(value)}`);
        break;
      case 'invalid_value':
        at(path, `expected ${issue.values.map(show).join(' | ')}, got ${show(value)}`);
        break;
      case 'invalid_union': {
        if (issue.discriminator !== undefined && 'options' in issue && issue.options) {
          at(path, `expected ${issue.options.map(show).join(' | ')}, got ${show(value)}`);
          break;
        }
        // the branches the value has the type of say what is wrong inside it (`server: false` or a server
        // section: a section's problems, not "Invalid input"); none of them: which types would do
        const branches = (issue as { errors?: Issue[][] }).errors ?? [];
        const fitting = branches.filter((b) => mismatch(b) === null);
        if (fitting.length === 1) collect(fitting[0], path, input, renamedAt, lines);
        else if (fitting.length === 0 && branches.length > 0)
          at(
            path,
            `expected ${branches.map(mismatch).join(' or ')}, got ${value === undefined ? 'nothing' : kindOf(value)}`,
          );
        else at(path, issue.message);
        break;
      }
      default:
        at(path, issue.message.replace(/^Invalid input: /, ''));
    }
  }
}

/** A problem as a line: `path: what is wrong`. */
export function describeIssue(i: ConfigIssue): string {
  return `${formatKeyPath(i.path) || '(root)'}: ${i.message}`;
}

/** One line per problem, each `path: what is wrong`, in the order zod found them. */
export function describeConfigIssues(error: z.ZodError, input: unknown, renamedAt?: RenamedAt): string[] {
  return configIssues(error, input, renamedAt).map(describeIssue);
}
