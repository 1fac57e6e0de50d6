/**
 * Every command of the command line, by name: the module that registers it, and its line in `sigflow --help`
 * (term and description, as the full program prints them). main.ts uses it so that
 * - a command loads its module alone (its help and behaviour are the same as in the full program): a one-shot
 *   command starts without the ~500 modules of all the others (`sigflow store list`: 0.65 → ~0.25 s), and the
 *   daemon (`run`) does not keep every other command's libraries in memory (~10 MB on a small box);
 * - `sigflow`, `sigflow --help` and `sigflow help` print the index from this table alone (0.46 → ~0.15 s).
 * program.ts registers the same modules for unknown names (commander's suggestions);
 * test/cli/help.test.ts checks that this table names every command of the full program, its module, and that the
 * index prints exactly what the full program prints.
 */
import { type Command, Help } from 'commander';
import { rootProgram } from './root.js';

interface CommandEntry {
  /** The command's term in the index, e.g. `frames [options] <inputs...>`. */
  readonly term: string;
  readonly description: string;
  /** Loads the module that registers the command. */
  readonly load: () => Promise<(program: Command) => void>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  dbc: {
    term: 'dbc',
    description: 'inspect DBC files and decode CAN frames with them',
    load: async () => (await import('./dbc.js')).registerDbcCommands,
  },
  frames: {
    term: 'frames [options] <inputs...>',
    description: 'raw bus frames of CANedge / MDF4 logs (MF4, MFC, MFE, MFM; folders are read recursively)',
    load: async () => (await import('./frames.js')).registerFramesCommands,
  },
  decode: {
    term: 'decode [options] <inputs...>',
    description: 'decode CANedge / MDF4 logs with DBC files into signal values (NDJSON, CSV, wide CSV, Parquet)',
    load: async () => (await import('./decode.js')).registerDecodeCommands,
  },
  import: {
    term: 'import [options] <inputs...>',
    description: 'decode logs with DBC files and store the signals durably (embedded store; optionally InfluxDB)',
    load: async () => (await import('./import.js')).registerImportCommands,
  },
  iof: {
    term: 'iof',
    description: 'Internet of Fish: acoustic tags heard by TBRs over LoRa/MQTT → tables, backup and TDOA positions',
    load: async () => (await import('./iof.js')).registerIofCommands,
  },
  lake: {
    term: 'lake',
    description: 'the Parquet data lake: write logs into it (CSS layout, with a ledger), query it with DuckDB',
    load: async () => (await import('./lake.js')).registerLakeCommands,
  },
  logs: {
    term: 'logs',
    description: 'CANedge log trees: <device>/<session>/<split>.(MF4|MFC|MFE|MFM)',
    load: async () => (await import('./logs.js')).registerLogsCommands,
  },
  outbox: {
    term: 'outbox',
    description: 'inspect the durable outbox: pending data per sink, drops, dead letters (replay or purge them)',
    load: async () => (await import('./outbox.js')).registerOutboxCommands,
  },
  packets: {
    term: 'packets',
    description: 'binary messages (LoRa, MQTT, radio) decoded with a bit-field packet spec',
    load: async () => (await import('./packets.js')).registerPacketsCommands,
  },
  run: {
    term: 'run [options]',
    description: 'run live pipelines (serial CAN adapters, MQTT, log replay) into the sinks, supervised, until stopped',
    load: async () => (await import('./run.js')).registerRunCommands,
  },
  check: {
    term: 'check [options]',
    description: 'validate a configuration file and print it resolved (defaults, ${VAR}s), secrets redacted',
    load: async () => (await import('./run.js')).registerRunCommands,
  },
  serve: {
    term: 'serve [options] [data]',
    description: 'serve CANedge log trees to Grafana (SimpleJson, simPod JSON, Infinity), decoded on demand',
    load: async () => (await import('./serve.js')).registerServeCommands,
  },
  status: {
    term: 'status [options]',
    description:
      'what a running sigflow run is doing: version, units and restarts, outbox depth per sink, config revision',
    load: async () => (await import('./status.js')).registerStatusCommands,
  },
  store: {
    term: 'store',
    description: 'query and maintain an embedded sigflow store (SQLite)',
    load: async () => (await import('./store.js')).registerStoreCommands,
  },
  selftest: {
    term: 'selftest [options]',
    description: 'check this installation: native modules, the config, the outbox, the codecs (one line per check)',
    load: async () => (await import('./selftest.js')).registerSelftestCommands,
  },
  'update-guard': {
    term: 'update-guard [options]',
    description: 'after an update switched versions: wait for the new one to answer healthy, or roll back',
    load: async () => (await import('./update.js')).registerUpdateCommands,
  },
};

/**
 * The root with a placeholder per command, for printing the index only (`sigflow --help`): each placeholder
 * shows its command's term and description from COMMANDS; none of them can run.
 */
export function indexProgram(): Command {
  const program = rootProgram();
  for (const [name, c] of Object.entries(COMMANDS)) program.command(name).description(c.description);
  program.configureHelp({
    subcommandTerm(this: Help, cmd: Command): string {
      const entry = Object.hasOwn(COMMANDS, cmd.name()) ? COMMANDS[cmd.name()] : undefined;
      return entry ? entry.term : Help.prototype.subcommandTerm.call(this, cmd);
    },
  });
  return program;
}
