/**
 * `sigflow import`: decode logs with DBC files and store the signals durably — in the embedded store by default,
 * optionally also in InfluxDB — through the outbox, so nothing accepted is lost if a sink is down or the process
 * dies. Re-runs import only new or changed files. A shell over runImport (src/pipelines/logimport).
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import type { ImportSummary } from '../pipelines/logimport/index.js';
import { parseDuration } from '../units/index.js';
import { addCommonOptions, type CommonOptions, collect, type Prepared, prepare } from './log-args.js';
import { reportHooks } from './log-report.js';

interface ImportOptions extends CommonOptions {
  dbc: string[];
  channel: string[];
  signals?: string;
  dataDir: string;
  influx?: string;
  influxDb: string;
  force?: boolean;
  drainTimeout: string;
}

export function registerImportCommands(program: Command): void {
  const cmd = program
    .command('import')
    .description('decode logs with DBC files and store the signals durably (embedded store; optionally InfluxDB)')
    .argument('<inputs...>', 'log files or folders (CANedge MF4/MFC/MFE/MFM)');
  addCommonOptions(cmd)
    .option('--dbc <file>', 'DBC file for every CAN channel (repeatable)', collect, [])
    .option('--channel <CANn=file>', 'DBC file for one CAN channel only, e.g. CAN2=b.dbc (repeatable)', collect, [])
    .option('--signals <regex>', 'only signals whose "message.signal" or "signal" matches')
    .option('--data-dir <dir>', 'where the outbox, the store and the import ledger live', '.sigflow')
    .option('--influx <url>', 'also write to this InfluxDB 1.x (e.g. http://127.0.0.1:8086)')
    .option('--influx-db <name>', 'InfluxDB database (created if missing)', 'sigflow')
    .option('--force', 'import files again even if the ledger says they were imported')
    .option(
      '--drain-timeout <duration>',
      'how long to wait for the sinks to catch up at the end (a duration like 2m, or seconds)',
      '120s',
    )
    .addHelpText(
      'after',
      `
Each decoded CAN frame becomes one record: measurement = message name, tags device, bus, chn (+ sa for J1939),
one field per signal. Records go into a durable outbox (<data-dir>/outbox) and from there to every sink: the
embedded store <data-dir>/store.db (query it with "sigflow store query") and, with --influx, InfluxDB.
A file is marked imported (<data-dir>/imports.json) once all its records are in the outbox, together with a
fingerprint of the settings (DBC contents, --channel, --signals, --from/--to): the same file imported with other
settings is read again. A file that fails part-way keeps the records read before the failure and is not marked.
A sink that is down keeps its backlog in the outbox and gets it on the next run
("sigflow outbox status --data-dir <data-dir>/outbox"); the run then exits with status 1.
--from/--to: e.g. 2024-01-02T03:04:05Z; a time without an offset is UTC (2024-01-02T03:04:05 = …05Z).
Bad arguments: exit status 2.

Example:
  sigflow import LOG/ --dbc j1939.dbc --data-dir /var/lib/sigflow
  sigflow store query /var/lib/sigflow/store.db EEC1 --from 2021-01-01T00:00:00Z --to 2021-01-02T00:00:00Z`,
    )
    .action(importAction);
}

/** --drain-timeout: a duration, or a plain number of seconds (as before durations were accepted); 0 is allowed. */
function drainTimeoutMs(text: string): number {
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? `${text.trim()}s` : text;
  return Number(parseDuration(seconds, '--drain-timeout', { allowZero: true }) / 1_000_000n);
}

async function importAction(paths: string[], opts: ImportOptions): Promise<void> {
  if (opts.dbc.length === 0 && opts.channel.length === 0) {
    throw new SigflowError('SF_ERR_USAGE', 'import needs --dbc or --channel');
  }
  const drainMs = drainTimeoutMs(opts.drainTimeout);
  const prep = await prepare(paths, opts);
  // Loaded here, not at startup: the job pulls in the outbox and the sinks (zod, pg), which every other command
  // would pay for.
  const [{ default: pino }, { runImport }] = await Promise.all([
    import('pino'),
    import('../pipelines/logimport/index.js'),
  ]);
  const { hooks, stop } = reportHooks('import', prep, opts);
  const t0 = performance.now();
  let summary: ImportSummary;
  try {
    summary = await runImport(
      {
        ...prep,
        decoder: { dbc: opts.dbc, channel: opts.channel, signals: opts.signals },
        dataDir: opts.dataDir,
        influx: opts.influx ? { url: opts.influx, database: opts.influxDb } : undefined,
        force: opts.force === true,
        drainTimeoutMs: drainMs,
        logger: pino({ name: 'sigflow-import', level: 'warn' }, pino.destination(2)),
      },
      {
        ...hooks,
        onFilesDone: stop,
        onDrainTimeout: (e) => process.stderr.write(`sigflow import: ${e.message}\n`),
      },
    );
  } finally {
    stop();
  }
  printSummary(summary, prep, (performance.now() - t0) / 1000);
}

function printSummary(s: ImportSummary, prep: Prepared, seconds: number): void {
  const failed = s.stats.failedFiles + prep.inputErrors;
  const sinkText = s.sinks
    .map(
      (k) =>
        `${k.name}: ${k.deliveredRecords} delivered, ${k.pendingRecords} pending, ${k.deadLetteredRecords} dead-lettered`,
    )
    .join('; ');
  process.stderr.write(
    `sigflow import: ${s.imported} file(s) imported, ${s.skipped} already imported, ${failed} failed; ` +
      `${s.stats.frames} frames, ${s.stats.decodedFrames} decoded, ${s.records} records in ${seconds.toFixed(1)} s\n` +
      `sigflow import: ${sinkText}\n` +
      `sigflow import: store ${s.storePath} (sigflow store list ${s.storePath})\n`,
  );
  if (!s.drained) {
    process.stderr.write(`sigflow import: the backlog stays in ${s.outboxDir} and is delivered on the next run\n`);
  }
  if (!s.drained || failed > 0) process.exitCode = 1;
}
