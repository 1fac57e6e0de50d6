/**
 * The arguments `sigflow frames`, `decode` and `import` share — inputs, passwords, --from/--to, -o, --fail-fast,
 * --no-progress — and their parsing into a LogSelection for the pipeline jobs (src/pipelines/logdecode).
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { passwordsFor } from '../formats/canedge/index.js';
import { expandInputs, type LogSelection } from '../pipelines/logdecode/index.js';
import { formatTime, parseTime } from '../units/index.js';

export interface CommonOptions {
  passwords?: string;
  from?: string;
  to?: string;
  format: string;
  output?: string;
  failFast?: boolean;
  progress?: boolean;
  s3Endpoint?: string;
  s3Region?: string;
  s3Ca?: string;
}

/** Commander's collector of a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const TIME = 'RFC 3339 / ISO 8601, UTC unless an offset is given, or integer ns since the epoch';

/**
 * Adds the options the log commands share (`output: false`: no -o, for a command that writes no output file;
 * `range: false`: no --from/--to, for a command that takes whole logs).
 */
export function addCommonOptions(
  cmd: Command,
  { output = true, range = true }: { output?: boolean; range?: boolean } = {},
): Command {
  cmd
    .option(
      '--passwords <file>',
      'passwords.json for encrypted logs (MFE/MFM; default: <folder>/passwords.json of each folder given)',
    )
    .option(
      '--s3-endpoint <url>',
      'S3-compatible server for s3://bucket/prefix inputs (MinIO: http://host:9000); AWS when omitted. Keys: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or the AWS chain',
    )
    .option('--s3-region <region>', 'S3 region of s3:// inputs (default $AWS_REGION or us-east-1)')
    .option('--s3-ca <pem>', 'CA certificate of the S3 server (a private MinIO)');
  if (range)
    cmd
      .option('--from <time>', `only events at or after this time (${TIME})`)
      .option('--to <time>', `only events at or before this time (${TIME})`);
  if (output) cmd.option('-o, --output <file>', 'write here instead of stdout');
  return cmd
    .option('--fail-fast', 'stop at the first file that cannot be read')
    .option('--no-progress', 'no progress bar (it is only shown when stderr is a terminal)');
}

export interface Prepared extends LogSelection {
  /** Arguments that could not even be listed/stat'ed (reported on stderr; they count as failed files). */
  inputErrors: number;
}

/** The inputs and window of a log command: bad arguments are usage errors (exit 2), before any file is read. */
export async function prepare(paths: string[], opts: CommonOptions): Promise<Prepared> {
  const from = opts.from !== undefined ? parseTime(opts.from, '--from') : undefined;
  const to = opts.to !== undefined ? parseTime(opts.to, '--to') : undefined;
  if (from !== undefined && to !== undefined && from > to) {
    throw new SigflowError('SF_ERR_USAGE', `--from is after --to (${formatTime(from)} > ${formatTime(to)})`);
  }
  // --passwords, else the passwords.json of each folder given (as `logs index` does)
  const { book: passwords } = await passwordsFor(paths, opts.passwords);
  const { files, problems } = await expandInputs(paths, {
    s3: { endpoint: opts.s3Endpoint, region: opts.s3Region, caFile: opts.s3Ca },
  });
  for (const p of problems) process.stderr.write(`sigflow: ${p.path}: ${p.message}\n`);
  if (problems.length > 0 && opts.failFast) {
    const first = problems[0];
    throw new SigflowError('SF_ERR_LOGDECODE_INPUT', `${first.path}: ${first.message}`, { where: first.path });
  }
  return { inputs: files, passwords, from, to, failFast: opts.failFast === true, inputErrors: problems.length };
}

/** A positive integer option (`--max-cells 1000`): SF_ERR_USAGE otherwise. */
export function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new SigflowError('SF_ERR_USAGE', `${what} ${text}: a positive integer`);
  return n;
}
