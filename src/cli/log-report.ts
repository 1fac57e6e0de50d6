/**
 * What the log commands print on stderr while and after they run: a progress bar on a terminal (by bytes of input),
 * one line per file that cannot be read, at most five warnings per file, and the summary line.
 */
import cliProgress from 'cli-progress';
import {
  type DecodeErrorEntry,
  describeDecodeErrors,
  explainNoValues,
  type JobHooks,
  type LogStats,
} from '../pipelines/logdecode/index.js';
import { describeStats } from '../transport/index.js';
import type { CommonOptions, Prepared } from './log-args.js';

/** The hooks that feed the progress bar and the per-file lines; `stop` removes the bar. */
export function reportHooks(
  command: string,
  prep: Prepared,
  opts: CommonOptions,
): { hooks: JobHooks; stop: () => void } {
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

/** The final summary line on stderr; sets the exit status 1 when any file failed. */
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

/**
 * After a decoding run's summary: the per-message breakdown of decode errors, and why there is no value at all
 * when that happened (the filter that matched nothing), on stderr.
 */
export function explainDecoding(
  command: string,
  stats: LogStats,
  errors: DecodeErrorEntry[],
  ctx: { signals?: string; window?: boolean },
): void {
  if (errors.length > 0) {
    process.stderr.write(`sigflow ${command}: ${stats.decodeErrors} decode error(s), by message:\n`);
    for (const line of describeDecodeErrors(errors)) process.stderr.write(`  ${line}\n`);
  }
  for (const t of stats.transport)
    process.stderr.write(`sigflow ${command}: reassembled ${describeStats(t.protocol, t.stats)}\n`);
  const why = explainNoValues(stats, { ...ctx, files: stats.files - stats.failedFiles });
  if (why) process.stderr.write(`sigflow ${command}: ${why}\n`);
}
