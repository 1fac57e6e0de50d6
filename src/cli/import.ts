/**
 * `sigflow import`: decode logs with DBC files and store the signals durably — in the embedded store by default,
 * optionally also in InfluxDB — through the outbox, so nothing accepted is lost if a sink is down or the process
 * dies. Re-runs import only new or changed files. A shell over runImport (src/pipelines/logimport).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import type { ImportSummary } from '../pipelines/logimport/index.js';
import { parseTimerMs } from '../units/index.js';
import { addCommonOptions, type CommonOptions, collect, type Prepared, prepare } from './log-args.js';
import { HumanLogLines } from './log-lines.js';
import { explainDecoding, reportHooks } from './log-report.js';

interface ImportOptions extends CommonOptions {
  dbc: string[];
  transport: string[];
  channel: string[];
  signals?: string;
  dataDir: string;
  influx?: string;
  influxDb: string;
  force?: boolean;
  drainTimeout: string;
  logFormat: string;
  watch?: string;
  listen?: string;
}

export function registerImportCommands(program: Command): void {
  const cmd = program
    .command('import')
    .description('decode logs with DBC files and store the signals durably (embedded store; optionally InfluxDB)')
    .argument('<inputs...>', 'log files or folders (CANedge MF4/MFC/MFE/MFM), or s3://bucket/prefix');
  // no -o: an import writes into its data directory
  addCommonOptions(cmd, { output: false })
    .option('--dbc <file>', 'DBC file for every CAN channel (repeatable; required: --dbc or --channel)', collect, [])
    .option('--channel <CANn=file>', 'DBC file for one CAN channel only, e.g. CAN2=b.dbc (repeatable)', collect, [])
    .option('--signals <regex>', 'only signals whose "message.signal" or "signal" matches')
    .option(
      '--transport <choice>',
      'multi-frame messages: auto (when a DBC message is longer than its frame), off, or isotp,j1939,nmea2000; ' +
        'CAN<n>=<choice> for one channel (repeatable)',
      collect,
      [],
    )
    .option('--data-dir <dir>', 'where the outbox, the store and the import ledger live', '.sigflow')
    .option('--influx <url>', 'also write to this InfluxDB 1.x (http:// or https://, e.g. http://127.0.0.1:8086)')
    .option('--influx-db <name>', 'InfluxDB database (created if missing)', 'sigflow')
    .option('--force', 'import files again even if the ledger says they were imported')
    .option(
      '--watch <duration>',
      'keep running: list the inputs again every <duration> (e.g. 1m) and import what is new, until Ctrl-C',
    )
    .option(
      '--listen <host:port>',
      'with --watch: also start a round when an S3 event notification (MinIO/AWS webhook) is POSTed here ' +
        '(token: $SIGFLOW_IMPORT_WEBHOOK_TOKEN as "Authorization: Bearer")',
    )
    .option(
      '--drain-timeout <duration>',
      'how long to wait for the sinks to catch up at the end (a duration like 2m, or seconds)',
      '120s',
    )
    .option(
      '--log-format <format>',
      'warnings of the outbox and the sinks: human (summarised) or json (pino lines)',
      'human',
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
("sigflow outbox status --data-dir <data-dir>"); the run then exits with status 1. InfluxDB is asked once
at the start whether it answers (a warning if not; requests time out after 10 s); the drain waits for a write
still on the wire up to that timeout more, so the summary says why a sink is behind. A backlog the outbox holds
for a sink not given in this run (e.g. InfluxDB without --influx) is named at the end.
Ctrl-C / SIGTERM stops the import: the files whose records are all in the outbox stay marked (the ledger is
saved), the summary says what was kept, exit status 130 / 143.
--from/--to: e.g. 2024-01-02T03:04:05Z; a time without an offset is UTC (2024-01-02T03:04:05 = …05Z).
Bad arguments: exit status 2.

--watch: each round lists the inputs again (folders, s3://bucket/prefix) and imports what the ledger has not seen
(new uploads, changed files); a round prints one summary. --listen wakes a round at once on a notification — the
round still lists the inputs itself, so a missed or repeated notification loses or doubles nothing.

Examples:
  sigflow import LOG/ --dbc j1939.dbc --data-dir /var/lib/sigflow
  sigflow import s3://fleet/LOG --s3-endpoint http://minio:9000 --dbc j1939.dbc --watch 1m --listen 127.0.0.1:9100
  sigflow import LOG/ --dbc j1939.dbc --influx http://127.0.0.1:8086 --influx-db vehicles
  sigflow store query /var/lib/sigflow/store.db EEC1 --from 2021-01-01T00:00:00Z --to 2021-01-02T00:00:00Z`,
    )
    .action(importAction);
}

/** --drain-timeout: a duration, or a plain number of seconds (as before durations were accepted); 0 is allowed. */
function drainTimeoutMs(text: string): number {
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? `${text.trim()}s` : text;
  return parseTimerMs(seconds, '--drain-timeout', { allowZero: true });
}

