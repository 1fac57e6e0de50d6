/**
 * sigflow's command line. Each area registers its own subcommands from its module under src/cli/; this file only
 * assembles them, and is the one place that turns an error into a line on stderr and an exit status:
 * - a SigflowError prints `sigflow: <message>` and exits with its catalogue status (2: the input or the invocation
 *   is wrong; 1: it could not be done) — commands never pick exit statuses themselves;
 * - a usage error found by commander (unknown option, missing argument) exits 2 after commander's own message;
 * - anything else is a bug: one line naming SF_ERR_INTERNAL, exit 1.
 * The stack trace (and the chain of causes) is printed only with SIGFLOW_DEBUG=1.
 */
import { Command, CommanderError } from 'commander';
import { ERRORS, SigflowError } from '../errors/index.js';
import { registerDbcCommands } from './dbc.js';
import { registerDecodeCommands } from './decode.js';
import { registerFramesCommands } from './frames.js';
import { registerImportCommands } from './import.js';
import { registerLogsCommands } from './logs.js';
import { registerOutboxCommands } from './outbox.js';
import { registerStoreCommands } from './store.js';
import { VERSION } from './version.js';

export { VERSION };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('sigflow')
    .description(
      'Telemetry for CAN buses and sensor networks: raw bytes in, decoded timestamped signals out, stored without ' +
        'loss and served to dashboards.',
    )
    .addHelpText(
      'after',
      `
Start here:
  sigflow import LOG/ --dbc vehicle.dbc          decode CANedge logs into the embedded store (.sigflow/)
  sigflow store list .sigflow/store.db           what was stored
  sigflow decode LOG/ --dbc vehicle.dbc --format csv -o out.csv
  sigflow dbc inspect vehicle.dbc                what a DBC defines (and what is wrong with it)
Every command has --help with examples.
Times are RFC 3339 / ISO 8601 (UTC unless an offset is given: 2024-01-02T03:04:05Z, 2024-01-02T05:04:05+02:00,
2024-01-02) or integer ns since the epoch; durations a number and a unit (500ms, 30s, 10m, 2h, 7d, 2w).
Exit status: 0 done; 1 could not be done (e.g. a file failed); 2 bad arguments or input. Errors carry a code
(SF_ERR_…, docs/errors.md); SIGFLOW_DEBUG=1 prints their stack trace.`,
    )
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // throw instead of exiting, here and in every subcommand (they inherit it when created below): main() decides
    .exitOverride();
  registerDbcCommands(program);
  registerFramesCommands(program);
  registerDecodeCommands(program);
  registerImportCommands(program);
  registerLogsCommands(program);
  registerOutboxCommands(program);
  registerStoreCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // Output piped into `head` & co.: a closed pipe ends the command quietly instead of crashing it.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Prints `err` on stderr as described in the module comment and returns the exit status. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end with status 0; every other commander error is a usage error, already printed
    return err.exitCode === 0 ? 0 : ERRORS.SF_ERR_USAGE.exit;
  }
  const debug = process.env.SIGFLOW_DEBUG === '1';
  if (err instanceof SigflowError) {
    process.stderr.write(`sigflow: ${err.message}\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    const hint = debug ? '' : '; set SIGFLOW_DEBUG=1 for the stack';
    process.stderr.write(`sigflow: internal error: ${message} (SF_ERR_INTERNAL${hint})\n`);
  }
  if (debug) process.stderr.write(`${stackOf(err)}\n`);
  return err instanceof SigflowError ? err.exitCode : ERRORS.SF_ERR_INTERNAL.exit;
}

/** The stack of an error and of its causes. */
function stackOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; depth++) {
    const code = e instanceof SigflowError ? ` [${e.code}${e.where ? ` at ${e.where}` : ''}]` : '';
    parts.push(`${depth === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}${code}`);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\n');
}
