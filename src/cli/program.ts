/**
 * The whole command line: the root (root.ts) with every command group registered. Each area registers its own
 * subcommands from its module under src/cli/. main.ts loads this module only for
 * unknown command names: a command loads its own module alone (commands.ts COMMANDS).
 */
import type { Command } from 'commander';
import { registerDbcCommands } from './dbc.js';
import { registerDecodeCommands } from './decode.js';
import { registerFramesCommands } from './frames.js';
import { registerImportCommands } from './import.js';
import { registerIofCommands } from './iof.js';
import { registerLakeCommands } from './lake.js';
import { registerLogsCommands } from './logs.js';
import { registerOutboxCommands } from './outbox.js';
import { registerPacketsCommands } from './packets.js';
import { rootProgram } from './root.js';
import { registerRunCommands } from './run.js';
import { registerSelftestCommands } from './selftest.js';
import { registerServeCommands } from './serve.js';
import { registerStatusCommands } from './status.js';
import { registerStoreCommands } from './store.js';
import { registerUpdateCommands } from './update.js';

export function buildProgram(): Command {
  const program = rootProgram();
  registerDbcCommands(program);
  registerFramesCommands(program);
  registerDecodeCommands(program);
  registerImportCommands(program);
  registerIofCommands(program);
  registerLakeCommands(program);
  registerLogsCommands(program);
  registerOutboxCommands(program);
  registerPacketsCommands(program);
  registerRunCommands(program);
  registerServeCommands(program);
  registerStatusCommands(program);
  registerStoreCommands(program);
  registerSelftestCommands(program);
  registerUpdateCommands(program);
  return program;
}