async function importAction(paths: string[], opts: ImportOptions): Promise<void> {
  if (opts.dbc.length === 0 && opts.channel.length === 0) {
    throw new SigflowError('SF_ERR_USAGE', 'import needs --dbc or --channel');
  }
  drainTimeoutMs(opts.drainTimeout);
  if (opts.influx !== undefined) influxUrl(opts.influx);
  const logFormat = opts.logFormat.toLowerCase();
  if (logFormat !== 'human' && logFormat !== 'json')
    throw new SigflowError('SF_ERR_USAGE', `--log-format ${opts.logFormat}: use human or json`);
  if (opts.listen !== undefined && opts.watch === undefined) {
    throw new SigflowError('SF_ERR_USAGE', '--listen goes with --watch (it starts the next round early)');
  }
  if (opts.watch === undefined) {
    await importOnce(paths, opts);
    return;
  }
  const everyMs = parseTimerMs(opts.watch, '--watch');
  const { startImportTrigger, untilNextRound } = await import('../pipelines/logimport/index.js');
  const interrupt = onInterrupt(() => {});
  let trigger: Awaited<ReturnType<typeof startImportTrigger>> | null = null;
  try {
    if (opts.listen !== undefined) {
      const { host, port } = await parseHostPort(opts.listen);
      trigger = await startImportTrigger(host, port, {
        token: process.env.SIGFLOW_IMPORT_WEBHOOK_TOKEN,
        onNotice: (keys) =>
          process.stderr.write(`sigflow import: notified: ${keys.slice(0, 3).join(', ') || '(no object key)'}\n`),
      });
      process.stderr.write(`sigflow import: listening for S3 event notifications on ${trigger.address}\n`);
    }
    while (!interrupt.signal.aborted) {
      await importOnce(paths, opts, interrupt.signal);
      if (interrupt.signal.aborted) break;
      process.stderr.write(`sigflow import: next round in ${opts.watch}${trigger ? ' or on a notification' : ''}\n`);
      await untilNextRound(everyMs, interrupt.signal, trigger);
    }
  } finally {
    interrupt.dispose();
    await trigger?.close();
  }
}

/** `host:port` of --listen (127.0.0.1:9100, [::1]:9100). */
async function parseHostPort(text: string): Promise<{ host: string; port: number }> {
  const { parseListen } = await import('../supervisor/index.js'); // the one reading of host:port
  const { host, port } = parseListen(text);
  if (!host || !text.includes(':') || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SigflowError('SF_ERR_USAGE', `--listen ${text}: expected host:port (e.g. 127.0.0.1:9100)`);
  }
  return { host, port };
}

/** One import of the inputs; `outer`: the watch loop's interrupt (else this run installs its own). */
async function importOnce(paths: string[], opts: ImportOptions, outer?: AbortSignal): Promise<void> {
  const drainMs = drainTimeoutMs(opts.drainTimeout);
  const logFormat = opts.logFormat.toLowerCase();
  const prep = await prepare(paths, opts);
  // Loaded here, not at startup: the job pulls in the outbox and the sinks (zod, pg), which every other command
  // would pay for.
  const [{ default: pino }, { runImport }] = await Promise.all([
    import('pino'),
    import('../pipelines/logimport/index.js'),
  ]);
  const { hooks, stop } = reportHooks('import', prep, opts);
  const t0 = performance.now();
  const interrupt = outer ? { signal: outer, dispose() {} } : onInterrupt(stop);
  const human = logFormat === 'human' ? new HumanLogLines('sigflow import') : null;
  let summary: ImportSummary;
  try {
    summary = await runImport(
      {
        ...prep,
        decoder: { dbc: opts.dbc, channel: opts.channel, signals: opts.signals, transport: opts.transport },
        dataDir: opts.dataDir,
        influx: opts.influx ? { url: opts.influx, database: opts.influxDb } : undefined,
        force: opts.force === true,
        drainTimeoutMs: drainMs,
        logger: pino({ name: 'sigflow-import', level: 'warn' }, human ?? pino.destination(2)),
        signal: interrupt.signal,
      },
      {
        ...hooks,
        onFilesDone: stop,
        onDrainTimeout: (e) => process.stderr.write(`sigflow import: ${e.message}\n`),
        onSinkUnreachable: (sink, why) =>
          process.stderr.write(
            `sigflow import: warning: ${sink} at ${opts.influx} does not answer (${why}); its records are kept in ` +
              `the outbox (${join(opts.dataDir, 'outbox')}) and sent when it answers — later in this run or on the next\n`,
          ),
      },
    );
  } finally {
    stop();
    interrupt.dispose();
    human?.end();
  }
  printSummary(summary, prep, (performance.now() - t0) / 1000, opts.signals);
  printWaitingSinks(summary, opts);
  if (summary.interrupted !== null) printInterrupted(summary);
}

