/**
 * `sigflow decode <files or folders…> --dbc a.dbc …`: decoded signal values of CANedge/MDF4 logs as NDJSON, long
 * CSV or Parquet, or (with --resample) wide CSV or Parquet (the Parquet layouts: decode-parquet.ts). See the help
 * text and src/pipelines/logdecode/README.md for the rules.
 */
import { statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type { DecodedBatch } from '../codecs/dbc/database.js';
import { DEFAULT_ROW_GROUP_SIZE, ParquetFileWriter, ParquetWriteError } from '../formats/parquet/writer.js';
import {
  buildDecoderConfig,
  type ChannelSpec,
  DbcConfigError,
  type DecoderConfig,
  parseChannelSpec,
  parseSignalFilter,
} from '../pipelines/logdecode/dbcset.js';
import {
  type BatchView,
  forEachValue,
  type LogStats,
  type PipelineOptions,
  runLogPipeline,
} from '../pipelines/logdecode/pipeline.js';
import { parseDuration, TimeArgError } from '../pipelines/logdecode/time.js';
import { LongParquetTable, type WideCell, type WideRow, type WideSource, writeWideParquet } from './decode-parquet.js';
import { CliError } from './errors.js';
import {
  addCommonOptions,
  ByteWriter,
  type CommonOptions,
  collect,
  openOutput,
  type Prepared,
  prepare,
  runHooks,
  summarise,
} from './frames.js';

interface DecodeCmdOptions extends CommonOptions {
  dbc: string[];
  channel: string[];
  signals?: string;
  resample?: string;
  choices?: boolean;
  maxCells: string;
  rowGroupSize?: string;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A value as JSON: numbers as numbers, bigints (wide integers) as decimal strings, NaN/±Infinity as strings. */
function jsonNumber(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '0' : String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

function csvNumber(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '0' : String(v);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** Formats the values of one batch as NDJSON or long CSV. */
function formatValues(
  view: BatchView,
  config: DecoderConfig,
  w: ByteWriter,
  csv: boolean,
  choices: boolean,
  deviceJson: string,
  deviceCsv: string,
): void {
  const b = view.frames;
  const off = b.offsetNs;
  const chn = b.channel;
  const ids = b.id;
  const time = view.time;
  const decoded = view.decoded as DecodedBatch[];
  const dbs = config.databases;
  let lastI = -1;
  let head = '';
  forEachValue(view, (i, d, k) => {
    const out = decoded[d];
    const db = dbs[d];
    const gi = out.signal[k];
    if (i !== lastI) {
      lastI = i;
      const t = time.format(off[i]);
      head = csv
        ? `${t},${deviceCsv},CAN,${chn[i]},`
        : `{"t":"${t}","device":${deviceJson},"bus":"CAN","chn":${chn[i]},`;
    }
    const wide = db.wide[gi];
    const wv = wide ? out.widePhys[k] : undefined;
    let label = '';
    if (choices && db.hasChoices[gi]) {
      const c = out.choice[k];
      if (c >= 0) label = db.db.labels[c];
    }
    if (csv) {
      const value = wv !== undefined ? String(wv) : csvNumber(out.phys[k]);
      w.push(`${head}${db.csvPrefix[gi]}${value}${choices ? `,${label ? csvField(label) : ''}` : ''}\n`);
    } else {
      const value = wv !== undefined ? `"${wv}"` : jsonNumber(out.phys[k]);
      const m = out.message[i];
      const sa = db.messageJ1939[m] ? `,"sa":${ids[i] & 0xff}` : '';
      w.push(`${head}${db.jsonPrefix[gi]}${value}${sa}${label ? `,"label":${JSON.stringify(label)}` : ''}}\n`);
    }
  });
}

/**
 * Wide CSV with --resample: one row per (device, bucket) where bucket = floor(t / step) · step; one column per
 * `<message>.<signal>` that has a value anywhere; a cell holds the last value of that signal in the bucket in
 * read order (time order within a file; files in tree order), empty when the bucket has none (no fill).
 * Rows are held in memory until the end, bounded by `maxCells` (exit with a clear message beyond).
 */
class WideTable {
  private readonly columns = new Map<string, number>();
  private readonly rows = new Map<string, Map<bigint, WideCell[]>>();
  private cells = 0;

  constructor(
    private readonly step: bigint,
    private readonly maxCells: number,
  ) {}

  add(view: BatchView, config: DecoderConfig, device: string): void {
    const b = view.frames;
    const decoded = view.decoded as DecodedBatch[];
    const dbs = config.databases;
    let rowsOfDevice = this.rows.get(device);
    if (!rowsOfDevice) {
      rowsOfDevice = new Map();
      this.rows.set(device, rowsOfDevice);
    }
    const rows = rowsOfDevice;
    let lastI = -1;
    let row: WideCell[] = [];
    forEachValue(view, (i, d, k) => {
      if (i !== lastI) {
        lastI = i;
        const t = view.time.bigint(b.offsetNs[i]);
        const r = t % this.step;
        const bucket = t - (r < 0n ? r + this.step : r);
        let got = rows.get(bucket);
        if (!got) {
          got = [];
          rows.set(bucket, got);
        }
        row = got;
      }
      const out = decoded[d];
      const gi = out.signal[k];
      const name = dbs[d].column[gi];
      let c = this.columns.get(name);
      if (c === undefined) {
        c = this.columns.size;
        this.columns.set(name, c);
      }
      if (row[c] === undefined) {
        if (++this.cells > this.maxCells) {
          throw new CliError(
            `--resample: more than ${this.maxCells} cells (rows × columns) to hold; use a longer interval, --signals, --from/--to, or --max-cells`,
            1,
          );
        }
      }
      row[c] = dbs[d].wide[gi] ? (out.widePhys[k] ?? out.phys[k]) : out.phys[k];
    });
  }

  /** The table in output order: columns sorted by name; devices sorted, each with its rows by interval. */
  sorted(): WideSource {
    const names = [...this.columns.keys()].sort();
    const order = names.map((n) => this.columns.get(n) as number);
    const rows = this.rows;
    function* iterate(): Generator<WideRow> {
      for (const device of [...rows.keys()].sort()) {
        const byBucket = rows.get(device) as Map<bigint, WideCell[]>;
        const keys = [...byBucket.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const k of keys) {
          const r = byBucket.get(k) as WideCell[];
          yield { t: k, device, cells: order.map((c) => r[c]) };
        }
      }
    }
    return { names, rows: iterate };
  }

  async write(w: ByteWriter): Promise<void> {
    const { names, rows } = this.sorted();
    w.push(`t,device,${names.map(csvField).join(',')}\n`);
    for (const r of rows()) {
      let line = `${r.t},${csvField(r.device)}`;
      for (const v of r.cells) {
        line += v === undefined ? ',' : typeof v === 'bigint' ? `,${v}` : `,${csvNumber(v)}`;
      }
      w.push(`${line}\n`);
      if (w.full) await w.flush();
    }
  }
}

/** The DBC configuration from --dbc / --channel / --signals; a bad one is a usage error (exit 2). */
export function decoderConfigFromOptions(opts: { dbc: string[]; channel: string[]; signals?: string }): DecoderConfig {
  try {
    const channels: ChannelSpec[] = opts.channel.map(parseChannelSpec);
    return buildDecoderConfig({
      dbc: opts.dbc,
      channels,
      signals: opts.signals !== undefined ? parseSignalFilter(opts.signals) : undefined,
    });
  } catch (e) {
    if (e instanceof DbcConfigError) throw new CliError(e.message, 2);
    throw e;
  }
}

export function registerDecodeCommands(program: Command): void {
  const cmd = program
    .command('decode')
    .description('decode CANedge / MDF4 logs with DBC files into signal values (NDJSON, CSV, wide CSV, Parquet)')
    .argument('<inputs...>', 'log files or folders');
  addCommonOptions(cmd)
    .option('--dbc <file>', 'DBC file for every CAN channel (repeatable)', collect, [])
    .option('--channel <CANn=file>', 'DBC file for one CAN channel only, e.g. CAN2=b.dbc (repeatable)', collect, [])
    .option('--signals <regex>', 'only signals whose "message.signal" or "signal" matches')
    .option(
      '--resample <duration>',
      'wide table (CSV or Parquet): one row per device and interval (e.g. 1s, 100ms), last value per signal',
    )
    .option('--choices', 'add the VAL_ label of each value ("label" in NDJSON, a label column in CSV and Parquet)')
    .option('--max-cells <n>', 'memory bound of --resample, in cells', '20000000')
    .option('--format <format>', 'ndjson, csv or parquet (long; wide with --resample; parquet needs -o)', 'ndjson')
    .addOption(new Option('--row-group-size <rows>', 'Parquet rows per row group (internal: tests)').hideHelp())
    .addHelpText(
      'after',
      `
NDJSON lines (t = ns since the epoch, as a string; device = the log's serial number):
  {"t":"1641469577108050000","device":"2F6913DB","bus":"CAN","chn":2,"message":"gnss_status","signal":"Satellites","value":6}
J1939 messages (VFrameFormat J1939PG; matched by PGN when the exact id is not in the DBC) add "sa" (source
address). Values: numbers; integers wider than 2^53 as decimal strings; NaN/±Infinity as strings.
Long CSV columns: t,device,bus,chn,message,signal,value[,label]
Wide CSV (--resample): t (interval start),device, then one column per "message.signal" seen, sorted; a cell is
the last value in the interval, empty when none.
Parquet (-o file required; snappy, row groups of ${DEFAULT_ROW_GROUP_SIZE} rows; written to <file>.<pid>.tmp and
renamed when complete, removed on failure):
  long: t TIMESTAMP(NANOS, UTC), device, bus STRING, chn INT32, message, signal STRING, value DOUBLE,
        value_int INT64, sa INT32, label STRING (--choices); value_int, sa and label may be null.
        value is always set (NaN/±Infinity kept). For integers wider than 2^53 value_int holds the exact value and
        value the nearest double; one outside the INT64 range (e.g. unsigned ≥ 2^63) has value_int null and is
        counted in a warning. sa: J1939 source address (null otherwise); label: VAL_ text (null when none).
  wide (--resample): t TIMESTAMP(NANOS, UTC), device STRING, then one nullable column per "message.signal",
        sorted: DOUBLE; INT64 for a signal decoded as exact integers (one that can exceed 2^53) when all its
        values fit INT64 (otherwise DOUBLE, and the rounded values are counted in a warning).
Names: when two loaded messages share a name, the one from another DBC file is shown as "<dbc stem>:<name>" and
duplicates within one file as "<name>#0x<id>". DBC files whose frame ids clash are decoded separately (a frame
then yields values from each); otherwise they are combined.
A file that cannot be read is reported on stderr and skipped (exit code 1 at the end). Bad arguments: exit 2.`,
    )
    .action(async (paths: string[], opts: DecodeCmdOptions) => {
      const format = opts.format.toLowerCase();
      if (format !== 'ndjson' && format !== 'csv' && format !== 'parquet')
        throw new CliError(`--format ${opts.format}: use ndjson, csv or parquet`, 2);
      const parquet = format === 'parquet';
      if (parquet && (!opts.output || opts.output === '-'))
        throw new CliError('--format parquet writes a binary file: give it with -o <file.parquet>', 2);
      let step: bigint | null = null;
      try {
        if (opts.resample !== undefined) step = parseDuration(opts.resample, '--resample');
      } catch (e) {
        if (e instanceof TimeArgError) throw new CliError(e.message, 2);
        throw e;
      }
      if (step !== null && format === 'ndjson')
        throw new CliError('--resample writes a wide table: use it with --format csv or --format parquet', 2);
      const maxCells = Number(opts.maxCells);
      if (!Number.isSafeInteger(maxCells) || maxCells <= 0)
        throw new CliError(`--max-cells ${opts.maxCells}: a positive integer`, 2);
      let rowGroupSize = DEFAULT_ROW_GROUP_SIZE;
      if (opts.rowGroupSize !== undefined) {
        rowGroupSize = Number(opts.rowGroupSize);
        if (!Number.isSafeInteger(rowGroupSize) || rowGroupSize <= 0)
          throw new CliError(`--row-group-size ${opts.rowGroupSize}: a positive integer`, 2);
      }
      const config = decoderConfigFromOptions(opts);
      const dbcWarnings = config.databases.reduce((a, d) => a + d.db.warnings.length, 0);
      if (dbcWarnings > 0)
        process.stderr.write(`sigflow decode: ${dbcWarnings} DBC warning(s) (details: sigflow dbc inspect <file>)\n`);
      const prep = await prepare(paths, opts);
      const choices = opts.choices === true;
      const wide = step !== null ? new WideTable(step, maxCells) : null;
      if (parquet) {
        await decodeToParquet(prep, opts, config, opts.output as string, { wide, choices, rowGroupSize });
        return;
      }
      const t0 = performance.now();
      const out = openOutput(opts.output);
      const w = new ByteWriter(out.stream);
      const csv = format === 'csv';
      if (csv && step === null) w.push(`t,device,bus,chn,message,signal,value${choices ? ',label' : ''}\n`);
      const { hooks, stop } = runHooks('decode', prep, opts);
      let deviceJson = '""';
      let deviceCsv = '';
      let device = '';
      let stats: LogStats;
      try {
        stats = await runLogPipeline(prep.inputs, {
          ...pipelineOptions(prep, config, choices),
          ...hooks,
          onFileStart: (f) => {
            device = f.device;
            deviceJson = JSON.stringify(f.device);
            deviceCsv = csvField(f.device);
          },
          onBatch: async (view) => {
            if (wide) wide.add(view, config, device);
            else {
              formatValues(view, config, w, csv, choices, deviceJson, deviceCsv);
              if (w.full) await w.flush();
            }
          },
        });
        if (wide) await wide.write(w);
      } finally {
        stop();
        await w.flush();
        await out.finish();
      }
      summarise('decode', stats, prep, (performance.now() - t0) / 1000, true);
    });
}

function pipelineOptions(prep: Prepared, config: DecoderConfig, choices: boolean): PipelineOptions {
  return {
    passwords: prep.passwords,
    from: prep.from,
    to: prep.to,
    config,
    choices,
    // small batches bound the output held before a flush (values per frame × ~150 B of text, or Parquet rows)
    batchSize: 4096,
  };
}

/**
 * --format parquet: the long table is encoded into row groups while decoding; the wide table (--resample) is
 * collected in memory as for CSV and written at the end. The file only appears under its name when complete: an
 * error (or SIGINT/SIGTERM) removes the temporary file.
 */
async function decodeToParquet(
  prep: Prepared,
  opts: DecodeCmdOptions,
  config: DecoderConfig,
  path: string,
  o: { wide: WideTable | null; choices: boolean; rowGroupSize: number },
): Promise<void> {
  const t0 = performance.now();
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory())
    throw new CliError(`-o ${path}: a folder; give the Parquet file's name`, 2);
  let file: ParquetFileWriter;
  try {
    file = await ParquetFileWriter.open(path, {
      rowGroupSize: o.rowGroupSize,
      metadata: { 'sigflow.layout': o.wide ? 'wide' : 'long' },
    });
  } catch (e) {
    if (e instanceof ParquetWriteError) throw new CliError(e.message, 1);
    throw e;
  }
  const onSignal = (signal: NodeJS.Signals) => {
    file.discardSync();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const { hooks, stop } = runHooks('decode', prep, opts);
  let long: LongParquetTable | null = null;
  let device = '';
  let stats: LogStats;
  let rounded = 0;
  try {
    const table = o.wide ? null : new LongParquetTable(file, config, o.choices);
    long = table;
    stats = await runLogPipeline(prep.inputs, {
      ...pipelineOptions(prep, config, o.choices),
      ...hooks,
      onFileStart: (f) => {
        device = f.device;
      },
      onBatch: async (view) => {
        if (o.wide) o.wide.add(view, config, device);
        else {
          (table as LongParquetTable).add(view, device);
          if (file.hasPending) await file.drain();
        }
      },
    });
    if (o.wide) rounded = (await writeWideParquet(file, o.wide.sorted())).rounded;
    await file.close();
  } catch (e) {
    await file.abort();
    if (e instanceof ParquetWriteError) throw new CliError(e.message, 1);
    throw e;
  } finally {
    stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const beyond = long?.beyondInt64 ?? 0;
  if (beyond > 0)
    process.stderr.write(
      `sigflow decode: warning: ${beyond} integer value(s) outside the INT64 range: value_int is null, value holds the nearest double\n`,
    );
  if (rounded > 0)
    process.stderr.write(
      `sigflow decode: warning: ${rounded} integer value(s) wider than 2^53 in DOUBLE columns of the wide table (rounded)\n`,
    );
  summarise('decode', stats, prep, (performance.now() - t0) / 1000, true);
}
