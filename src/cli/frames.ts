/**
 * `sigflow frames <files or folders…>`: the raw bus events of CANedge/MDF4 logs as NDJSON or CSV.
 * Also the plumbing `sigflow decode` shares: input expansion, passwords, time arguments, output stream, progress
 * bar, per-file error reporting and the summary line.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadPasswords, type PasswordBook } from '../formats/canedge/passwords.js';
import { BUS_LIN, EV_CAN_DATA, EV_LIN_FRAME, FLAG_BRS, FLAG_EDL, FLAG_TX, kindOf } from '../formats/mdf4/index.js';
import { expandInputs, type LogInput } from '../pipelines/logdecode/inputs.js';
import type { BatchView, LogStats, PipelineOptions } from '../pipelines/logdecode/pipeline.js';
import { parseTimeArg, TimeArgError } from '../pipelines/logdecode/time.js';
import { CliError } from './errors.js';

/**
 * Output buffer: text is encoded into a 1 MB byte buffer as it is pushed (no long concatenated strings to
 * flatten, far less garbage than joining strings), handed to the stream when full, honouring backpressure.
 */
export class ByteWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  private pending: Buffer[] = [];

  constructor(private readonly out: Writable) {}

  push(text: string): void {
    if (this.pos + text.length * 3 > this.buf.length) this.rotate(text.length * 3);
    this.pos += this.buf.write(text, this.pos);
  }

  private rotate(need: number): void {
    if (this.pos > 0) this.pending.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(1 << 20, need));
    this.pos = 0;
  }

  get full(): boolean {
    return this.pending.length > 0;
  }

  async flush(): Promise<void> {
    if (this.pos > 0) this.rotate(0);
    const parts = this.pending;
    this.pending = [];
    for (const p of parts) {
      if (!this.out.write(p)) await new Promise<void>((r) => this.out.once('drain', r));
    }
  }
}

export interface CommonOptions {
  passwords?: string;
  from?: string;
  to?: string;
  format: string;
  output?: string;
  failFast?: boolean;
  progress?: boolean;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the options both commands share. */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--passwords <file>', 'passwords.json for encrypted logs (MFE/MFM)')
    .option('--from <time>', 'only events at or after this time (ISO 8601, or integer ns since the epoch)')
    .option('--to <time>', 'only events at or before this time (ISO 8601, or integer ns since the epoch)')
    .option('-o, --output <file>', 'write here instead of stdout')
    .option('--fail-fast', 'stop at the first file that cannot be read')
    .option('--no-progress', 'no progress bar (it is only shown when stderr is a terminal)');
}

export interface Prepared {
  inputs: LogInput[];
  passwords?: PasswordBook;
  from?: bigint;
  to?: bigint;
  /** Files that could not even be listed/stat'ed. */
  inputErrors: number;
}

/** Validates the shared arguments (exit 2 on bad usage) and expands the inputs. */
export async function prepare(paths: string[], opts: CommonOptions): Promise<Prepared> {
  let from: bigint | undefined;
  let to: bigint | undefined;
  try {
    if (opts.from !== undefined) from = parseTimeArg(opts.from, '--from');
    if (opts.to !== undefined) to = parseTimeArg(opts.to, '--to');
  } catch (e) {
    if (e instanceof TimeArgError) throw new CliError(e.message, 2);
    throw e;
  }
  if (from !== undefined && to !== undefined && from > to) throw new CliError('--from is after --to', 2);
  let passwords: PasswordBook | undefined;
  if (opts.passwords) {
    try {
      passwords = await loadPasswords(opts.passwords);
    } catch (e) {
      throw new CliError(`--passwords: ${(e as Error).message}`, 2);
    }
  }
  const { files, problems } = await expandInputs(paths);
  for (const p of problems) process.stderr.write(`sigflow: ${p.path}: ${p.message}\n`);
  if (problems.length > 0 && opts.failFast) throw new CliError(`${problems[0].path}: ${problems[0].message}`, 1);
  return { inputs: files, passwords, from, to, inputErrors: problems.length };
}

/** Where output goes: a file (-o) or stdout. `finish` flushes and closes. */
export function openOutput(path: string | undefined): { stream: Writable; finish: () => Promise<void> } {
  if (!path || path === '-') {
    // a closed pipe (`| head`) is handled once for every command in main.ts
    return {
      stream: process.stdout,
      finish: async () => {
        if (process.stdout.writableNeedDrain) await new Promise<void>((r) => process.stdout.once('drain', r));
      },
    };
  }
  const stream = createWriteStream(path);
  let failed: Error | null = null;
  stream.on('error', (e) => {
    failed = e;
  });
  return {
    stream,
    finish: () =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(new CliError(`cannot write ${path}: ${failed.message}`, 1));
        stream.end(() =>
          failed ? reject(new CliError(`cannot write ${path}: ${(failed as Error).message}`, 1)) : resolve(),
        );
      }),
  };
}

