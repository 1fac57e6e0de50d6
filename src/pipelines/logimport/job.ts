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
import { accessSync, constants, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadNote } from '../../codecs/dbc/index.js';
import { SigflowError } from '../../errors/index.js';
import { makeDirectory } from '../../io/index.js';
import { Outbox, type SinkDelivery, type SinkStatus } from '../../outbox/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { createSink } from '../../sinks/index.js';
import {
  addStats,
  type DecodeErrorEntry,
  type DecoderConfig,
  type DecoderSpec,
  decoderConfigFrom,
  emptyStats,
  type JobHooks,
  type LogInput,
  type LogSelection,
  type LogStats,
  runLogPipeline,
  selectionOptions,
} from '../logdecode/index.js';
import { ImportLedger, importFingerprint } from './ledger.js';
import { forgetLostFiles, type ImportRecovery, type SinkRun, sinkRuns } from './losses.js';
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
  /**
   * Stops the import early (Ctrl-C, SIGTERM; the abort reason names it): reading stops at the next batch, the files
   * whose records are all in the outbox stay marked in the ledger (saved), the drain is skipped, and the summary
   * says `interrupted`. What the outbox accepted is kept and delivered on the next run.
   */
  signal?: AbortSignal;
}

export interface ImportHooks extends JobHooks {
  /** Every file is read (or failed); the job now waits for the sinks. */
  onFilesDone?: () => void;
  /** The sinks did not catch up in time: the error says which sink is behind and why. */
  onDrainTimeout?: (err: Error) => void;
  /** A sink's server did not answer the probe at the start (its records wait in the outbox). */
  onSinkUnreachable?: (sink: string, reason: string) => void;
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
  /** The sinks configured for this run, after the drain (their counters are the outbox's lifetime totals). */
  sinks: SinkStatus[];
  /** This run's figures per configured sink (delivered/dead-lettered/dropped in this run, pending now), and lifetime. */
  sinkRuns: SinkRun[];
  /**
   * Records a damaged outbox file lost (found when it was opened), and the files forgotten in the ledger so they
   * are read again; null when nothing was lost since the last import.
   */
  recovery: ImportRecovery | null;
  storePath: string;
  outboxDir: string;
  /** False when the sinks did not catch up within drainTimeoutMs (the backlog stays in the outbox). */
  drained: boolean;
  /** The abort reason (e.g. 'SIGINT') when job.signal stopped the import early, else null. */
  interrupted: string | null;
  /** Records the outbox accepted in this run, including those of a file not read to the end. */
  acceptedRecords: number;
  /** Sinks not configured in this run whose backlog still waits in the outbox (e.g. influx without --influx). */
  waitingSinks: SinkStatus[];
  /** About the DBC files: loaded once (same contents), defining nothing. */
  decoderNotes: LoadNote[];
  /** Decode errors per message and reason, most frequent first. */
  decodeErrors: DecodeErrorEntry[];
}

/** Records are put into the outbox in batches of this many. */
const BATCH = 5000;

type ImportFile = LogInput & { mtimeMs: number; abs: string };

/** Runs an import; see the module comment. Usage errors (DBC, data directory, ledger) come before any file is read. */
export async function runImport(job: ImportJob, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const config = decoderConfigFrom(job.decoder);
  const dataDir = resolve(job.dataDir);
  try {
    makeDirectory(dataDir, 'data directory'); // not mkdir -p: Node's loops forever under /proc
  } catch (e) {
    throw new SigflowError('SF_ERR_LOGIMPORT_DATA_DIR', `--data-dir ${dataDir}: ${(e as Error).message}`, {
      where: dataDir,
      cause: e,
    });
  }
  checkWritable(dataDir);
  const ledger = new ImportLedger(dataDir);
  const settings = importFingerprint({ ...job.decoder, from: job.from, to: job.to });
  const sinks = importSinks(dataDir, job.influx);
  const outbox = Outbox.open({
    dataDir: join(dataDir, 'outbox'),
    sinks,
    whenFull: 'block',
    logger: job.logger,
  });
  // The outbox does not own the sinks: closed after it (the store's file is then left complete, without -wal/-shm).
  const closeAll = async (timeoutMs?: number) => {
    await outbox.close(timeoutMs);
    for (const s of sinks) await s.sink.close().catch(() => undefined);
  };
  // Before choosing the files: those whose records a damaged outbox lost are forgotten, so they are read again.
  let recovery: ImportRecovery | null;
  try {
    recovery = forgetLostFiles(outbox.store, ledger);
  } catch (e) {
    await closeAll();
    throw e;
  }
  const { todo, skipped } = filesToImport(job, ledger, settings);
  const before = outbox.status().sinks;
  await probeSinks(sinks, hooks, job.signal);
  outbox.start();
  let run: FilesRun;
  try {
    run = await importFiles(job, config, todo, { outbox, ledger, settings }, hooks);
  } catch (e) {
    await closeAll();
    throw e;
  }
  hooks.onFilesDone?.();
  // interrupted: no drain (what the outbox holds is delivered on the next run); writes in flight get 2 s
  const drained = job.signal?.aborted
    ? false
    : await drain(
        outbox,
        { timeoutMs: job.drainTimeoutMs, settleMs: job.influx ? INFLUX_TIMEOUT_MS : 0 },
        hooks,
        job.signal,
      );
  const status = outbox.status();
  await closeAll(job.signal?.aborted ? 2000 : undefined);
  return {
    ...run,
    skipped,
    interrupted: job.signal?.aborted ? String(job.signal.reason ?? 'interrupted') : null,
    waitingSinks: status.sinks.filter((s) => !s.active && s.pendingRecords > 0),
    sinks: status.sinks.filter((s) => s.active),
    sinkRuns: sinkRuns(
      before,
      status.sinks.filter((s) => s.active),
    ),
    recovery,
    storePath: join(dataDir, 'store.db'),
    outboxDir: join(dataDir, 'outbox'),
    drained,
    decoderNotes: config.notes,
    decodeErrors: run.stats.decodeErrorDetail.entries(config),
  };
}

