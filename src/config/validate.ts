/**
 * validateConfig: a parsed configuration file (YAML or JSON, already read into a value) → the typed config, or
 * SF_ERR_CONFIG_INVALID naming the file and the key path of every problem:
 *   sigflow.yaml: sinks[0].url: expected an http:// or https:// URL
 *   sigflow.yaml: sinks[1].retentionPolicy: unknown key (renamed: retention_policy)
 * Given a `locate` (load.ts has one for the file it read), each line also names the line in the file:
 *   sigflow.yaml:12: sinks[0].url: expected an http:// or https:// URL
 */
import type { z } from 'zod';
import { SigflowError } from '../errors/index.js';
import { configIssues, describeIssue } from '../schema/index.js';
import { sinkRenamedKeys } from '../sinks/index.js';
import { configSchema, type SigflowConfig } from './schema.js';

/** A place in a configuration file: 1-based line and column. */
export interface ConfigPosition {
  line: number;
  column?: number;
}

/** Where in the file a key path is: the position of the deepest node along it that exists, or null. */
export type LocateConfig = (path: readonly (string | number)[]) => ConfigPosition | null;

/**
 * A configuration does not fit the schema (or could not be read: see load.ts). `problems` holds every
 * `path: what` line; the message names them, each after `source:` or, when its position is known,
 * `source:line:` (`source:line:column:` when a column is given, as for YAML syntax errors).
 */
export class ConfigError extends SigflowError {
  constructor(
    readonly source: string,
    /** Every problem, `key.path: what is wrong`, in document order as zod found them. */
    readonly problems: readonly string[],
    /** The position of each problem in `source`, where known (same index as `problems`). */
    readonly positions: readonly (ConfigPosition | null | undefined)[] = [],
  ) {
    const at = (i: number) => {
      const p = positions[i];
      return p ? `${source}:${p.line}${p.column === undefined ? '' : `:${p.column}`}` : source;
    };
    super('SF_ERR_CONFIG_INVALID', problems.map((p, i) => `${at(i)}: ${p}`).join('\n'), {
      // file:line when known (the convention for `where`), else the file and the key path
      where: positions[0] ? at(0) : `${source}: ${problems[0].slice(0, problems[0].indexOf(': '))}`,
    });
  }
}

/** Old key names (now rejected) at a path: a sink entry's are its plugin's. */
function renamedAt(value: unknown) {
  return (path: readonly PropertyKey[]) => {
    if (path.length === 2 && path[0] === 'sinks' && typeof path[1] === 'number') {
      const sinks = (value as { sinks?: unknown } | null)?.sinks;
      return Array.isArray(sinks) ? sinkRenamedKeys(sinks[path[1]]) : undefined;
    }
    return undefined;
  };
}

/**
 * Validates a configuration value read from `source` (a file name, or e.g. `--config-json`), returning it typed
 * with every default filled in. Throws ConfigError (SF_ERR_CONFIG_INVALID) listing every problem with its key path
 * and, given `locate`, its line: that of the deepest node along the path that exists in the file (an unknown key's
 * own line; for a missing key, its parent object's).
 */
export function validateConfig(value: unknown, source: string, locate?: LocateConfig): SigflowConfig {
  const r = configSchema.safeParse(value);
  if (r.success) return r.data;
  // each problem with its own key path (an unknown key's, or one inside a union's branch): its line
  const issues = configIssues(r.error as z.ZodError, value, renamedAt(value));
  const positions = locate
    ? issues.map((i) =>
        deepest(
          locate,
          i.path.filter((k): k is string | number => typeof k !== 'symbol'),
        ),
      )
    : undefined;
  throw new ConfigError(source, issues.map(describeIssue), positions);
}

/** The position of the longest prefix of `path` found in the file; the line only (one per problem). */
function deepest(locate: LocateConfig, path: readonly (string | number)[]): ConfigPosition | null {
  for (let n = path.length; n >= 0; n--) {
    const p = locate(path.slice(0, n));
    if (p) return { line: p.line };
  }
  return null;
}
