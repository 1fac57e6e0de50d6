/**
 * The two jobs over the pipeline that write a file or stream: `runFramesJob` (raw bus events as NDJSON or CSV) and
 * `runDecodeJob` (decoded values as NDJSON, long CSV, Parquet; with `resample` a wide CSV or Parquet table). They
 * print nothing: progress, per-file errors and warnings go to the caller's hooks, totals and the job's own
 * warnings come back in the result. `sigflow frames` and `sigflow decode` are thin shells over them.
 */
import type { Writable } from 'node:stream';
import { SigflowError, type WarningCode } from '../../errors/index.js';
import type { PasswordBook } from '../../formats/canedge/index.js';
import { DEFAULT_ROW_GROUP_SIZE, ParquetFileWriter } from '../../formats/parquet/index.js';
import type { DecoderConfig } from './dbcset.js';
import type { LogInput } from './inputs.js';
import { ByteWriter } from './output/byte-writer.js';
import { FRAMES_CSV_HEADER, type FramesFormat, formatFrames } from './output/frames.js';
import { LongParquetTable, writeWideParquet } from './output/parquet.js';
import { deviceText, formatValues, longCsvHeader } from './output/values.js';
import { WideTable, writeWideCsv } from './output/wide.js';
import { type LogStats, type PipelineOptions, runLogPipeline } from './pipeline.js';

/** Which logs to read, and the time window (inclusive, ns since the epoch). */
export interface LogSelection {
  inputs: LogInput[];
  passwords?: PasswordBook;
  from?: bigint;
  to?: bigint;
  /** Stop at the first file that cannot be read (SF_ERR_LOGDECODE_FAIL_FAST) instead of skipping it. */
  failFast?: boolean;
}

/** What a job reports while it runs. A file that cannot be read goes to onFileError, then the job goes on. */
export type JobHooks = Pick<PipelineOptions, 'onProgress' | 'onFileError' | 'onWarning'>;

/** A warning of the job itself (not of one log file). */
export interface JobWarning {
  code: WarningCode;
  message: string;
}

/** The pipeline options every job shares: the selection, batch size, and the hooks (with fail-fast). */
export function selectionOptions(sel: LogSelection, hooks: JobHooks, batchSize: number): PipelineOptions {
  return {
    passwords: sel.passwords,
    from: sel.from,
    to: sel.to,
    batchSize,
    onProgress: hooks.onProgress,
    onWarning: hooks.onWarning,
    onFileError: async (input, err) => {
      await hooks.onFileError?.(input, err);
      if (sel.failFast) {
        throw new SigflowError(
          'SF_ERR_LOGDECODE_FAIL_FAST',
          `stopped after the failure of ${input.path} (--fail-fast)`,
          {
            where: input.path,
            cause: err,
          },
        );
      }
    },
  };
}

export interface FramesJob extends LogSelection {
  format: FramesFormat;
}

/** Writes the bus events of the selected logs to `out` (NDJSON lines or CSV with a header). */
export async function runFramesJob(job: FramesJob, out: Writable, hooks: JobHooks = {}): Promise<LogStats> {
  const w = new ByteWriter(out);
  const csv = job.format === 'csv';
  if (csv) w.push(FRAMES_CSV_HEADER);
  try {
    return await runLogPipeline(job.inputs, {
      // small batches bound the formatted output held before a flush
      ...selectionOptions(job, hooks, 8192),
      onBatch: async (view) => {
        formatFrames(view, w, csv);
        if (w.full) await w.flush();
      },
    });
  } finally {
    await w.flush();
  }
}

export type DecodeFormat = 'ndjson' | 'csv' | 'parquet';

export interface DecodeJob extends LogSelection {
  config: DecoderConfig;
  format: DecodeFormat;
  /** Wide table (CSV or Parquet): one row per device and interval of this many ns. */
  resample?: bigint | null;
  /** Memory bound of the wide table, in cells (default 20 M). */
  maxCells?: number;
  /** Add the VAL_ label of each value. */
  choices?: boolean;
  /** Parquet rows per row group (default DEFAULT_ROW_GROUP_SIZE). */
  rowGroupSize?: number;
}

/**
 * Where decoded values go: a stream for NDJSON and CSV, a file path for Parquet. `removeOnSignals` (Parquet, for
 * a command line): SIGINT/SIGTERM remove the temporary file before the process dies of the signal (the job
 * itself removes it on any error); the handlers exist from the moment the file does (src/formats/parquet).
 */
export type DecodeTarget = { stream: Writable } | { path: string; removeOnSignals?: boolean };

export type DecodeHooks = JobHooks;

export interface DecodeResult {
  stats: LogStats;
  warnings: JobWarning[];
}

