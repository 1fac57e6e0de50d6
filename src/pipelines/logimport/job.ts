/**
 * The import job: decode logs with DBC files (src/pipelines/logdecode), turn every decoded frame into a record
 * (records.ts) and put them into the durable outbox of a data directory, from where they reach every sink — the
 * embedded store `<dataDir>/store.db`, and InfluxDB when asked. Files imported before with the same settings are
 * skipped (ledger.ts); a file counts as imported once all its records are in the outbox. At the end the job waits
 * (up to `drainTimeoutMs`) for the sinks to catch up; what they did not take stays in the outbox for the next run.
 *
 * It prints nothing: progress, per-file errors and warnings go to the hooks, the totals come back as an
 * ImportSummary. `sigflow import` is a thin shell over it.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { SigflowError } from '../../errors/index.js';
import { Outbox, type SinkDelivery, type SinkStatus } from '../../outbox/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { createSink } from '../../sinks/index.js';
import {
  type DecoderConfig,
  type DecoderSpec,
  decoderConfigFrom,
  type JobHooks,
  type LogInput,
  type LogSelection,
  type LogStats,
  runLogPipeline,
  selectionOptions,
} from '../logdecode/index.js';
import { ImportLedger, importFingerprint } from './ledger.js';
import { recordsFromBatch } from './records.js';

export interface ImportJob extends LogSelection {
  decoder: DecoderSpec;
  /** Holds the outbox (`outbox/`), the embedded store (`store.db`) and the ledger (`imports.json`); created. */
  dataDir: string;
  /** Also write to this InfluxDB 1.x database (created if missing). */
  influx?: { url: string; database: string };
  /** Import files again even if the ledger says they were imported. */
  force?: boolean;
  /** How long to wait for the sinks to catch up at the end. */
  drainTimeoutMs: number;
  /** The outbox's logger (its warnings: retries, dead letters). */
  logger?: Logger;
}

export interface ImportHooks extends JobHooks {
  /** Every file is read (or failed); the job now waits for the sinks. */
  onFilesDone?: () => void;
  /** The sinks did not catch up in time: the error says which sink is behind and why. */
  onDrainTimeout?: (err: Error) => void;
}

export interface ImportSummary {
  /** Files whose records are all in the outbox (marked in the ledger). */
  imported: number;
  /** Files skipped because the ledger has them with the same size, mtime and settings. */
  skipped: number;
  /** Pipeline totals over the files read (failedFiles: files that could not be read to the end). */
  stats: LogStats;
  /** Records put into the outbox from the files imported. */
  records: number;
  /** The sinks configured for this run, after the drain. */
  sinks: SinkStatus[];
  storePath: string;
  outboxDir: string;
  /** False when the sinks did not catch up within drainTimeoutMs (the backlog stays in the outbox). */
  drained: boolean;
}

/** Records are put into the outbox in batches of this many. */
const BATCH = 5000;

type ImportFile = LogInput & { mtimeMs: number; abs: string };

/** Runs an import; see the module comment. Usage errors (DBC, data directory, ledger) come before any file is read. */
export async function runImport(job: ImportJob, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const config = decoderConfigFrom(job.decoder);
  const dataDir = resolve(job.dataDir);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw new SigflowError('SF_ERR_LOGIMPORT_DATA_DIR', `--data-dir ${dataDir}: ${(e as Error).message}`, {
      where: dataDir,
      cause: e,
    });
  }
  const ledger = new ImportLedger(dataDir);
  const settings = importFingerprint({ ...job.decoder, from: job.from, to: job.to });
  const { todo, skipped } = filesToImport(job, ledger, settings);
  const outbox = Outbox.open({
    dataDir: join(dataDir, 'outbox'),
    sinks: importSinks(dataDir, job.influx),
    whenFull: 'block',
    logger: job.logger,
  });
  outbox.start();
  let run: FilesRun;
  try {
    run = await importFiles(job, config, todo, { outbox, ledger, settings }, hooks);
  } catch (e) {
    await outbox.close();
    throw e;
  }
  hooks.onFilesDone?.();
  const drained = await drain(outbox, job.drainTimeoutMs, hooks);
  const status = outbox.status();
  await outbox.close();
  return {
    ...run,
    skipped,
    sinks: status.sinks.filter((s) => s.active),
    storePath: join(dataDir, 'store.db'),
    outboxDir: join(dataDir, 'outbox'),
    drained,
  };
}

