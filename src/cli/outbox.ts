/**
 * `sigflow outbox …`: inspect and operate the durable outbox of a data directory, also while sigflow runs
 * (SQLite transactions make that safe). `--data-dir` means what it means for `sigflow import`: the data directory
 * (its outbox in `outbox/`), or the outbox's own directory. status and dead-letters open the database read-only
 * (they create and change nothing: read-only users and media work) after an integrity check; replay, purge and
 * forget-sink write, but never repair: a damaged file is reported, and sigflow recovers it on its next start.
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import {
  accountedRecords,
  buildStatus,
  type DeadLetter,
  decodeBatch,
  lockHolder,
  type OutboxStatus,
  OutboxStore,
  outboxDirOf,
} from '../outbox/index.js';
import { nsToIso } from '../records/index.js';

interface CommonOpts {
  dataDir: string;
  sink?: string;
  json?: boolean;
}

/**
 * Opens the outbox of a data directory (`dir` or `dir/outbox`); a missing or damaged one is the outbox's own error
 * (SF_ERR_OUTBOX_MISSING, SF_ERR_OUTBOX_CORRUPT). Reading commands check the file's integrity first, so a damaged
 * file is reported as damaged instead of listed as empty.
 */
function openStore(dir: string, write: boolean): OutboxStore {
  const at = outboxDirOf(dir);
  return write
    ? OutboxStore.open(at, { mustExist: true, recover: false, integrityCheck: false })
    : OutboxStore.open(at, { readonly: true, integrityCheck: true });
}

/** Runs a command on an open outbox: an SQLite corruption error met while reading is SF_ERR_OUTBOX_CORRUPT. */
function withStore<T>(dir: string, write: boolean, fn: (store: OutboxStore) => T): T {
  const store = openStore(dir, write);
  try {
    return fn(store);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')) {
      throw new SigflowError(
        'SF_ERR_OUTBOX_CORRUPT',
        `outbox ${store.file} is damaged (${(e as Error).message}); sigflow recovers it on its next start`,
        { where: store.file, cause: e },
      );
    }
    throw e;
  } finally {
    store.close();
  }
}

/** Dead-letter ids given with --id that do not exist: a usage error naming them and the file (nothing is done). */
function checkIds(store: OutboxStore, ids: number[] | undefined, sink: string | undefined): void {
  store.requireDeadLetters(ids, sink, { label: '--id: ', showFile: true });
}

const EVENT_LABEL: Record<string, string> = {
  recovery: 'RECOVERY',
  'recovery-loss': 'LOST IN RECOVERY',
  'forget-sink': 'FORGOT SINK',
};

function noSuchSink(name: string, file: string, known?: string[]): SigflowError {
  const list = known ? ` (sinks: ${known.join(', ') || 'none'})` : '';
  return new SigflowError('SF_ERR_OUTBOX_UNKNOWN_SINK', `no sink named ${name} in ${file}${list}`, { where: file });
}

function parseIds(values: string[] | undefined): number[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.flatMap((v) =>
    v.split(',').map((s) => {
      if (!/^\d+$/.test(s.trim()))
        throw new SigflowError('SF_ERR_USAGE', `--id: "${s}" is not a dead-letter id (a positive integer)`);
      return Number(s.trim());
    }),
  );
}

function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function fmtAge(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

/** JSON for display: bigints as decimal strings, non-finite floats as strings. */
function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === 'bigint') return x.toString();
    if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
    if (Buffer.isBuffer(x)) return undefined;
    return x;
  });
}

