/**
 * `sigflow decode <files or folders…> --dbc a.dbc …`: decoded signal values of CANedge/MDF4 logs as NDJSON, long
 * CSV or Parquet, or (with --resample) wide CSV or Parquet — a shell over runDecodeJob. The rules and the layouts:
 * src/pipelines/logdecode/README.md.
 */
import { statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { SigflowError } from '../errors/index.js';
import { DEFAULT_ROW_GROUP_SIZE } from '../formats/parquet/index.js';
import {
  type DecodeFormat,
  type DecodeResult,
  type DecoderConfig,
  decoderConfigFrom,
  runDecodeJob,
} from '../pipelines/logdecode/index.js';
import { parseDuration } from '../units/index.js';
import { addCommonOptions, type CommonOptions, collect, positiveInt, prepare } from './log-args.js';
import { explainDecoding, reportHooks, summarise } from './log-report.js';
import { openOutput } from './output.js';

interface DecodeCmdOptions extends CommonOptions {
  dbc: string[];
  channel: string[];
  transport: string[];
  signals?: string;
  resample?: string;
  choices?: boolean;
  maxCells: string;
  rowGroupSize?: string;
}

const HELP = `
NDJSON lines (t = ns since the epoch, as a string; device = the log's serial number):
  {"t":"1641469577108050000","device":"2F6913DB","bus":"CAN","chn":2,"message":"gnss_status","signal":"Satellites","value":6}
J1939 messages (VFrameFormat J1939PG; matched by PGN when the exact id is not in the DBC) add "sa" (source
address). Values: numbers; integers wider than 2^53 as decimal strings; NaN/±Infinity as strings.
Long CSV columns: t,device,bus,chn,message,signal,value[,label]
Wide CSV (--resample): t (interval start),device, then one column per "message.signal" seen, sorted; a cell is
the last value in the interval, empty when none.
Parquet (-o file required; snappy, row groups of ${DEFAULT_ROW_GROUP_SIZE} rows; written to
<file>.<pid>-<random>.tmp and renamed when complete, removed on failure):
  long: t TIMESTAMP(NANOS, UTC), device, bus STRING, chn INT32, message, signal STRING, value DOUBLE,
        value_int INT64, sa INT32, label STRING (--choices); value_int, sa and label may be null.
        value is always set (NaN/±Infinity kept). For integers wider than 2^53 value_int holds the exact value and
        value the nearest double; one outside the INT64 range (e.g. unsigned ≥ 2^63) has value_int null and is
        counted in a warning. sa: J1939 source address (null otherwise); label: VAL_ text (null when none).
  wide (--resample): t TIMESTAMP(NANOS, UTC), device STRING, then one nullable column per "message.signal",
        sorted: DOUBLE; INT64 for a signal decoded as exact integers (one that can exceed 2^53) when all its
        values fit INT64 (otherwise DOUBLE, and the rounded values are counted in a warning).
Names depend on the message and its own DBC file only: the DBC name, or "<name>#0x<id>" when that file defines
the name more than once; a signal whose name its message repeats is "<name>#<n>" (2nd, 3rd …). The --dbc files
are one set: a file with the same contents as another is loaded once (a note); two files defining the same frame
id or message name are refused (exit 2) — give one of them, or each to its own channel with --channel.
--signals matching no signal of the DBC files, or a DBC without messages, is an error (exit 2); a run without
values says why (no frame in the window, no known id, no signal matching --signals); decode errors are listed
per message on stderr ("needs transport-protocol reassembly" for messages longer than their frames).
--from/--to: e.g. 2024-01-02T03:04:05Z; a time without an offset is UTC (2024-01-02T03:04:05 = …05Z).
--resample: a duration, e.g. 100ms, 0.5s, 1s, 10m, 1h.
A file that cannot be read is reported on stderr and skipped (exit status 1 at the end). Bad arguments: exit
status 2.

Examples:
  sigflow decode LOG/ --dbc vehicle.dbc --format csv -o values.csv
  sigflow decode LOG/ --dbc j1939.dbc --channel CAN2=gnss.dbc --signals 'EngineSpeed|Speed'
  sigflow decode LOG/ --dbc vehicle.dbc --resample 1s --format parquet -o wide.parquet`;

export function registerDecodeCommands(program: Command): void {
  const cmd = program
    .command('decode')
    .description('decode CANedge / MDF4 logs with DBC files into signal values (NDJSON, CSV, wide CSV, Parquet)')
    .argument('<inputs...>', 'log files or folders, or s3://bucket/prefix');
  addCommonOptions(cmd)
    .option('--dbc <file>', 'DBC file for every CAN channel (repeatable)', collect, [])
    .option('--channel <CANn=file>', 'DBC file for one CAN channel only, e.g. CAN2=b.dbc (repeatable)', collect, [])
    .option('--signals <regex>', 'only signals whose "message.signal" or "signal" matches')
    .option(
      '--transport <choice>',
      'multi-frame messages: auto (when a DBC message is longer than its frame), off, or isotp,j1939,nmea2000; ' +
        'CAN<n>=<choice> for one channel (repeatable)',
      collect,
      [],
    )
    .option(
      '--resample <duration>',
      'wide table (CSV or Parquet): one row per device and interval (e.g. 1s, 100ms), last value per signal',
    )
    .option('--choices', 'add the VAL_ label of each value ("label" in NDJSON, a label column in CSV and Parquet)')
    .option('--max-cells <n>', 'memory bound of --resample, in cells', '20000000')
    .option('--format <format>', 'ndjson, csv or parquet (long; wide with --resample; parquet needs -o)', 'ndjson')
    .addOption(new Option('--row-group-size <rows>', 'Parquet rows per row group (internal: tests)').hideHelp())
    .addHelpText('after', HELP)
    .action(decodeAction);
}

async function decodeAction(paths: string[], opts: DecodeCmdOptions): Promise<void> {
  const format = decodeFormat(opts);
  const resample = opts.resample !== undefined ? parseDuration(opts.resample, '--resample') : null;
  const maxCells = positiveInt(opts.maxCells, '--max-cells');
  const rowGroupSize =
    opts.rowGroupSize !== undefined ? positiveInt(opts.rowGroupSize, '--row-group-size') : DEFAULT_ROW_GROUP_SIZE;
  const config = decoderConfigFrom(opts);
  warnDbc(config);
  const prep = await prepare(paths, opts);
  const job = { ...prep, config, format, resample, maxCells, rowGroupSize, choices: opts.choices === true };
  const t0 = performance.now();
  const { hooks, stop } = reportHooks('decode', prep, opts);
  let result: DecodeResult;
  if (format === 'parquet') {
    // SIGINT/SIGTERM remove the temporary file: the writer installs the handlers when it creates the file
    result = await runDecodeJob(job, { path: opts.output as string, removeOnSignals: true }, hooks).finally(stop);
  } else {
    const out = openOutput(opts.output);
    try {
      result = await runDecodeJob(job, { stream: out.stream }, hooks);
    } catch (e) {
      stop();
      return out.fail(e); // a failed write removes the partial -o file and says so
    }
    stop();
    await out.finish();
  }
  for (const w of result.warnings) process.stderr.write(`sigflow decode: warning: ${w.message}\n`);
  summarise('decode', result.stats, prep, (performance.now() - t0) / 1000, true);
  explainDecoding('decode', result.stats, result.stats.decodeErrorDetail.entries(config), {
    signals: opts.signals,
    window: prep.from !== undefined || prep.to !== undefined,
  });
}

/** --format, and the -o a Parquet file needs (usage errors, before anything is read). */
function decodeFormat(opts: DecodeCmdOptions): DecodeFormat {
  const format = opts.format.toLowerCase();
  if (format !== 'ndjson' && format !== 'csv' && format !== 'parquet')
    throw new SigflowError('SF_ERR_USAGE', `--format ${opts.format}: use ndjson, csv or parquet`);
  if (format === 'parquet') {
    if (!opts.output || opts.output === '-')
      throw new SigflowError('SF_ERR_USAGE', '--format parquet writes a binary file: give it with -o <file.parquet>');
    if (statSync(opts.output, { throwIfNoEntry: false })?.isDirectory())
      throw new SigflowError('SF_ERR_USAGE', `-o ${opts.output}: a folder; give the Parquet file's name`);
  }
  return format;
}

function warnDbc(config: DecoderConfig): void {
  for (const note of config.notes) process.stderr.write(`sigflow decode: note: ${note.message}\n`);
  const n = config.databases.reduce((a, d) => a + d.db.warnings.length, 0);
  if (n > 0) process.stderr.write(`sigflow decode: ${n} DBC warning(s) (details: sigflow dbc inspect <file>)\n`);
}
