/**
 * `sigflow lake write` (logs → the Parquet data lake, CSS's layout, with a ledger) and `sigflow lake query` (SQL
 * over a lake folder with DuckDB). The work: src/pipelines/lake; the layout: src/formats/lake.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { decoderConfigFrom } from '../pipelines/logdecode/index.js';
import { parseDuration, parseSize, parseTimerMs } from '../units/index.js';
import { addCommonOptions, type CommonOptions, collect, positiveInt, prepare } from './log-args.js';
import { reportHooks } from './log-report.js';

interface WriteOptions extends CommonOptions {
  lake: string;
  claims?: string;
  lease: string;
  watch?: string;
  events?: string;
  trips?: string;
  cache?: string;
  cacheMax: string;
  dbc: string[];
  channel: string[];
  transport: string[];
  force?: boolean;
}

interface QueryOptions extends LakeReadOptions {
  format: string;
  list?: boolean;
  from?: string;
  to?: string;
  progress?: boolean;
}

const WRITE_HELP = `
Each log becomes one Parquet file per message and UTC day, in the layout of CSS Electronics' data lake (so Athena/
Glue, BigQuery and Synapse setups and dashboards built for it work):
  <ID>/<ITF><CHN>_<Message>[_<Mux>_M<value>][_S<SA>]/<YYYY>/<MM>/<DD>/<session>_<split>.parquet
  columns: t TIMESTAMP(MICROS, UTC), then one nullable DOUBLE per signal
  <ID>/messages/2024/01/01/messages.parquet, aggregations/devicemeta/2024/01/01/devicemeta.parquet
--events/--trips recompute the events and trip summaries of the days each pass wrote, plus the day before and
after (state crosses midnight): late uploads are revisited, not left to a nightly job.
A ledger (<lake>/_sigflow/ledger/) records each log once all its files are written: a re-run skips logs already
in it (same size, time and DBC files) and decodes again those that changed or were decoded with other DBC
files; a log that fails is listed in <lake>/_sigflow/failed/ and retried by the next run. Files appear complete
or not at all. --lake s3://bucket/prefix writes to S3 (same --s3-* options as the inputs).
A file that cannot be read is reported and skipped (exit status 1 at the end). Bad arguments: exit status 2.

Examples:
  sigflow lake write LOG/ --dbc j1939.dbc --lake lake/
  sigflow lake write s3://logs/ --dbc can1-j1939.dbc --channel CAN2=gnss.dbc --lake s3://logs-parquet/ --s3-endpoint http://127.0.0.1:9000`;

const COMPACT_HELP = `
CSS's layout makes one file per log, message and day: ~10,000 files per 0.25 GB. Compaction merges the files of
each message folder and day into one (c_<hash>.parquet, in time order), checks that it holds every row of the
files it replaces, points the ledger at it, then deletes them. Days still receiving uploads are left alone
(--before; default: before today). Run it again any time: what a crashed run left half-done is finished or undone
first. A log decoded again later (it changed, or the DBC did) takes its compacted files apart: give the whole tree.

Examples:
  sigflow lake compact --lake lake/
  sigflow lake compact --lake s3://logs-parquet/ --before 2026-06-01 --s3-endpoint http://127.0.0.1:9000`;

const EVENTS_HELP = `
Output: aggregations/events/YYYY/MM/DD/<ID>_events.parquet, CSS's columns (t, EventName, DeviceID, EventId,
Message, Signal, EventType Start/Stop, EventValue, SignalValue, Latitude, Longitude). An event active when a file
or a day starts is not a lone Stop: each event's state is carried across files and days, and taken from the days
before --from. Re-running a range rewrites its days. After a late upload, recompute its days ±1. Details:
src/pipelines/lake/EVENTS.md. An s3:// lake is read through its local copy in the cache folder (--cache; only
new and changed objects are downloaded); the outputs are written to the lake.

Examples:
  sigflow lake events --lake lake/ --config events.json
  sigflow lake events --lake lake/ --config events.json --from 2026-06-14 --to 2026-06-16`;

const TRIPS_HELP = `
Output: aggregations/tripsummary/YYYY/MM/DD/YYYYMMDD.parquet, CSS's columns (DeviceID, Message, Signal,
Aggregation, SignalValue, SignalCount, Duration, TripStart, TripEnd, TripID, Cluster), one row per trip, message,
signal and function. A trip is split by gaps longer than trip_gap_min and kept when at least trip_min_length_min
long; a trip over midnight is one trip, filed on the day it starts. Details: src/pipelines/lake/EVENTS.md. An
s3:// lake is read through its local copy in the cache folder (--cache); the outputs are written to the lake.

Examples:
  sigflow lake trips --lake lake/ --config aggregations.json
  sigflow lake trips --lake lake/ --config aggregations.json --from 2026-06-01 --to 2026-06-30`;

const QUERY_HELP = `
Views (list them with --list): one per message folder over every device ("CAN2_gnss_speed", with the columns
device and date_created), one per device under CSS's Glue names ("tbl_2F6913DB_CAN2_gnss_speed"), and
"messages", "devicemeta". A signal a newer DBC added is a column of the view (null where older files lack it).
Filter on t and date_created to read less. Output: a table on a terminal, --format json (one object per line)
or csv.

An S3 lake (--lake s3://bucket/prefix) is queried through a local copy in the cache folder (--cache; default
$SIGFLOW_CACHE_DIR or $XDG_CACHE_HOME/sigflow, under lake/<bucket>-<hash>): new and changed objects are
downloaded first, removed ones deleted; with --from/--to (YYYY-MM-DD) only those days (and the side tables) are
copied and queried.
DuckDB's own S3 extension is not used: it would be downloaded from the internet.

Examples:
  sigflow lake query --lake lake/ --list
  sigflow lake query --lake lake/ "select device, count(*) from CAN1_EEC1_S00 group by device"
  sigflow lake query --lake lake/ --format csv "select t, EngineSpeed from tbl_FCBF0606_CAN1_EEC1_S00 where t >= '2021-06-01'"
  sigflow lake query --lake s3://logs-parquet/ --from 2026-06-01 --to 2026-06-30 --s3-endpoint http://127.0.0.1:9000 \
    "select device, count(*) from CAN2_gnss_speed group by device"`;

export function registerLakeCommands(program: Command): void {
  const lake = program
    .command('lake')
    .description('the Parquet data lake: write logs into it (CSS layout, with a ledger), query it with DuckDB');
  const write = lake
    .command('write')
    .description('decode logs into the lake: one Parquet file per message and day, recorded in the lake’s ledger')
    .argument('<inputs...>', 'log files or folders, or s3://bucket/prefix');
  // (whole logs: the ledger records a log as decoded, so a time range would leave the rest of it out for good)
  addCommonOptions(write, { output: false, range: false })
    .requiredOption('--lake <folder|s3://bucket/prefix>', 'the lake to write (required)')
    .option('--dbc <file>', 'DBC file for every CAN channel (repeatable)', collect, [])
    .option('--channel <CANn=file>', 'DBC file for one CAN channel only, e.g. CAN2=b.dbc (repeatable)', collect, [])
    .option('--transport <choice>', 'multi-frame messages: auto, off, or isotp,j1939,nmea2000 (as decode)', collect, [])
    .option('--force', 'decode every log again, whatever the ledger says')
    .option(
      '--claims <lake|postgres://…>',
      'share the inputs with other workers: each log is claimed before it is decoded, in the lake or in PostgreSQL',
    )
    .option('--lease <duration>', 'how long a claim holds before another worker may take the log over', '10m')
    .option('--watch <interval>', 'keep going: list the inputs again every <interval> (e.g. 30s) until SIGINT/SIGTERM')
    .option('--events <events.json>', 'after each pass, recompute the events of the days it wrote, ±1 day')
    .option('--trips <aggregations.json>', 'after each pass, recompute the trip summaries of the days it wrote, ±1 day')
    .option('--cache <folder>', '--events/--trips over an s3:// lake: its local copy (default: under the cache folder)')
    .option('--cache-max <size>', 'size bound of that copy: least recently used files go first', '10GiB')
    .addHelpText('after', WRITE_HELP)
    .action(writeAction);
  lake
    .command('compact')
    .description('merge the per-log files of each message folder and day into one (the ledger keeps track)')
    .requiredOption('--lake <folder|s3://bucket/prefix>', 'the lake (required)')
    .option('--before <date>', 'only days before this one (YYYY-MM-DD, UTC; default: before today)')
    .option('--all', 'every day, today included')
    .addHelpText('after', COMPACT_HELP)
    .action(compactAction);
  lake
    .command('events')
    .description('events from CSS’s events.json over the lake, state carried across files and days')
    .requiredOption('--lake <folder|s3://bucket/prefix>', 'the lake (required)')
    .requiredOption('--config <events.json>', 'CSS’s events.json (required)')
    .option('--from <day>', 'first day to (re)write, YYYY-MM-DD (default: each device’s first day)')
    .option('--to <day>', 'last day to (re)write, YYYY-MM-DD (default: each device’s last day)')
    .option('--device <id>', 'only this device (repeatable)', collect, [])
    .option('--lookback-days <n>', 'read at most this many days before --from to know each event’s state there')
    .option('--cache <folder>', 'local copy of an s3:// lake, read by DuckDB (default: under the cache folder)')
    .option('--cache-max <size>', 'size bound of that copy: least recently used files go first', '10GiB')
    .addHelpText('after', EVENTS_HELP)
    .action(eventsAction);
  lake
    .command('trips')
    .description('trip summaries from CSS’s aggregations.json over the lake; a trip over midnight is one trip')
    .requiredOption('--lake <folder|s3://bucket/prefix>', 'the lake (required)')
    .requiredOption('--config <aggregations.json>', 'CSS’s aggregations.json (required)')
    .option('--from <day>', 'first day to (re)write, YYYY-MM-DD (default: the config’s date mode)')
    .option('--to <day>', 'last day to (re)write, YYYY-MM-DD')
    .option('--cache <folder>', 'local copy of an s3:// lake, read by DuckDB (default: under the cache folder)')
    .option('--cache-max <size>', 'size bound of that copy: least recently used files go first', '10GiB')
    .addHelpText('after', TRIPS_HELP)
    .action(tripsAction);
  lake
    .command('query')
    .description('run SQL over a lake with DuckDB (views per message folder, per device, side tables)')
    .argument('[sql]', 'one SQL statement')
    .requiredOption('--lake <folder|s3://bucket/prefix>', 'the lake (required)')
    .option('--format <format>', 'table, json or csv', 'table')
    .option('--list', 'list the views instead')
    .option('--cache <folder>', 'local copy of an s3:// lake (default: under the cache folder)')
    .option('--cache-max <size>', 'size bound of that copy: least recently used files go first', '10GiB')
    .option('--from <YYYY-MM-DD>', 'an s3:// lake: copy and query the days from this one')
    .option('--to <YYYY-MM-DD>', 'an s3:// lake: copy and query the days up to this one (inclusive)')
    .option('--no-progress', 'no progress bar while an s3:// lake is copied')
    .addHelpText('after', QUERY_HELP)
    .action(queryAction);
  // the commands that open a lake alone (lake write has these with its inputs' options)
  for (const c of lake.commands)
    if (c.name() !== 'write')
      c.option('--s3-endpoint <url>', 'S3-compatible server of an s3:// lake')
        .option('--s3-region <region>', 'S3 region of an s3:// lake')
        .option('--s3-ca <pem>', 'CA certificate of the S3 server');
}

/** How a command names its lake: a folder or s3://, with the --s3-* options. */
interface LakeOptions {
  lake: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3Ca?: string;
}