/** A data directory that exists but cannot be written (read-only mount, permissions): said before anything opens. */
function checkWritable(dataDir: string): void {
  try {
    accessSync(dataDir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EROFS' ? 'is on a read-only file system' : `is not writable (${code ?? (e as Error).message})`;
    throw new SigflowError('SF_ERR_LOGIMPORT_DATA_DIR', `--data-dir ${dataDir} ${why}: give a writable folder`, {
      where: dataDir,
      cause: e,
    });
  }
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
    const abs = f.open ? f.path : resolve(f.path);
    // an S3 object: the listing gave its size and LastModified
    const st = f.open ? { size: f.size, mtimeMs: f.mtimeMs ?? 0 } : statSync(abs, { throwIfNoEntry: false });
    // a file gone since the inputs were listed is read anyway: the pipeline reports it like any unreadable file
    if (st && !job.force && ledger.has(abs, st.size, st.mtimeMs, settings)) skipped++;
    else todo.push({ ...f, mtimeMs: st?.mtimeMs ?? 0, abs });
  }
  return { todo, skipped };
}

/** An import's InfluxDB requests: no answer within this → retried later (and said so: "no answer within 10s"). */
const INFLUX_TIMEOUT_MS = 10_000;

/**
 * Asks each sink that can (InfluxDB) once whether its server answers, before any file is read: one warning at the
 * start instead of minutes of retries. The records are kept in the outbox either way.
 */
async function probeSinks(sinks: SinkDelivery[], hooks: ImportHooks, signal?: AbortSignal): Promise<void> {
  await Promise.all(
    sinks.map(async ({ sink }) => {
      const why = sink.probe ? await sink.probe(signal) : null;
      if (why !== null && !signal?.aborted) hooks.onSinkUnreachable?.(sink.name, why);
    }),
  );
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
        timeout: INFLUX_TIMEOUT_MS,
      }),
    });
  }
  return sinks;
}

interface FilesRun {
  imported: number;
  records: number;
  acceptedRecords: number;
  stats: LogStats;
}

/** Thrown from the pipeline's callbacks when job.signal aborts: stops the run; never escapes importFiles. */
class Interrupted {}

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
  // Ctrl-C: stop at the next file or batch (the records of the file being read are not put in; it is read again)
  const stopIfInterrupted = () => {
    if (job.signal?.aborted) throw new Interrupted();
  };
  const done = emptyStats(); // totals of the files read to the end or failed, for an interrupted run
  const onFileError: NonNullable<JobHooks['onFileError']> = async (input, err) => {
    done.files++;
    done.failedFiles++;
    await hooks.onFileError?.(input, err);
  };
  try {
    const stats = await runLogPipeline(todo, {
      ...selectionOptions(job, { ...hooks, onFileError: batcher.flushing(onFileError) }, 8192),
      config,
      onFileStart: (f) => {
        stopIfInterrupted();
        batcher.fileBatches = null;
        device = f.device;
        file = { records: 0, frames: 0 };
      },
      onBatch: async (view) => {
        stopIfInterrupted();
        file.records += batcher.add(view, device);
        file.frames += view.frames.count;
        if (batcher.full) await batcher.flush();
      },
      onFileEnd: async (f, fileStats) => {
        await batcher.flush();
        addStats(done, fileStats);
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
          ...(batcher.fileBatches ? { batches: batcher.fileBatches } : {}),
        });
        if (run.imported % 20 === 0) ledger.save();
      },
    });
    return { ...run, acceptedRecords: batcher.accepted, stats };
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    return { ...run, acceptedRecords: batcher.accepted, stats: done };
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
  /** The outbox batch ids [first, last] of the current file's records (reset at each file's start). */
  fileBatches: [number, number] | null = null;
  /** Records the outbox accepted so far. */
  accepted = 0;

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
    if (r.accepted) this.accepted += batch.length;
    if (r.id !== null) this.fileBatches = [this.fileBatches?.[0] ?? r.id, r.id];
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

/**
 * Waits for the sinks (up to timeoutMs, or until `signal` aborts); false when they did not catch up. A write still
 * on the wire at the deadline gets up to `settleMs` (the request timeout) more, so the report says why the sink is
 * behind ("no answer within 10s") instead of nothing.
 */
async function drain(
  outbox: Outbox,
  { timeoutMs, settleMs }: { timeoutMs: number; settleMs: number },
  hooks: ImportHooks,
  signal?: AbortSignal,
): Promise<boolean> {
  let onAbort = () => {};
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const writeOnTheWire = () => outbox.status().sinks.some((s) => s.active && s.inFlight > 0);
  const drained = outbox
    .drain(timeoutMs)
    .catch((e: unknown) => {
      if (settleMs <= 0 || signal?.aborted || !writeOnTheWire()) throw e;
      return outbox.drain(settleMs + 1000);
    })
    .then(
      () => true,
      (e: unknown) => {
        if (!signal?.aborted) hooks.onDrainTimeout?.(e as Error);
        return false;
      },
    );
  try {
    return await Promise.race([drained, aborted]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
