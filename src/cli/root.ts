/**
 * The root of the command line without its commands (name, description, version, error handling), in a module of
 * its own so that main.ts can build a program holding only the command being run (program.ts has them all).
 */
import { Command } from 'commander';
import { VERSION } from '../version/index.js';

export function rootProgram(): Command {
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
    // commander's usage errors in sigflow's one-line form with their code, as every other error (main.ts);
    // inherited by the subcommands created below
    .configureOutput({
      outputError: (text, write) =>
        write(text.replace(/^error: (.*)$/m, (_m, what: string) => `sigflow: ${what} (SF_ERR_USAGE)`)),
    })
    // throw instead of exiting, here and in every subcommand (they inherit it when created below): main() decides
    .exitOverride();
  return program;
}
