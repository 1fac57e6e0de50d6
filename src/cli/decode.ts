/**
 * `sigflow decode <files or folders…> --dbc a.dbc …`: decoded signal values of CANedge/MDF4 logs as NDJSON, long
 * CSV, or (with --resample) wide CSV. See the help text and src/pipelines/logdecode/README.md for the rules.
 */
import type { Command } from 'commander';
import type { DecodedBatch } from '../codecs/dbc/database.js';
import {
  buildDecoderConfig,
  type ChannelSpec,
  DbcConfigError,
  type DecoderConfig,
  parseChannelSpec,
  parseSignalFilter,
} from '../pipelines/logdecode/dbcset.js';
import { type BatchView, forEachValue, type LogStats, runLogPipeline } from '../pipelines/logdecode/pipeline.js';
import { parseDuration, TimeArgError } from '../pipelines/logdecode/time.js';
import { CliError } from './errors.js';
import {
  addCommonOptions,
  ByteWriter,
  type CommonOptions,
  collect,
  openOutput,
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
  private readonly rows = new Map<string, Map<bigint, (number | bigint | undefined)[]>>();
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
    let row: (number | bigint | undefined)[] = [];
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

  async write(w: ByteWriter): Promise<void> {
    const names = [...this.columns.keys()].sort();
    const order = names.map((n) => this.columns.get(n) as number);
    w.push(`t,device,${names.map(csvField).join(',')}\n`);
    for (const device of [...this.rows.keys()].sort()) {
      const rows = this.rows.get(device) as Map<bigint, (number | bigint | undefined)[]>;
      const keys = [...rows.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const dev = csvField(device);
      for (const k of keys) {
        const r = rows.get(k) as (number | bigint | undefined)[];
        let line = `${k},${dev}`;
        for (const c of order) {
          const v = r[c];
          line += v === undefined ? ',' : typeof v === 'bigint' ? `,${v}` : `,${csvNumber(v)}`;
        }
        w.push(`${line}\n`);
        if (w.full) await w.flush();
      }
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
    .description('decode CANedge / MDF4 logs with DBC files into signal values (NDJSON, CSV, wide CSV)')
    .argument('<inputs...>', 'log files or folders');
  addCommonOptions(cmd)
    .option('--dbc <file>', 'DBC file for every CAN channel (repeatable)', collect, [])
    .option('--channel <CANn=file>', 'DBC file for one CAN channel only, e.g. CAN2=b.dbc (repeatable)', collect, [])
    .option('--signals <regex>', 'only signals whose "message.signal" or "signal" matches')
    .option(
      '--resample <duration>',
      'wide CSV: one row per device and interval (e.g. 1s, 100ms), last value per signal',
    )
    .option('--choices', 'add the VAL_ label of each value ("label" in NDJSON, a label column in CSV)')
    .option('--max-cells <n>', 'memory bound of --resample, in cells', '20000000')
    .option('--format <format>', 'ndjson, csv (long; wide with --resample) or parquet (not supported yet)', 'ndjson')
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
Names: when two loaded messages share a name, the one from another DBC file is shown as "<dbc stem>:<name>" and
duplicates within one file as "<name>#0x<id>". DBC files whose frame ids clash are decoded separately (a frame
then yields values from each); otherwise they are combined.
A file that cannot be read is reported on stderr and skipped (exit code 1 at the end). Bad arguments: exit 2.`,
    )
    .action(async (paths: string[], opts: DecodeCmdOptions) => {
      const format = opts.format.toLowerCase();
      if (format === 'parquet') {
        throw new CliError(
          '--format parquet is not supported yet (no Parquet writer is available); use csv or ndjson',
          2,
        );
      }
      if (format !== 'ndjson' && format !== 'csv') throw new CliError(`--format ${opts.format}: use ndjson or csv`, 2);
      let step: bigint | null = null;
      try {
        if (opts.resample !== undefined) step = parseDuration(opts.resample, '--resample');
      } catch (e) {
        if (e instanceof TimeArgError) throw new CliError(e.message, 2);
        throw e;
      }
      if (step !== null && format !== 'csv')
        throw new CliError('--resample writes wide CSV: use it with --format csv', 2);
      const maxCells = Number(opts.maxCells);
      if (!Number.isSafeInteger(maxCells) || maxCells <= 0)
        throw new CliError(`--max-cells ${opts.maxCells}: a positive integer`, 2);
      const config = decoderConfigFromOptions(opts);
      const dbcWarnings = config.databases.reduce((a, d) => a + d.db.warnings.length, 0);
      if (dbcWarnings > 0)
        process.stderr.write(`sigflow decode: ${dbcWarnings} DBC warning(s) (details: sigflow dbc inspect <file>)\n`);
      const prep = await prepare(paths, opts);
      const t0 = performance.now();
      const out = openOutput(opts.output);
      const w = new ByteWriter(out.stream);
      const csv = format === 'csv';
      const choices = opts.choices === true;
      if (csv && step === null) w.push(`t,device,bus,chn,message,signal,value${choices ? ',label' : ''}\n`);
      const wide = step !== null ? new WideTable(step, maxCells) : null;
      const { hooks, stop } = runHooks('decode', prep, opts);
      let deviceJson = '""';
      let deviceCsv = '';
      let device = '';
      let stats: LogStats;
      try {
        stats = await runLogPipeline(prep.inputs, {
          passwords: prep.passwords,
          from: prep.from,
          to: prep.to,
          config,
          choices,
          // small batches bound the formatted output held before a flush (values per frame × ~150 B)
          batchSize: 4096,
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
