/**
 * Recovery of a damaged outbox file. A file SQLite cannot read, or that fails quick_check, is renamed to
 * `outbox.db.corrupt-<ms>` (with its -wal/-shm), a fresh outbox takes its place, and every row that still reads is
 * copied over: sink cursors and counters, batches whose CRC matches (the others go to quarantine, counted), dead
 * letters whose CRC matches. What happened is kept in the `events` table and logged at error level. The aside
 * file is left as found, for inspection; the salvage reads a copy of it.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { crc32 } from './crc32.js';
import { accountedRecords, rowToBatch } from './schema.js';
import type { OutboxStore } from './store.js';

/**
 * Moves the damaged `file` aside, opens a fresh outbox in its place (`fresh`), salvages what reads into it and
 * records the recovery. Returns the fresh store.
 */
export function recoverCorrupt(
  file: string,
  cause: Error,
  log: Logger | undefined,
  fresh: () => OutboxStore,
): OutboxStore {
  const aside = `${file}.corrupt-${Date.now()}`;
  renameSync(file, aside);
  for (const ext of ['-wal', '-shm']) if (existsSync(file + ext)) renameSync(file + ext, aside + ext);
  const store = fresh();
  const notes = [`${file} could not be used (${cause.message}); moved aside to ${aside}, started a fresh outbox`];
  try {
    notes.push(...salvage(store, aside));
  } catch (e) {
    notes.push(`salvage from ${aside} failed: ${(e as Error).message}`);
  }
  store.recordEvents('recovery', notes);
  // the losses per sink are their own events (recovery-loss, with the numbers); the log names them too
  const losses = store.events(100, { kind: 'recovery-loss' }).map((e) => e.message);
  store.recovery.push(...notes, ...losses);
  log?.error({ file, aside, notes, losses }, 'OUTBOX FILE CORRUPT: moved aside and recovered what was readable');
  if (!log) process.stderr.write(`sigflow outbox: CORRUPT ${file}: ${[...notes, ...losses].join(' | ')}\n`);
  return store;
}

/** Copies every readable row of a corrupt outbox file into `store` (fresh). Returns what it did. */
function salvage(store: OutboxStore, aside: string): string[] {
  const notes: string[] = [];
  const work = `${aside}.salvage`;
  const removeWork = () => {
    for (const f of [work, `${work}-wal`, `${work}-shm`]) rmSync(f, { force: true });
  };
  let old: Database.Database;
  try {
    old = openWorkingCopy(aside, work, notes);
  } catch (e) {
    removeWork();
    return [...notes, `nothing salvageable: ${(e as Error).message}`];
  }
  try {
    const sinks = salvageSinks(old, store.db, notes);
    const corruptBefore = new Map(store.sinks().map((c) => [c.name, c.corruptRecords]));
    const batches = salvageBatches(old, store, notes);
    const seq = keepBatchIdsIncreasing(old, store.db, batches.ids, notes);
    const dl = salvageDeadLetters(old, store.db, notes);
    notes.push(
      `salvaged ${sinks.rows} sink cursors, ${batches.good} batches (${batches.goodRecords} records), ${dl.good}/${dl.total} dead letters; ` +
        `${batches.bad} batches unreadable or failing their checksum`,
    );
    accountLosses(store, { ...sinks, seq, goodIds: batches.goodIds, corruptBefore }, notes);
  } finally {
    old.close();
    removeWork();
  }
  return notes;
}

/**
 * Copies the aside file (and its WAL) to `work` and opens the copy read-only. A truncated file is padded back to
 * the size its header records, so pages that survived stay addressable and only the lost ones read as corrupt.
 */