/** Progress bar on a TTY (by bytes of input), per-file error lines, and the hooks that feed them. */
export function runHooks(
  command: string,
  prep: Prepared,
  opts: CommonOptions,
): { hooks: Pick<PipelineOptions, 'onProgress' | 'onFileError' | 'onWarning'>; stop: () => void } {
  const totalBytes = prep.inputs.reduce((a, f) => a + f.size, 0);
  const tty = opts.progress !== false && process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${command} [{bar}] {percentage}% | {value}/{total} MB | {file}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(Math.max(1, Math.round(totalBytes / 1e6)), 0, { file: '' });
  const warnedFiles = new Map<string, number>();
  const say = (line: string) => {
    if (bar) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${line}\n`);
  };
  return {
    hooks: {
      onProgress: (done) => bar?.update(Math.round(done / 1e6)),
      onFileError: (input, err) => {
        say(`sigflow ${command}: ${err.message.startsWith(input.path) ? '' : `${input.path}: `}${err.message}`);
        if (opts.failFast) throw new CliError(`stopped after the failure of ${input.path} (--fail-fast)`, 1);
      },
      onWarning: (input, w) => {
        const n = (warnedFiles.get(input.path) ?? 0) + 1;
        warnedFiles.set(input.path, n);
        if (n <= 5) say(`sigflow ${command}: warning: ${input.path}: ${w.message} (at byte ${w.offset})`);
        else if (n === 6) say(`sigflow ${command}: warning: ${input.path}: more warnings not shown`);
      },
    },
    stop: () => bar?.stop(),
  };
}

/** The final summary line on stderr; sets the exit code 1 when any file failed. */
export function summarise(command: string, stats: LogStats, prep: Prepared, seconds: number, decode: boolean): void {
  const failed = stats.failedFiles + prep.inputErrors;
  const parts = [
    `${stats.files + prep.inputErrors} file(s)`,
    `${failed} failed`,
    `${stats.frames} frames`,
    `${stats.events - stats.frames} other events`,
  ];
  if (decode) {
    parts.push(
      `${stats.decodedFrames} decoded`,
      `${stats.values} values`,
      `${stats.unknownIds} unknown ids`,
      `${stats.decodeErrors} decode errors`,
    );
  }
  if (stats.warnings) parts.push(`${stats.warnings} warnings`);
  parts.push(`${(stats.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s`);
  process.stderr.write(`sigflow ${command}: ${parts.join(', ')}\n`);
  if (failed > 0) process.exitCode = 1;
}

const KIND_JSON = ['', ',"kind":"remote"', ',"kind":"error"'];

/** Formats the frames of one batch; returns nothing, pushes text into `w`. */
export function formatFrames(view: BatchView, w: ByteWriter, csv: boolean): void {
  const b = view.frames;
  const n = b.count;
  const time = view.time;
  const off = b.offsetNs;
  const hexSrc = Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  const { bus, channel, id, flags, dlc, length, dataStart, type } = b;
  for (let i = 0; i < n; i++) {
    const f = flags[i];
    const ty = type[i];
    const data = hexSrc.toString('hex', dataStart[i], dataStart[i + 1]);
    const busName = bus[i] === BUS_LIN ? 'LIN' : 'CAN';
    const kind = ty === EV_CAN_DATA || ty === EV_LIN_FRAME ? 0 : kindOf(ty) === 'remote' ? 1 : 2;
    if (csv) {
      w.push(
        `${time.format(off[i])},${busName},${channel[i]},${id[i]},${f & 1 ? 1 : 0},${f & FLAG_TX ? 1 : 0},${dlc[i]},${length[i]},${f & FLAG_EDL ? 1 : 0},${f & FLAG_BRS ? 1 : 0},${data},${kind === 0 ? 'data' : kind === 1 ? 'remote' : 'error'}\n`,
      );
    } else {
      w.push(
        `{"t":"${time.format(off[i])}","bus":"${busName}","chn":${channel[i]},"id":${id[i]},"ext":${(f & 1) === 1},"dir":${f & FLAG_TX ? 1 : 0},"dlc":${dlc[i]},"len":${length[i]},"edl":${(f & FLAG_EDL) !== 0},"brs":${(f & FLAG_BRS) !== 0}${KIND_JSON[kind]},"data":"${data}"}\n`,
      );
    }
  }
}

export const FRAMES_CSV_HEADER = 't,bus,chn,id,ext,dir,dlc,len,edl,brs,data,kind\n';

export function registerFramesCommands(program: Command): void {
  const cmd = program
    .command('frames')
    .description('raw bus frames of CANedge / MDF4 logs (MF4, MFC, MFE, MFM; folders are read recursively)')
    .argument('<inputs...>', 'log files or folders');
  addCommonOptions(cmd)
    .option('--format <format>', 'ndjson or csv', 'ndjson')
    .addHelpText(
      'after',
      `
NDJSON lines (t = ns since the epoch, as a string; data = hex of the first len bytes; dir 0 Rx, 1 Tx):
  {"t":"1641469577108050000","bus":"CAN","chn":1,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"0a1b…"}
Remote and error events carry "kind":"remote"|"error" before "data"; data frames (CAN and LIN) have no kind.
CSV columns: ${FRAMES_CSV_HEADER.trim()}
Files are read in CANedge tree order (device, session, split); a file that cannot be read is reported on
stderr and skipped (exit code 1 at the end). A summary line goes to stderr.`,
    )
    .action(async (paths: string[], opts: CommonOptions) => {
      const format = opts.format.toLowerCase();
      if (format !== 'ndjson' && format !== 'csv') {
        throw new CliError(`--format ${opts.format}: frames supports ndjson or csv`, 2);
      }
      const prep = await prepare(paths, opts);
      const t0 = performance.now();
      const out = openOutput(opts.output);
      const w = new ByteWriter(out.stream);
      const csv = format === 'csv';
      if (csv) w.push(FRAMES_CSV_HEADER);
      const { hooks, stop } = runHooks('frames', prep, opts);
      const { runLogPipeline } = await import('../pipelines/logdecode/pipeline.js');
      let stats: LogStats;
      try {
        stats = await runLogPipeline(prep.inputs, {
          passwords: prep.passwords,
          from: prep.from,
          to: prep.to,
          // small batches bound the formatted output held before a flush
          batchSize: 8192,
          ...hooks,
          onBatch: async (view) => {
            formatFrames(view, w, csv);
            if (w.full) await w.flush();
          },
        });
      } finally {
        stop();
        await w.flush();
        await out.finish();
      }
      summarise('frames', stats, prep, (performance.now() - t0) / 1000, false);
    });
}
