/**
 * `sigflow import`: decode logs with DBC files and store the signals durably — in the embedded store by default,
 * optionally also in InfluxDB — through the outbox, so nothing accepted is lost if a sink is down or the process
 * dies. Re-runs import only new or changed files.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { SinkDelivery } from '../outbox/index.js';
import { type LogInput, runLogPipeline } from '../pipelines/logdecode/index.js';
import { ImportLedger, importFingerprint, recordsFromBatch } from '../pipelines/logimport/index.js';
import type { TelemetryRecord } from '../records/record.js';
import { decoderConfigFromOptions } from './decode.js';
import { CliError } from './errors.js';
import { addCommonOptions, type CommonOptions, collect, prepare, runHooks } from './frames.js';

interface ImportOptions extends CommonOptions {
  dbc: string[];
  channel: string[];
  signals?: string;
  dataDir: string;
  influx?: string;
  influxDb?: string;
  force?: boolean;
  drainTimeout: string;
}

const BATCH = 5000;

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
    .option('--drain-timeout <seconds>', 'how long to wait for the sinks to catch up at the end', '120')
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
("sigflow outbox status --data-dir <data-dir>/outbox").

Example:
  sigflow import LOG/ --dbc j1939.dbc --data-dir /var/lib/sigflow
  sigflow store query /var/lib/sigflow/store.db EEC1 --from 2021-01-01T00:00:00Z --to 2021-01-02T00:00:00Z`,
    )
    .action(async (paths: string[], opts: ImportOptions) => {
      if (opts.dbc.length === 0 && opts.channel.length === 0) throw new CliError('import needs --dbc or --channel', 2);
      const drainSeconds = Number(opts.drainTimeout);
      if (!Number.isFinite(drainSeconds) || drainSeconds < 0)
        throw new CliError(`--drain-timeout ${opts.drainTimeout}`, 2);
      const config = decoderConfigFromOptions(opts);
      const prep = await prepare(paths, opts);
      const dataDir = resolve(opts.dataDir);
      try {
        mkdirSync(dataDir, { recursive: true });
      } catch (e) {
        throw new CliError(`--data-dir ${dataDir}: ${(e as Error).message}`, 2);
      }
      let ledger: ImportLedger;
      try {
        ledger = new ImportLedger(dataDir);
      } catch (e) {
        throw new CliError((e as Error).message, 2);
      }

      // Files imported before (same size, mtime and import settings) are skipped.
      const settings = importFingerprint({ ...opts, from: prep.from, to: prep.to });
      const todo: (LogInput & { mtimeMs: number; abs: string })[] = [];
      let skipped = 0;
      for (const f of prep.inputs) {
        const abs = resolve(f.path);
        const st = statSync(abs);
        if (!opts.force && ledger.has(abs, st.size, st.mtimeMs, settings)) skipped++;
        else todo.push({ ...f, mtimeMs: st.mtimeMs, abs });
      }

      // Loaded here, not at startup: the sinks pull in zod and pg, which every other command would pay for.
      const [{ default: pino }, { Outbox }, { createSink }] = await Promise.all([
        import('pino'),
        import('../outbox/index.js'),
        import('../sinks/index.js'),
      ]);
      const sinks: SinkDelivery[] = [{ sink: createSink({ type: 'store', path: join(dataDir, 'store.db') }) }];
      if (opts.influx) {
        try {
          sinks.push({
            sink: createSink({
              type: 'influx',
              name: 'influx',
              url: opts.influx,
              database: opts.influxDb,
              createDatabase: true,
            }),
          });
        } catch (e) {
          throw new CliError((e as Error).message, 2);
        }
      }
      const logger = pino({ name: 'sigflow-import', level: 'warn' }, pino.destination(2));
      const outbox = Outbox.open({ dataDir: join(dataDir, 'outbox'), sinks, whenFull: 'block', logger });
      outbox.start();

      const t0 = performance.now();
      const { hooks, stop } = runHooks('import', { ...prep, inputs: todo }, opts);
      let device = '';
      let pending: TelemetryRecord[] = [];
      let fileRecords = 0;
      let fileFrames = 0;
      let records = 0;
      let imported = 0;
      const flush = async () => {
        if (pending.length === 0) return;
        const batch = pending;
        pending = [];
        const r = await outbox.enqueue(batch);
        if (!r.accepted) throw new CliError('the outbox dropped a batch (drop_newest) — not expected for imports', 1);
      };
      const byPath = new Map(todo.map((t) => [t.path, t]));
      let stats: Awaited<ReturnType<typeof runLogPipeline>>;
      try {
        stats = await runLogPipeline(todo, {
          passwords: prep.passwords,
          from: prep.from,
          to: prep.to,
          config,
          batchSize: 8192,
          ...hooks,
          onFileStart: (f) => {
            device = f.device;
            fileRecords = 0;
            fileFrames = 0;
          },
          onBatch: async (view) => {
            const before = pending.length;
            recordsFromBatch(view, device, pending);
            fileRecords += pending.length - before;
            fileFrames += view.frames.count;
            if (pending.length >= BATCH) await flush();
          },
          onFileEnd: async (f) => {
            await flush();
            records += fileRecords;
            imported++;
            const t = byPath.get(f.input.path);
            if (t) {
              ledger.mark(t.abs, {
                size: t.size,
                mtimeMs: t.mtimeMs,
                settings,
                device: f.device,
                frames: fileFrames,
                records: fileRecords,
                importedAt: new Date().toISOString(),
              });
              if (imported % 20 === 0) ledger.save();
            }
          },
          onFileError: async (input, err) => {
            // Frames read before the failure are valid: keep them (the file is not marked, so a re-run reads it
            // again; the sinks are idempotent).
            await flush();
            await hooks.onFileError?.(input, err);
          },
        });
      } finally {
        stop();
        ledger.save();
      }
      let drained = true;
      try {
        await outbox.drain(drainSeconds * 1000);
      } catch (e) {
        drained = false;
        process.stderr.write(`sigflow import: ${(e as Error).message}\n`);
      }
      const status = outbox.status();
      await outbox.close();
      const seconds = (performance.now() - t0) / 1000;
      const sinkText = status.sinks
        .filter((s) => s.active)
        .map(
          (s) =>
            `${s.name}: ${s.deliveredRecords} delivered, ${s.pendingRecords} pending, ${s.deadLetteredRecords} dead-lettered`,
        )
        .join('; ');
      process.stderr.write(
        `sigflow import: ${imported} file(s) imported, ${skipped} already imported, ${stats.failedFiles + prep.inputErrors} failed; ` +
          `${stats.frames} frames, ${stats.decodedFrames} decoded, ${records} records in ${seconds.toFixed(1)} s\n` +
          `sigflow import: ${sinkText}\n` +
          `sigflow import: store ${join(dataDir, 'store.db')} (sigflow store list ${join(dataDir, 'store.db')})\n`,
      );
      if (!drained) {
        process.stderr.write(
          `sigflow import: the backlog stays in ${join(dataDir, 'outbox')} and is delivered on the next run\n`,
        );
        process.exitCode = 1;
      }
      if (stats.failedFiles + prep.inputErrors > 0) process.exitCode = 1;
    });
}