function openWorkingCopy(aside: string, work: string, notes: string[]): Database.Database {
  copyFileSync(aside, work);
  if (existsSync(`${aside}-wal`)) copyFileSync(`${aside}-wal`, `${work}-wal`);
  const head = Buffer.alloc(100);
  const fd = openSync(work, 'r+');
  try {
    const got = readSync(fd, head, 0, 100, 0);
    if (got === 100 && head.toString('latin1', 0, 16) === 'SQLite format 3\0') {
      const ps = head.readUInt16BE(16) === 1 ? 65536 : head.readUInt16BE(16);
      const pages = head.readUInt32BE(28);
      const want = ps * pages;
      const have = fstatSync(fd).size;
      if (ps >= 512 && pages > 0 && want > have && want < have * 64 + ps * 16) {
        ftruncateSync(fd, want);
        notes.push(`file was truncated: ${have} of ${want} bytes present`);
      }
    }
  } finally {
    closeSync(fd);
  }
  const old = new Database(work, { readonly: true, fileMustExist: true });
  try {
    old.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (e) {
    old.close();
    throw e;
  }
  return old;
}

/**
 * Sink cursors and counters (the columns both files have: an aside file of an older schema lacks some).
 * Returns how many rows were copied, whether the old file kept accepted counts, and whether every row read.
 */
function salvageSinks(
  old: Database.Database,
  db: Database.Database,
  notes: string[],
): { rows: number; hadAccepted: boolean; complete: boolean } {
  let rows = 0;
  let hadAccepted = false;
  const have = new Set((db.prepare('PRAGMA table_info(sinks)').all() as { name: string }[]).map((c) => c.name));
  try {
    for (const r of old.prepare('SELECT * FROM sinks').iterate() as IterableIterator<Record<string, unknown>>) {
      const cols = Object.keys(r).filter((k) => have.has(k));
      if (cols.includes('accepted_records')) hadAccepted = true;
      db.prepare(
        `INSERT OR REPLACE INTO sinks (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`,
      ).run(Object.fromEntries(cols.map((c) => [c, r[c]])));
      rows++;
    }
  } catch (e) {
    notes.push(`sinks table partly unreadable after ${rows} rows: ${(e as Error).message}`);
    return { rows, hadAccepted, complete: false };
  }
  return { rows, hadAccepted, complete: true };
}

/** The ids in (from, to] that are not in `good`, as ranges. */
function missingRanges(from: number, to: number, good: ReadonlySet<number>): [number, number][] {
  const out: [number, number][] = [];
  let start: number | null = null;
  for (let id = from + 1; id <= to + 1; id++) {
    const missing = id <= to && !good.has(id);
    if (missing && start === null) start = id;
    if (!missing && start !== null) {
      out.push([start, id - 1]);
      start = null;
    }
  }
  return out;
}

/**
 * What the damage cost each sink. Its batches after its cursor that did not come over (unreadable, quarantined,
 * or gone with a destroyed page) are lost for it: their records are `accepted − (delivered + pending +
 * dead-lettered + dropped …)`, counted as `lost_records` (the quarantined ones are already counted as corrupt),
 * and recorded as a `recovery-loss` event with the count and the lost batch ids, so that the import ledger can
 * forget the files those records came from and the summary can say what to re-send.
 */
function accountLosses(
  store: OutboxStore,
  s: {
    rows: number;
    hadAccepted: boolean;
    complete: boolean;
    seq: number;
    goodIds: ReadonlySet<number>;
    corruptBefore: ReadonlyMap<string, number>;
  },
  notes: string[],
): void {
  const db = store.db;
  if (s.rows === 0 || !s.complete) {
    // Without the cursors nobody knows what was delivered: every batch not salvaged may be lost for every sink,
    // and new sinks are started at the beginning so the salvaged batches are delivered (again) rather than skipped.
    const lost = missingRanges(0, s.seq, s.goodIds);
    if (s.rows === 0) db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('sinks_lost', '1')").run();
    const message = `the sink cursors could not be read: records lost unknown; batches ${fmtRanges(lost)} are gone`;
    store.recordEvent('recovery-loss', message, { lostBatches: lost });
    return;
  }
  for (const c of store.sinks()) {
    const p = store.pendingFor(c);
    const lostBatches = missingRanges(c.cursor, s.seq, s.goodIds);
    const corrupt = c.corruptRecords - (s.corruptBefore.get(c.name) ?? 0);
    let lost: number | null = null;
    if (s.hadAccepted) {
      lost = c.acceptedRecords - accountedRecords(c, p.pendingRecords);
      if (lost < 0) {
        notes.push(`sink ${c.name}: counters disagree by ${-lost} records after salvage; accepted count reset`);
        lost = 0;
      }
      if (lost > 0) db.prepare('UPDATE sinks SET lost_records = lost_records + ? WHERE name = ?').run(lost, c.name);
      db.prepare('UPDATE sinks SET accepted_records = ? WHERE name = ?').run(
        accountedRecords({ ...c, lostRecords: c.lostRecords + lost }, p.pendingRecords),
        c.name,
      );
    } else {
      // An older file kept no accepted count: the loss in records is unknown, the lost batches are known.
      db.prepare('UPDATE sinks SET accepted_records = ? WHERE name = ?').run(
        accountedRecords(c, p.pendingRecords),
        c.name,
      );
    }
    if (lostBatches.length === 0 && !lost && corrupt === 0) continue;
    const records = lost === null ? null : lost + corrupt;
    const message =
      `sink ${c.name}: ${records === null ? 'an unknown number of' : records} pending records lost ` +
      `(${lost ?? '?'} unreadable, ${corrupt} failing their checksum) in batches ${fmtRanges(lostBatches)}; ` +
      're-send them (sigflow import forgets the files they came from in its ledger and reads them again)';
    store.recordEvent('recovery-loss', message, { sink: c.name, records: records ?? undefined, lostBatches });
  }
}

function fmtRanges(r: readonly [number, number][]): string {
  if (r.length === 0) return '(none)';
  const shown = r.slice(0, 8).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  return shown.join(', ') + (r.length > 8 ? ` … (${r.length} ranges)` : '');
}

/** Batches whose CRC matches are copied; the others are quarantined and counted per sink. */
function salvageBatches(
  old: Database.Database,
  store: OutboxStore,
  notes: string[],
): { ids: number[]; goodIds: Set<number>; good: number; goodRecords: number; bad: number } {
  const ids = salvageIds(old, 'batches', notes);
  const goodIds = new Set<number>();
  let good = 0;
  let goodRecords = 0;
  let bad = 0;
  const get = old.prepare('SELECT * FROM batches WHERE id = ?');
  const put = store.db.prepare(
    'INSERT INTO batches (id, created_ms, target, records, bytes, crc, data) VALUES (@id, @created_ms, @target, @records, @bytes, @crc, @data)',
  );
  for (const id of ids) {
    try {
      const r = get.get(id) as Record<string, unknown> | undefined;
      if (!r) continue;
      const b = rowToBatch(r);
      if (!Buffer.isBuffer(b.data) || b.data.length !== b.bytes || crc32(b.data) !== b.crc) {
        bad++;
        store.recordQuarantined(b, Buffer.isBuffer(b.data) ? b.data : null, 'checksum mismatch during salvage');
        continue;
      }
      put.run(r);
      goodIds.add(id);
      good++;
      goodRecords += b.records;
    } catch (e) {
      bad++;
      notes.push(`batch ${id} unreadable: ${(e as Error).message}`);
    }
  }
  return { ids, goodIds, good, goodRecords, bad };
}

/**
 * Keeps batch ids increasing past everything the old file ever issued, so cursors stay meaningful. Returns the
 * highest id the old file issued (as far as can be told).
 */
function keepBatchIdsIncreasing(old: Database.Database, db: Database.Database, ids: number[], notes: string[]): number {
  let floor = ids.length ? ids[ids.length - 1] : 0;
  try {
    const seq = old.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'batches'").get() as
      | { seq: number }
      | undefined;
    const maxCursor = (db.prepare('SELECT max(cursor) AS m FROM sinks').get() as { m: number | null }).m ?? 0;
    floor = Math.max(seq?.seq ?? 0, maxCursor, floor);
    const row = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'batches'").get() as
      | { seq: number }
      | undefined;
    if (!row) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('batches', ?)").run(floor);
    else if (row.seq < floor) db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'batches'").run(floor);
  } catch (e) {
    notes.push(`batch id sequence unreadable: ${(e as Error).message}`);
  }
  return floor;
}

/** Dead letters whose CRC matches. */
function salvageDeadLetters(
  old: Database.Database,
  db: Database.Database,
  notes: string[],
): { good: number; total: number } {
  const dl = salvageIds(old, 'dead_letters', notes);
  let good = 0;
  const dget = old.prepare('SELECT * FROM dead_letters WHERE id = ?');
  const dput = db.prepare(
    `INSERT INTO dead_letters (id, sink, created_ms, kind, reason, records, bytes, crc, source_batch, data)
     VALUES (@id, @sink, @created_ms, @kind, @reason, @records, @bytes, @crc, @source_batch, @data)`,
  );
  for (const id of dl) {
    try {
      const r = dget.get(id) as Record<string, unknown> | undefined;
      if (r && Buffer.isBuffer(r.data) && crc32(r.data as Buffer) === r.crc) {
        dput.run(r);
        good++;
      }
    } catch {
      // counted below as missing
    }
  }
  return { good, total: dl.length };
}

/** Ids of a table's rows, reading forwards and, if the b-tree breaks, backwards, to get around a bad page. */
function salvageIds(old: Database.Database, table: string, notes: string[]): number[] {
  const ids = new Set<number>();
  for (const dir of ['ASC', 'DESC']) {
    try {
      for (const r of old.prepare(`SELECT id FROM ${table} ORDER BY id ${dir}`).iterate() as IterableIterator<{
        id: number;
      }>) {
        ids.add(r.id);
      }
      break;
    } catch (e) {
      notes.push(`${table}: index scan ${dir} stopped after ${ids.size} ids: ${(e as Error).message}`);
    }
  }
  return [...ids].sort((a, b) => a - b);
}