/** The lake a command names (the store module is loaded on first use, as the commands' work is). */
async function openLake(opts: LakeOptions): Promise<import('../formats/lake/index.js').LakeStore> {
  const { openLakeStore } = await import('../formats/lake/index.js');
  return openLakeStore(opts.lake, { endpoint: opts.s3Endpoint, region: opts.s3Region, caFile: opts.s3Ca });
}

async function writeAction(paths: string[], opts: WriteOptions): Promise<void> {
  const { writeLake, PgClaims, StoreClaims, parseEventsConfig, parseAggregationsConfig, runLakeEvents, runLakeTrips } =
    await import('../pipelines/lake/index.js');
  const config = decoderConfigFrom(opts);
  const leaseMs = Number(parseDuration(opts.lease, '--lease') / 1_000_000n);
  const watchMs = opts.watch === undefined ? null : parseTimerMs(opts.watch, '--watch');
  const copy = copyOptions(opts);
  const store = await openLake(opts);
  // late uploads: what a pass wrote changes the events and trips of its days and the days beside them
  const events = opts.events === undefined ? undefined : parseEventsConfig(readConfig(opts.events), opts.events);
  const trips = opts.trips === undefined ? undefined : parseAggregationsConfig(readConfig(opts.trips), opts.trips);
  const claims =
    opts.claims === undefined
      ? undefined
      : opts.claims === 'lake'
        ? new StoreClaims(store, leaseMs)
        : /^postgres(ql)?:\/\//.test(opts.claims)
          ? await PgClaims.open(opts.claims, store.where, leaseMs)
          : (() => {
              throw new SigflowError('SF_ERR_USAGE', `--claims ${opts.claims}: use lake or a postgres:// URL`);
            })();
  // SIGINT/SIGTERM: finish the log being decoded, record it, stop
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let failed = 0;
  try {
    do {
      const prep = await prepare(paths, opts);
      const t0 = performance.now();
      const { hooks, stop } = reportHooks('lake write', prep, { ...opts, progress: opts.progress && watchMs === null });
      const s = await writeLake(
        {
          inputs: prep.inputs,
          config,
          lake: store,
          passwords: prep.passwords,
          force: opts.force === true,
          claims,
          signal: ac.signal,
        },
        { onProgress: hooks.onProgress, onFileError: hooks.onFileError },
      ).finally(stop);
      const secs = (performance.now() - t0) / 1000;
      failed += s.failed + prep.inputErrors;
      if (s.days.size > 0 && (events || trips)) {
        const ymd = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);
        const spans = [...s.days.values()];
        const from = ymd(Math.min(...spans.map((x) => x.first)) - 1);
        const to = ymd(Math.max(...spans.map((x) => x.last)) + 1);
        if (events) {
          const e = await runLakeEvents({
            lake: store,
            config: events,
            from,
            to,
            devices: [...s.days.keys()],
            ...copy,
          });
          process.stderr.write(
            `sigflow lake write: events ${from} … ${to} recomputed: ${e.events} row(s) in ${e.files} file(s)\n`,
          );
        }
        if (trips) {
          const r = await runLakeTrips({ lake: store, config: trips, from, to, ...copy });
          process.stderr.write(
            `sigflow lake write: trips ${from} … ${to} recomputed: ${r.trips} trip(s), ${r.rows} row(s)\n`,
          );
        }
      }
      if (watchMs === null || s.written + s.failed > 0)
        process.stderr.write(
          `sigflow lake write: ${s.written} log(s) written (${s.again} again), ${s.skipped} already in the lake, ` +
            `${claims ? `${s.elsewhere} taken by other workers, ` : ''}${s.failed + prep.inputErrors} failed; ` +
            `${s.tables} table file(s), ${s.rows} rows${s.removed ? `, ${s.removed} stale file(s) removed` : ''}; ` +
            `${(s.bytes / 1e6).toFixed(1)} MB in ${secs.toFixed(1)} s → ${store.where}\n`,
        );
      if (watchMs !== null && !ac.signal.aborted)
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, watchMs);
          ac.signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
    } while (watchMs !== null && !ac.signal.aborted);
    if (failed > 0) process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await claims?.close();
    store.close();
  }
}

