/**
 * sigflow's command line. Each area registers its own subcommands from its module under src/cli/; this file only
 * assembles them. Keep it that way: one import and one call per area.
 */
import { Command, CommanderError } from 'commander';
import { registerDbcCommands } from './dbc.js';
import { registerDecodeCommands } from './decode.js';
import { CliError } from './errors.js';
import { registerFramesCommands } from './frames.js';
import { registerImportCommands } from './import.js';
import { registerLogsCommands } from './logs.js';
import { registerOutboxCommands } from './outbox.js';
import { registerStoreCommands } from './store.js';

export const VERSION = '0.1.0';

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
Every command has --help with examples.`,
    )
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)');
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
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`sigflow: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`sigflow: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
