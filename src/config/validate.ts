/**
 * validateConfig: a parsed configuration file (YAML or JSON, already read into a value) → the typed config, or
 * SF_ERR_CONFIG_INVALID naming the file and the key path of every problem:
 *   sigflow.yaml: sinks[0].url: expected an http:// or https:// URL
 *   sigflow.yaml: sinks[1].retentionPolicy: unknown key (renamed: retention_policy)
 */
import type { z } from 'zod';
import { SigflowError } from '../errors/index.js';
import { describeConfigIssues, sinkRenamedKeys } from '../sinks/index.js';
import { configSchema, type SigflowConfig } from './schema.js';

/** A configuration does not fit the schema. `problems` holds every `path: what` line; the message names them. */
export class ConfigError extends SigflowError {
  constructor(
    readonly source: string,
    /** Every problem, `key.path: what is wrong`, in document order as zod found them. */
    readonly problems: readonly string[],
  ) {
    const lines = problems.map((p) => `${source}: ${p}`);
    super('SF_ERR_CONFIG_INVALID', lines.join('\n'), {
      where: `${source}: ${problems[0].slice(0, problems[0].indexOf(': '))}`,
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
 * with every default filled in. Throws ConfigError (SF_ERR_CONFIG_INVALID) listing every problem with its key path.
 */
export function validateConfig(value: unknown, source: string): SigflowConfig {
  const r = configSchema.safeParse(value);
  if (r.success) return r.data;
  throw new ConfigError(source, describeConfigIssues(r.error as z.ZodError, value, renamedAt(value)));
}