function printStatus(st: OutboxStatus, sink: string | undefined): void {
  const out: string[] = [];
  out.push(`outbox ${st.file}`);
  out.push(`  pending: ${st.pendingRecords} records in ${st.pendingBatches} batches, ${fmtBytes(st.pendingBytes)}`);
  out.push(
    `  dead letters: ${st.deadLetters.records} records in ${st.deadLetters.count} entries, ${fmtBytes(st.deadLetters.bytes)}`,
  );
  if (st.quarantined.count > 0) {
    out.push(
      `  QUARANTINED (checksum/decoding failed): ${st.quarantined.records} records in ${st.quarantined.count} batches`,
    );
  }
  for (const e of st.recoveryEvents)
    out.push(`  ${EVENT_LABEL[e.kind] ?? e.kind.toUpperCase()} ${when(e.atMs)}: ${e.message}`);
  for (const s of st.sinks) {
    if (sink !== undefined && s.name !== sink) continue;
    out.push(`sink ${s.name}${s.alarm ? '   ** ALARM: ' + (s.alarmReason ?? '') + ' **' : ''}`);
    out.push(
      `  pending     ${s.pendingRecords} records, ${s.pendingBatches} batches, ${fmtBytes(s.pendingBytes)}, oldest ${fmtAge(s.oldestPendingAgeMs)}`,
    );
    out.push(
      `  delivered   ${s.deliveredRecords} records in ${s.deliveredWrites} writes, last ${when(s.lastDeliveryMs)}`,
    );
    out.push(
      `  dropped     ${s.droppedRecords} (disk budget), ${s.expiredRecords} (max age), ${s.corruptRecords} (corrupt), ` +
        `${s.lostRecords} (lost in recovery), ${s.deadLettersDroppedRecords} (dead-letter budget), ${s.purgedRecords} (purged dead letters)`,
    );
    out.push(
      `  dead-letter ${s.deadLetteredRecords} records so far, ${s.deadLettersStored.records} stored now (${s.deadLettersStored.count} entries)`,
    );
    out.push(
      `  retries     ${s.retries} (auth failures ${s.authFailures})${s.lastError ? `, last error ${when(s.lastErrorMs)}: ${s.lastError}` : ''}`,
    );
    const accounted = accountedRecords(s, s.pendingRecords);
    out.push(
      `  accepted    ${s.acceptedRecords} = delivered + pending + dead-lettered + dropped` +
        (accounted === s.acceptedRecords ? '' : `  ** counters disagree: they add up to ${accounted} **`),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function printDeadLetters(list: DeadLetter[], withRecords: boolean, total: number): void {
  if (list.length === 0) {
    process.stdout.write(total === 0 ? 'no dead letters\n' : `showing 0 of ${total} dead letters (--limit 0)\n`);
    return;
  }
  for (const d of list) {
    process.stdout.write(
      `#${d.id}  sink ${d.sink}  ${when(d.createdMs)}  ${d.kind}  ${d.records} records  ${fmtBytes(d.bytes)}  ${d.reason}\n`,
    );
    if (withRecords && d.data) {
      for (const r of decodeBatch(d.data)) {
        process.stdout.write(
          `    ${nsToIso(r.time)} ${toJson({ measurement: r.measurement, tags: r.tags, fields: r.fields })}\n`,
        );
      }
    }
  }
  if (list.length < total)
    process.stdout.write(`showing ${list.length} of ${total} dead letters; --limit N or --all for more\n`);
}

export function registerOutboxCommands(program: Command): void {
  const ob = program
    .command('outbox')
    .description('inspect the durable outbox: pending data per sink, drops, dead letters (replay or purge them)')
    .addHelpText(
      'after',
      '\n--data-dir is the data directory of "sigflow import" (the outbox is in <data-dir>/outbox/outbox.db) or the\n' +
        "outbox's own directory (holding outbox.db). These commands are safe while sigflow runs; status and\n" +
        'dead-letters only read (read-only users and media work).\n' +
        'Examples:\n' +
        '  sigflow outbox status --data-dir /var/lib/sigflow\n' +
        '  sigflow outbox dead-letters --data-dir /var/lib/sigflow --sink influx --records\n' +
        '  sigflow outbox replay --data-dir /var/lib/sigflow --sink influx\n' +
        '  sigflow outbox purge --data-dir /var/lib/sigflow --id 12,13 --yes\n' +
        '  sigflow outbox forget-sink --data-dir /var/lib/sigflow --sink old-influx --yes',
    );

  ob.command('status')
    .description(
      'pending records/batches/bytes and oldest age per sink; delivered, dropped, dead-lettered, retries, alarms',
    )
    .requiredOption('--data-dir <dir>', '(required) sigflow data directory (holds outbox/outbox.db, or outbox.db)')
    .option('--sink <name>', 'only this sink')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow outbox status --data-dir /var/lib/sigflow\n  sigflow outbox status --data-dir .sigflow --sink influx --json',
    )
    .action(statusAction);

  ob.command('dead-letters')
    .description('list records sinks rejected permanently, with the server reason')
    .requiredOption('--data-dir <dir>', '(required) sigflow data directory (holds outbox/outbox.db, or outbox.db)')
    .option('--sink <name>', 'only this sink')
    .option('--id <ids...>', 'only these dead-letter ids (space or comma separated)')
    .option('--limit <n>', 'at most n entries (the listing says how many more there are)', '1000')
    .option('--all', 'every entry (no limit)')
    .option('--records', 'also print the records of each entry')
    .option('--json', 'machine-readable output (one JSON object per entry)')
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow outbox dead-letters --data-dir /var/lib/sigflow --sink influx --records\n  sigflow outbox dead-letters --data-dir .sigflow --all --json',
    )
    .action(deadLettersAction);

  ob.command('replay')
    .description('move dead letters back into the outbox, for their sink only (delivered again in order of id)')
    .requiredOption('--data-dir <dir>', '(required) sigflow data directory (holds outbox/outbox.db, or outbox.db)')
    .option('--sink <name>', 'only dead letters of this sink')
    .option('--id <ids...>', 'only these dead-letter ids')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow outbox replay --data-dir /var/lib/sigflow --sink influx\n  sigflow outbox replay --data-dir .sigflow --id 12,13',
    )
    .action(replayAction);

  ob.command('purge')
    .description('delete dead letters for good (asks for --yes)')
    .requiredOption('--data-dir <dir>', '(required) sigflow data directory (holds outbox/outbox.db, or outbox.db)')
    .option('--sink <name>', 'only dead letters of this sink')
    .option('--id <ids...>', 'only these dead-letter ids')
    .option('--yes', 'really delete')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow outbox purge --data-dir /var/lib/sigflow --id 12,13 --yes\n  sigflow outbox purge --data-dir .sigflow --sink influx',
    )
    .action(purgeAction);

  ob.command('forget-sink')
    .description(
      'remove a sink that is no longer configured: its pending backlog is dropped (recorded), asks for --yes',
    )
    .requiredOption('--data-dir <dir>', '(required) sigflow data directory (holds outbox/outbox.db, or outbox.db)')
    .requiredOption('--sink <name>', '(required) the sink to forget')
    .option('--yes', 'really drop its backlog')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow outbox forget-sink --data-dir /var/lib/sigflow --sink old-influx --yes',
    )
    .action(forgetSinkAction);
}