/** Decodes the selected logs into the target; see the module comment. */
export async function runDecodeJob(
  job: DecodeJob,
  target: DecodeTarget,
  hooks: DecodeHooks = {},
): Promise<DecodeResult> {
  if (job.resample != null && job.format === 'ndjson') {
    throw new SigflowError(
      'SF_ERR_USAGE',
      '--resample writes a wide table: use it with --format csv or --format parquet',
    );
  }
  if (job.format === 'parquet') {
    if (!('path' in target)) {
      throw new SigflowError('SF_ERR_USAGE', '--format parquet writes a binary file: give it with -o <file.parquet>');
    }
    return decodeToParquet(job, target.path, target.removeOnSignals === true, hooks);
  }
  if (!('stream' in target)) {
    // a caller's bug: the text formats are written to a stream (the CLI opens the -o file as one)
    throw new SigflowError('SF_ERR_INTERNAL', `--format ${job.format} is written to a stream, not to a path`);
  }
  return { stats: await decodeToText(job, target.stream, hooks), warnings: [] };
}

function wideTableOf(job: DecodeJob): WideTable | null {
  return job.resample != null ? new WideTable(job.resample, job.maxCells ?? 20_000_000) : null;
}

function decodeOptions(job: DecodeJob, hooks: JobHooks): PipelineOptions {
  // small batches bound the output held before a flush (values per frame × ~150 B of text, or Parquet rows)
  return { ...selectionOptions(job, hooks, 4096), config: job.config, choices: job.choices ?? false };
}

async function decodeToText(job: DecodeJob, out: Writable, hooks: JobHooks): Promise<LogStats> {
  const w = new ByteWriter(out);
  const csv = job.format === 'csv';
  const choices = job.choices ?? false;
  const wide = wideTableOf(job);
  if (csv && !wide) w.push(longCsvHeader(choices));
  let device = '';
  let text = deviceText(device);
  try {
    const stats = await runLogPipeline(job.inputs, {
      ...decodeOptions(job, hooks),
      onFileStart: (f) => {
        device = f.device;
        text = deviceText(f.device);
      },
      onBatch: async (view) => {
        if (wide) wide.add(view, job.config, device);
        else {
          formatValues(view, job.config, w, csv, choices, text);
          if (w.full) await w.flush();
        }
      },
    });
    if (wide) await writeWideCsv(wide.sorted(), w);
    return stats;
  } finally {
    await w.flush();
  }
}

/**
 * Parquet: the long table is encoded into row groups while decoding; the wide table is collected in memory as for
 * CSV and written at the end. The file only appears under its name when complete: an error removes the temporary
 * file (and with `removeOnSignals` so does SIGINT/SIGTERM).
 */
async function decodeToParquet(
  job: DecodeJob,
  path: string,
  removeOnSignals: boolean,
  hooks: DecodeHooks,
): Promise<DecodeResult> {
  const wide = wideTableOf(job);
  const file = await ParquetFileWriter.open(path, {
    rowGroupSize: job.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE,
    metadata: { 'sigflow.layout': wide ? 'wide' : 'long' },
    removeOnSignals,
  });
  let long: LongParquetTable | null = null;
  let rounded = 0;
  let device = '';
  let stats: LogStats;
  try {
    const table = wide ? null : new LongParquetTable(file, job.config, job.choices ?? false);
    long = table;
    stats = await runLogPipeline(job.inputs, {
      ...decodeOptions(job, hooks),
      onFileStart: (f) => {
        device = f.device;
      },
      onBatch: async (view) => {
        if (wide) wide.add(view, job.config, device);
        else {
          (table as LongParquetTable).add(view, device);
          if (file.hasPending) await file.drain();
        }
      },
    });
    if (wide) rounded = (await writeWideParquet(file, wide.sorted())).rounded;
    await file.close();
  } catch (e) {
    await file.abort();
    throw e;
  }
  return { stats, warnings: parquetWarnings(long?.beyondInt64 ?? 0, rounded) };
}

function parquetWarnings(beyondInt64: number, rounded: number): JobWarning[] {
  const warnings: JobWarning[] = [];
  if (beyondInt64 > 0) {
    warnings.push({
      code: 'SF_WARN_LOGDECODE_BEYOND_INT64',
      message: `${beyondInt64} integer value(s) outside the INT64 range: value_int is null, value holds the nearest double`,
    });
  }
  if (rounded > 0) {
    warnings.push({
      code: 'SF_WARN_LOGDECODE_ROUNDED',
      message: `${rounded} integer value(s) wider than 2^53 in DOUBLE columns of the wide table (rounded)`,
    });
  }
  return warnings;
}
