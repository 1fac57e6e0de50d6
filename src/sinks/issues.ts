/**
 * Sink config errors: the key-path lines of src/schema (`sinks[1].retention_policy: expected string, got number`)
 * thrown as SF_ERR_CONFIG_INVALID. Used by createSink here and by the root config (src/config).
 */
import { SigflowError } from '../errors/index.js';

export { describeConfigIssues, formatKeyPath, type RenamedAt } from '../schema/index.js';

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