interface CompactCliOptions extends LakeOptions {
  before?: string;
  all?: boolean;
}

async function compactAction(opts: CompactCliOptions): Promise<void> {
  let beforeDay: number | undefined = Math.floor(Date.now() / 86_400_000);
  if (opts.all) beforeDay = undefined;
  else if (opts.before !== undefined) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(opts.before);
    const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : Number.NaN;
    // (Date.UTC rolls 2026-13-40 over into 2027: a date must read back as itself)
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== opts.before)
      throw new SigflowError('SF_ERR_USAGE', `--before ${opts.before}: a date, YYYY-MM-DD`);
    beforeDay = ms / 86_400_000;
  }
  const { compactLake } = await import('../pipelines/lake/index.js');
  const store = await openLake(opts);
  if (store.folder !== null && !existsSync(store.folder))
    throw new SigflowError('SF_ERR_USAGE', `--lake ${opts.lake}: no such folder`, { where: '--lake' });
  const t0 = performance.now();
  try {
    const s = await compactLake({ lake: store, beforeDay });
    process.stderr.write(
      `sigflow lake compact: ${s.groups} folder-day(s): ${s.filesBefore} file(s) → ${s.filesAfter}, ${s.rows} rows kept` +
        `${s.recovered ? `; ${s.recovered} interrupted compaction(s) finished or undone` : ''}` +
        `${s.duplicates ? `; ${s.duplicates} sink batch file(s) written again deleted (their rows were compacted already)` : ''}` +
        `; ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    for (const c of s.conflicts) process.stderr.write(`sigflow lake compact: warning: ${c}\n`);
  } finally {
    store.close();
  }
}

/** A config file's text, or SF_ERR_USAGE naming it. */
function readConfig(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SigflowError(
      'SF_ERR_USAGE',
      `--config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        where: '--config',
      },
    );
  }
}