/** --influx: an http:// or https:// URL (SF_ERR_USAGE otherwise, before anything is read). */
function influxUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SigflowError('SF_ERR_USAGE', `--influx ${text}: not a URL (e.g. http://127.0.0.1:8086)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new SigflowError('SF_ERR_USAGE', `--influx ${text}: InfluxDB speaks HTTP — use an http:// or https:// URL`);
  return url;
}

/** Backlogs the outbox still holds for sinks not configured in this run, and how to deliver or drop them. */
function printWaitingSinks(s: ImportSummary, opts: ImportOptions): void {
  for (const k of s.waitingSinks) {
    const rerun =
      k.name === 'influx' ? 'run again with --influx <url>' : `run again with the ${k.name} sink configured`;
    process.stderr.write(
      `sigflow import: the outbox still holds ${k.pendingRecords} records for sink ${k.name}, not configured in ` +
        `this run; ${rerun}, or drop them: sigflow outbox forget-sink --data-dir ${join(opts.dataDir, 'outbox')} ` +
        `--sink ${k.name}\n`,
    );
  }
}

const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Ctrl-C / SIGTERM: the first one stops the import cleanly (runImport's signal: the files fully in the outbox are
 * kept and marked, the ledger saved); a second one ends the process at once.
 */
function onInterrupt(stopProgress: () => void): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      dispose();
      process.kill(process.pid, sig);
      return;
    }
    stopProgress();
    process.stderr.write(
      `sigflow import: ${sig}: stopping — keeping what the outbox accepted (again to quit at once)\n`,
    );
    ac.abort(sig);
  };
  const dispose = () => {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return { signal: ac.signal, dispose };
}

/** What an interrupted import kept, and the exit status of the signal (130 SIGINT, 143 SIGTERM). */
function printInterrupted(s: ImportSummary): void {
  process.stderr.write(
    `sigflow import: interrupted by ${s.interrupted}: kept ${s.imported} file(s) fully imported (marked in ` +
      `${join(s.outboxDir, '..', 'imports.json')}), ${s.acceptedRecords} records accepted by the outbox (what the ` +
      'sinks have not got yet is delivered on the next run); files not finished are read again on the next run\n',
  );
  process.exitCode = SIGNAL_EXIT[s.interrupted as string] ?? 130;
}

function printSummary(s: ImportSummary, prep: Prepared, seconds: number, signals?: string): void {
  const failed = s.stats.failedFiles + prep.inputErrors;
  // this run's figures first; the outbox's lifetime totals and the backlog labelled as such
  const sinkText = s.sinkRuns
    .map(
      (k) =>
        `${k.name}: ${k.delivered} delivered, ${k.deadLettered} dead-lettered${k.dropped ? `, ${k.dropped} DROPPED` : ''} in this run, ` +
        `${k.pending} pending now${k.pendingBefore ? ` (${k.pendingBefore} were pending from earlier runs)` : ''}; ` +
        `lifetime ${k.lifetime.delivered} delivered of ${k.lifetime.accepted} accepted`,
    )
    .join('\nsigflow import: ');
  process.stderr.write(
    `sigflow import: ${s.imported} file(s) imported, ${s.skipped} already imported, ${failed} failed; ` +
      `${s.stats.frames} frames, ${s.stats.decodedFrames} decoded, ${s.records} records in ${seconds.toFixed(1)} s\n` +
      `sigflow import: ${sinkText}\n` +
      `sigflow import: store ${s.storePath} (sigflow store list ${s.storePath})\n`,
  );
  if (!s.drained) {
    process.stderr.write(`sigflow import: the backlog stays in ${s.outboxDir} and is delivered on the next run\n`);
  }
  for (const note of s.decoderNotes) process.stderr.write(`sigflow import: note: ${note.message}\n`);
  explainDecoding('import', s.stats, s.decodeErrors, {
    signals,
    window: prep.from !== undefined || prep.to !== undefined,
  });
  const lost = printRecovery(s);
  if (!s.drained || failed > 0 || lost) process.exitCode = 1;
}

/** Records a damaged outbox lost, and what was done to re-send them. True when there was a loss. */
function printRecovery(s: ImportSummary): boolean {
  const r = s.recovery;
  if (!r) return false;
  const say = (line: string) => process.stderr.write(`sigflow import: ${line}\n`);
  say(`OUTBOX DAMAGED: ${s.outboxDir} was recovered, and records pending for the sinks were lost:`);
  for (const l of r.losses) say(`  ${l.message}`);
  if (r.forgotten.length > 0) {
    const shown = r.forgotten.slice(0, 20);
    say(
      `forgot ${r.forgotten.length} file(s) in the ledger whose records were lost, so they are imported again ` +
        `(this run read those among its inputs; import the others again): ${shown.join(', ')}` +
        (r.forgotten.length > shown.length ? ` … (${r.forgotten.length - shown.length} more)` : ''),
    );
  }
  if (r.unattributed)
    say('some lost records may come from files imported before sigflow kept batch ids: import them again with --force');
  return true;
}
