import type { Command } from 'commander';

export function registerDbcCommands(program: Command): void {
  program.command('dbc').description('inspect DBC files and decode CAN frames with them');
}