/** A lake read through DuckDB (lake events, trips): an s3:// one through its local copy (--cache). */
interface LakeReadOptions extends LakeOptions {
  cache?: string;
  cacheMax: string;
}

/** Where and how big the local copy of an s3:// lake is (--cache, --cache-max). */
function copyOptions(opts: { cache?: string; cacheMax: string }): { cacheDir?: string; cacheMaxBytes: number } {
  return { cacheDir: opts.cache, cacheMaxBytes: parseSize(opts.cacheMax, '--cache-max') };
}

async function eventsAction(
  opts: {
    config: string;
    from?: string;
    to?: string;
    device: string[];
    lookbackDays?: string;
  } & LakeReadOptions,
): Promise<void> {
  const { parseEventsConfig, runLakeEvents } = await import('../pipelines/lake/index.js');
  const config = parseEventsConfig(readConfig(opts.config), opts.config);
  const lookbackDays = opts.lookbackDays === undefined ? undefined : positiveInt(opts.lookbackDays, '--lookback-days');
  const store = await openLake(opts);
  const t0 = performance.now();
  try {
    const s = await runLakeEvents({
      lake: store,
      config,
      ...(opts.from ? { from: opts.from } : {}),
      ...(opts.to ? { to: opts.to } : {}),
      ...(opts.device.length ? { devices: opts.device } : {}),
      ...(lookbackDays !== undefined ? { lookbackDays } : {}),
      ...copyOptions(opts),
    });
    process.stderr.write(
      `sigflow lake events: ${s.devices} device(s), ${s.events} event row(s) (${s.starts} Start, ${s.stops} Stop) in ${s.files} file(s)` +
        `${s.removed ? `, ${s.removed} emptied file(s) removed` : ''}; ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  } finally {
    store.close();
  }
}

async function tripsAction(opts: { config: string; from?: string; to?: string } & LakeReadOptions): Promise<void> {
  const { parseAggregationsConfig, runLakeTrips } = await import('../pipelines/lake/index.js');
  const config = parseAggregationsConfig(readConfig(opts.config), opts.config);
  const store = await openLake(opts);
  const t0 = performance.now();
  try {
    const s = await runLakeTrips({
      lake: store,
      config,
      ...(opts.from ? { from: opts.from } : {}),
      ...(opts.to ? { to: opts.to } : {}),
      ...copyOptions(opts),
    });
    process.stderr.write(
      `sigflow lake trips: ${s.from ? `${s.from} … ${s.to}` : 'no day to cover'}: ${s.trips} trip(s), ${s.rows} summary row(s) in ${s.files} file(s)` +
        `${s.removed ? `, ${s.removed} emptied file(s) removed` : ''}; ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  } finally {
    store.close();
  }
}

async function queryAction(sql: string | undefined, opts: QueryOptions): Promise<void> {
  const format = opts.format.toLowerCase();
  if (!['table', 'json', 'csv'].includes(format))
    throw new SigflowError('SF_ERR_USAGE', `--format ${opts.format}: use table, json or csv`);
  if (!opts.list && !sql) throw new SigflowError('SF_ERR_USAGE', 'give one SQL statement, or --list');
  const [{ LakeQuery, readableLake }, { default: cliProgress }] = await Promise.all([
    import('../pipelines/lake/index.js'),
    import('cli-progress'),
  ]);
  const store = await openLake(opts);
  // an S3 lake is copied first: a bar on a terminal while objects download, a line saying what the copy took
  const bar =
    store.s3 !== null && opts.progress !== false && process.stderr.isTTY === true
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: 'lake query: copying [{bar}] {value}/{total} objects',
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const t0 = performance.now();
  const read = await readableLake(store, {
    ...copyOptions(opts),
    from: opts.from,
    to: opts.to,
    onCopyProgress: (done, todo) => {
      if (done === 1) bar?.start(todo, 0);
      bar?.update(done);
    },
  }).finally(() => {
    bar?.stop();
    store.close();
  });
  if (read.copy)
    process.stderr.write(
      `sigflow lake query: ${read.keys?.length ?? 0} object(s) of ${store.where} in the copy ${read.folder}: ` +
        `${read.copy.fetched} downloaded (${(read.copy.fetchedBytes / 1e6).toFixed(1)} MB), ${read.copy.removed} removed; ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  const q = await LakeQuery.openReadable(read);
  try {
    if (opts.list) {
      for (const v of q.views) process.stdout.write(`${v.name}\t${v.kind}${v.device ? `\t${v.device}` : ''}\n`);
      return;
    }
    const r = await q.query(sql as string);
    process.stdout.write(render(r.columns, r.rows, format));
  } finally {
    q.close();
  }
}

function text(v: unknown): string {
  return v === null || v === undefined ? '' : typeof v === 'bigint' ? v.toString() : String(v);
}

function render(columns: string[], rows: Record<string, unknown>[], format: string): string {
  if (format === 'json')
    return rows
      .map(
        (r) =>
          `${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v))}\n`,
      )
      .join('');
  if (format === 'csv') {
    const cell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [columns, ...rows.map((r) => columns.map((c) => text(r[c])))]
      .map((l) => `${l.map(cell).join(',')}\n`)
      .join('');
  }
  const cells = rows.map((r) => columns.map((c) => text(r[c])));
  const width = columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((r) => r[i].length))));
  const line = (l: string[]) =>
    `${l
      .map((s, i) => s.slice(0, 60).padEnd(width[i]))
      .join('  ')
      .trimEnd()}\n`;
  return `${line(columns)}${line(width.map((w) => '-'.repeat(w)))}${cells.map(line).join('')}(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}