/** Splits the inputs into files to read and files imported before (same size, mtime and settings). */
function filesToImport(
  job: ImportJob,
  ledger: ImportLedger,
  settings: string,
): { todo: ImportFile[]; skipped: number } {
  const todo: ImportFile[] = [];
  let skipped = 0;
  for (const f of job.inputs) {
    const abs = resolve(f.path);
    const st = statSync(abs, { throwIfNoEntry: false });
    // a file gone since the inputs were listed is read anyway: the pipeline reports it like any unreadable file
    if (st && !job.force && ledger.has(abs, st.size, st.mtimeMs, settings)) skipped++;
    else todo.push({ ...f, mtimeMs: st?.mtimeMs ?? 0, abs });
  }
  return { todo, skipped };
}

/**
 * The sinks of an import: the embedded store, and InfluxDB 1.x when asked. (Their configuration keys and
 * defaults: src/sinks/<name>/config.ts.)
 */
function importSinks(dataDir: string, influx: ImportJob['influx']): SinkDelivery[] {
  const sinks: SinkDelivery[] = [{ sink: createSink({ type: 'store', path: join(dataDir, 'store.db') }) }];
  if (influx) {
    sinks.push({
      sink: createSink({
        type: 'influx',
        name: 'influx',
        url: influx.url,
        database: influx.database,
        create_database: true,
      }),
    });
  }
  return sinks;
}

interface FilesRun {
  imported: number;
  records: number;
  stats: LogStats;
}

interface ImportTargets {
  outbox: Outbox;
  ledger: ImportLedger;
  settings: string;
}

/**
 * Reads the files into the outbox. Records of a file that fails part-way are kept (the file is not marked, so a
 * re-run reads it again; the sinks are idempotent).
 */
async function importFiles(
  job: ImportJob,
  config: DecoderConfig,
  todo: ImportFile[],
  { outbox, ledger, settings }: ImportTargets,
  hooks: JobHooks,
): Promise<FilesRun> {
  const batcher = new RecordBatcher(outbox);
  const byPath = new Map(todo.map((t) => [t.path, t]));
  const run = { imported: 0, records: 0 };
  let device = '';
  let file = { records: 0, frames: 0 };
  try {
    const stats = await runLogPipeline(todo, {
      ...selectionOptions(job, { ...hooks, onFileError: batcher.flushing(hooks.onFileError) }, 8192),
      config,
      onFileStart: (f) => {
        device = f.device;
        file = { records: 0, frames: 0 };
      },
      onBatch: async (view) => {
        file.records += batcher.add(view, device);
        file.frames += view.frames.count;
        if (batcher.full) await batcher.flush();
      },
      onFileEnd: async (f) => {
        await batcher.flush();
        run.records += file.records;
        run.imported++;
        const t = byPath.get(f.input.path);
        if (!t) return;
        const { size, mtimeMs } = t;
        ledger.mark(t.abs, {
          size,
          mtimeMs,
          settings,
          device: f.device,
          frames: file.frames,
          records: file.records,
          importedAt: now(),
        });
        if (run.imported % 20 === 0) ledger.save();
      },
    });
    return { ...run, stats };
  } finally {
    ledger.save();
  }
}

function now(): string {
  return new Date().toISOString();
}

/** Collects the records of decoded batches and puts them into the outbox BATCH at a time. */
class RecordBatcher {
  private pending: TelemetryRecord[] = [];

  constructor(private readonly outbox: Outbox) {}

  /** Adds the records of one batch; returns how many. */
  add(view: Parameters<typeof recordsFromBatch>[0], device: string): number {
    const before = this.pending.length;
    recordsFromBatch(view, device, this.pending);
    return this.pending.length - before;
  }

  get full(): boolean {
    return this.pending.length >= BATCH;
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const r = await this.outbox.enqueue(batch);
    if (!r.accepted) {
      throw new SigflowError(
        'SF_ERR_LOGIMPORT_DROPPED',
        'the outbox dropped a batch (drop_newest) — not expected for imports',
      );
    }
  }

  /** A file-error hook that first puts the records read before the failure into the outbox. */
  flushing(next: JobHooks['onFileError']): NonNullable<JobHooks['onFileError']> {
    return async (input, err) => {
      await this.flush();
      await next?.(input, err);
    };
  }
}

async function drain(outbox: Outbox, timeoutMs: number, hooks: ImportHooks): Promise<boolean> {
  try {
    await outbox.drain(timeoutMs);
    return true;
  } catch (e) {
    hooks.onDrainTimeout?.(e as Error);
    return false;
  }
}