function statusAction(o: CommonOpts): void {
  withStore(o.dataDir, false, (store) => {
    const st = buildStatus(store);
    if (o.sink !== undefined && !st.sinks.some((s) => s.name === o.sink)) {
      throw noSuchSink(
        o.sink,
        store.file,
        st.sinks.map((s) => s.name),
      );
    }
    if (o.json) {
      const view = o.sink === undefined ? st : { ...st, sinks: st.sinks.filter((s) => s.name === o.sink) };
      process.stdout.write(`${toJson(view)}\n`);
    } else printStatus(st, o.sink);
  });
}

function deadLettersAction(o: CommonOpts & { id?: string[]; limit: string; all?: boolean; records?: boolean }): void {
  const limit = o.all ? undefined : Number(o.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
    throw new SigflowError('SF_ERR_USAGE', `--limit: "${o.limit}" is not a non-negative integer`);
  const ids = parseIds(o.id);
  withStore(o.dataDir, false, (store) => {
    checkIds(store, ids, o.sink);
    const list = store.deadLetters({ sink: o.sink, ids, limit, withData: o.records === true });
    const total =
      limit !== undefined && list.length >= limit ? store.countDeadLetters({ sink: o.sink, ids }) : list.length;
    if (o.json) {
      for (const d of list) {
        const entry: Record<string, unknown> = { ...d, data: undefined };
        if (o.records && d.data) entry.records_list = decodeBatch(d.data);
        process.stdout.write(`${toJson(entry)}\n`);
      }
      if (list.length < total)
        process.stderr.write(
          `sigflow outbox: showing ${list.length} of ${total} dead letters; --limit N or --all for more\n`,
        );
    } else printDeadLetters(list, o.records === true, total);
  });
}

function replayAction(o: CommonOpts & { id?: string[] }): void {
  const ids = parseIds(o.id);
  withStore(o.dataDir, true, (store) => {
    checkIds(store, ids, o.sink);
    const r = store.replay({ sink: o.sink, ids });
    if (o.json) process.stdout.write(`${toJson(r)}\n`);
    else {
      process.stdout.write(`replayed ${r.replayed} dead letters (${r.records} records) into the outbox\n`);
      for (const s of r.skipped) process.stdout.write(`  skipped #${s.id}: ${s.reason}\n`);
    }
    if (r.skipped.length > 0) process.exitCode = 1;
  });
}

function purgeAction(o: CommonOpts & { id?: string[]; yes?: boolean }): void {
  const ids = parseIds(o.id);
  withStore(o.dataDir, true, (store) => {
    checkIds(store, ids, o.sink);
    if (!o.yes) {
      const n = store.deadLetters({ sink: o.sink, ids });
      const records = n.reduce((a, d) => a + d.records, 0);
      throw new SigflowError(
        'SF_ERR_CLI_CONFIRM',
        `purge would delete ${n.length} dead letters (${records} records) for good; add --yes to do it`,
      );
    }
    const r = store.purgeDeadLetters({ sink: o.sink, ids });
    if (o.json) process.stdout.write(`${toJson(r)}\n`);
    else process.stdout.write(`purged ${r.purged} dead letters (${r.records} records)\n`);
  });
}

function forgetSinkAction(o: CommonOpts & { sink: string; yes?: boolean }): void {
  const dir = outboxDirOf(o.dataDir);
  const holder = lockHolder(dir);
  if (holder !== null) {
    throw new SigflowError('SF_ERR_OUTBOX_LOCKED', `sigflow (pid ${holder}) is running on ${dir}; stop it first`, {
      where: dir,
    });
  }
  withStore(dir, true, (store) => {
    const c = store.sink(o.sink);
    if (!c) throw noSuchSink(o.sink, store.file);
    const p = store.pendingFor(c);
    if (!o.yes) {
      throw new SigflowError(
        'SF_ERR_CLI_CONFIRM',
        `forgetting ${o.sink} drops its ${p.pendingRecords} pending records (${p.pendingBatches} batches); add --yes to do it`,
      );
    }
    const r = store.forgetSink(o.sink);
    if (o.json) process.stdout.write(`${toJson(r)}\n`);
    else
      process.stdout.write(
        `forgot sink ${o.sink}: dropped ${r.pendingRecords} pending records (${r.pendingBatches} batches)\n`,
      );
  });
}
