/**
 * The SQL side of the outbox: `OutboxStore` over one SQLite database `<dataDir>/outbox.db` in WAL mode (the tables
 * are described in schema.ts). Opening checks identity and integrity and hands a damaged file to recovery.ts; the
 * data directory's lock is lock.ts. Everything here is synchronous (better-sqlite3); the async delivery logic
 * lives in outbox.ts and worker.ts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { crc32 } from './crc32.js';
import { OutboxClosedError, OutboxError, OutboxOpenError } from './errors.js';
import { recoverCorrupt } from './recovery.js';
import {
  APP_ID,
  type DeadLetter,
  type NewDeadLetter,
  OUTBOX_FILE,
  type RecoveryEvent,
  rowToBatch,
  rowToDeadLetter,
  rowToSink,
  SCHEMA,
  SCHEMA_VERSION,
  type SinkCounters,
  type SinkPending,
  type StoredBatch,
  type Synchronous,
  type WhenFull,
} from './schema.js';

export interface StoreOptions {
  synchronous?: Synchronous;
  logger?: Logger;
  /** Run PRAGMA quick_check on open (default true). */
  integrityCheck?: boolean;
  /** On a corrupt or unreadable file: rename it aside, start fresh, salvage what reads (default true). */
  recover?: boolean;
  /** Open read-only and never create (the CLI's status and listing). */
  readonly?: boolean;
  /** Don't create a missing database (the CLI); throws OutboxOpenError instead. */
  mustExist?: boolean;
}

/** SQLite's own corruption codes, and quick_check's verdict. */
function isCorruption(err: unknown): boolean {
  if (err instanceof OutboxError) return err.code === 'SF_ERR_OUTBOX_CORRUPT';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** Result of trying to add a batch under the disk budget. */
export type InsertResult =
  | { kind: 'stored'; id: number; droppedBatches: number; droppedRecords: number }
  | { kind: 'full'; pendingBytes: number }
  | { kind: 'dropped_newest'; records: number };

export class OutboxStore {
  readonly db: Database.Database;
  readonly file: string;
  /** What recovery did on open (empty when the file was healthy). */
  readonly recovery: string[] = [];
  private readonly log: Logger | undefined;
  private readonly stmts: ReturnType<OutboxStore['prepare']>;
  private closed = false;

  private constructor(db: Database.Database, file: string, log: Logger | undefined) {
    this.db = db;
    this.file = file;
    this.log = log;
    this.stmts = this.prepare();
  }

  /**
   * Opens (or creates) `<dataDir>/outbox.db`. A file SQLite cannot read, or that fails quick_check, is renamed to
   * `outbox.db.corrupt-<ms>` (with its -wal), a fresh database is created and every row that still reads (with a
   * valid checksum for batches) is copied over; the event is logged at error level and kept in `events`.
   */
  static open(dataDir: string, opts: StoreOptions = {}): OutboxStore {
    const file = join(dataDir, OUTBOX_FILE);
    if (opts.mustExist || opts.readonly) {
      if (!existsSync(file))
        throw new OutboxOpenError(`no outbox at ${file}`, { code: 'SF_ERR_OUTBOX_MISSING', where: file });
    } else mkdirSync(dataDir, { recursive: true });
    const log = opts.logger;
    let db: Database.Database | undefined;
    try {
      db = OutboxStore.connect(file, opts);
      if (opts.integrityCheck !== false) {
        const rows = db.pragma('quick_check(20)') as { quick_check: string }[];
        const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
        if (problems.length > 0) {
          throw new OutboxOpenError(`quick_check failed: ${problems.slice(0, 5).join('; ')}`, {
            code: 'SF_ERR_OUTBOX_CORRUPT',
            where: file,
          });
        }
      }
      if (!opts.readonly) OutboxStore.migrate(db, file);
      else OutboxStore.checkIdentity(db, file);
      return new OutboxStore(db, file, log);
    } catch (err) {
      try {
        db?.close();
      } catch {
        // already unusable
      }
      if (!isCorruption(err) || opts.recover === false || opts.readonly) {
        if (isCorruption(err)) {
          throw new OutboxOpenError(
            `outbox ${file} is corrupt (${(err as Error).message}); sigflow recovers it on start`,
            {
              code: 'SF_ERR_OUTBOX_CORRUPT',
              where: file,
              cause: err,
            },
          );
        }
        throw err;
      }
      return recoverCorrupt(file, err as Error, log, () => {
        const fresh = OutboxStore.connect(file, opts);
        OutboxStore.migrate(fresh, file);
        return new OutboxStore(fresh, file, log);
      });
    }
  }

  private static connect(file: string, opts: StoreOptions): Database.Database {
    const db = new Database(file, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true });
    try {
      db.pragma('busy_timeout = 5000');
      // Touch the schema so an unreadable header fails here, inside the recovery path, and refuse a foreign
      // database before changing anything in it (journal_mode=WAL rewrites the header).
      db.prepare('SELECT count(*) AS n FROM sqlite_master').get();
      OutboxStore.checkIdentity(db, file);
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      }
    } catch (e) {
      db.close();
      throw e;
    }
    return db;
  }

  private static checkIdentity(db: Database.Database, file: string): void {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
      (r) => r.name,
    );
    if (appId !== APP_ID && tables.length > 0) {
      throw new OutboxOpenError(
        `${file} is an SQLite database but not a sigflow outbox (tables: ${tables.slice(0, 5).join(', ')})`,
        { where: file },
      );
    }
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION)
      throw new OutboxOpenError(`${file} has outbox schema ${v}; this sigflow knows up to ${SCHEMA_VERSION}`, {
        where: file,
      });
  }

  private static migrate(db: Database.Database, file: string): void {
    OutboxStore.checkIdentity(db, file);
    db.exec(SCHEMA);
    db.pragma(`application_id = ${APP_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  /** Copies every readable row of a corrupt outbox file into this (fresh) one. Returns what it did. */
  private prepare() {
    const db = this.db;
    return {
      state: db.prepare('SELECT pending_batches, pending_records, pending_bytes FROM state WHERE id = 1'),
      insert: db.prepare(
        'INSERT INTO batches (created_ms, target, records, bytes, crc, data) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      oldest: db.prepare('SELECT id, created_ms, target, records, bytes FROM batches ORDER BY id LIMIT ?'),
      deleteBatch: db.prepare('DELETE FROM batches WHERE id = ?'),
      countDrop: db.prepare(
        'UPDATE sinks SET dropped_records = dropped_records + @n WHERE cursor < @id AND (@target IS NULL OR name = @target)',
      ),
      countExpire: db.prepare(
        'UPDATE sinks SET expired_records = expired_records + @n WHERE cursor < @id AND (@target IS NULL OR name = @target)',
      ),
      countCorrupt: db.prepare(
        'UPDATE sinks SET corrupt_records = corrupt_records + @n WHERE cursor < @id AND (@target IS NULL OR name = @target)',
      ),
      repair: db.prepare('UPDATE batches SET data = ?, bytes = ?, crc = ? WHERE id = ?'),
      dropNewest: db.prepare('UPDATE sinks SET dropped_records = dropped_records + ?'),
      sinkCount: db.prepare('SELECT count(*) AS n FROM sinks'),
      fetch: db.prepare('SELECT * FROM batches WHERE id > ? ORDER BY id LIMIT ?'),
      setCursor: db.prepare('UPDATE sinks SET cursor = max(cursor, ?) WHERE name = ?'),
      delivered: db.prepare(
        `UPDATE sinks SET delivered_records = delivered_records + ?, delivered_writes = delivered_writes + ?,
           dead_lettered_records = dead_lettered_records + ?, last_delivery_ms = ?,
           alarm = 0, alarm_reason = NULL WHERE name = ?`,
      ),
      minCursor: db.prepare('SELECT min(cursor) AS m FROM sinks'),
      minBatchId: db.prepare('SELECT min(id) AS m FROM batches'),
      gcAll: db.prepare('DELETE FROM batches WHERE id <= ?'),
      gcTarget: db.prepare('DELETE FROM batches WHERE target = ? AND id <= ?'),
      deadLetter: db.prepare(
        'INSERT INTO dead_letters (sink, created_ms, kind, reason, records, bytes, crc, source_batch, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      failure: db.prepare(
        `UPDATE sinks SET retries = retries + 1, auth_failures = auth_failures + ?, last_error = ?, last_error_ms = ?,
           alarm = CASE WHEN ? THEN 1 ELSE alarm END, alarm_reason = CASE WHEN ? THEN ? ELSE alarm_reason END
         WHERE name = ?`,
      ),
      seq: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'batches'"),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new OutboxClosedError(`outbox ${this.file} is closed`);
  }

  /** Makes sure each named sink has a cursor. A new sink starts after the newest batch: it gets what is accepted from now on. */
  ensureSinks(names: readonly string[]): void {
    const now = Date.now();
    const add = this.db.prepare('INSERT OR IGNORE INTO sinks (name, cursor, added_ms) VALUES (?, ?, ?)');
    this.db
      .transaction(() => {
        const seq = (this.stmts.seq.get() as { seq: number } | undefined)?.seq ?? 0;
        for (const n of names) add.run(n, seq, now);
      })
      .immediate();
  }

  totals(): { pendingBatches: number; pendingRecords: number; pendingBytes: number } {
    const r = this.stmts.state.get() as { pending_batches: number; pending_records: number; pending_bytes: number };
    return { pendingBatches: r.pending_batches, pendingRecords: r.pending_records, pendingBytes: r.pending_bytes };
  }

  /**
   * Adds one encoded batch in one IMMEDIATE transaction, applying the disk budget: with drop_oldest the oldest
   * batches not in `pinned` are deleted (each counted as dropped for every sink that had not passed it); with
   * drop_newest the new batch is not stored and counted as dropped for every sink; with block nothing changes and
   * 'full' is returned. When the transaction commits, the batch is accepted.
   */
  insert(
    data: Buffer,
    records: number,
    opts: { maxBytes: number; whenFull: WhenFull; pinned: ReadonlySet<number>; target?: string | null; nowMs?: number },
  ): InsertResult {
    this.assertOpen();
    const crc = crc32(data);
    const bytes = data.length;
    const now = opts.nowMs ?? Date.now();
    return this.db
      .transaction((): InsertResult => {
        let pending = (this.stmts.state.get() as { pending_bytes: number }).pending_bytes;
        let droppedBatches = 0;
        let droppedRecords = 0;
        if (pending + bytes > opts.maxBytes) {
          if (opts.whenFull === 'block') return { kind: 'full', pendingBytes: pending };
          if (opts.whenFull === 'drop_newest') {
            if (opts.target) this.stmts.countDrop.run({ n: records, id: Number.MAX_SAFE_INTEGER, target: opts.target });
            else this.stmts.dropNewest.run(records);
            return { kind: 'dropped_newest', records };
          }
          // drop_oldest
          let scan = 64;
          while (pending + bytes > opts.maxBytes) {
            const rows = this.stmts.oldest.all(scan) as {
              id: number;
              target: string | null;
              records: number;
              bytes: number;
            }[];
            let progressed = false;
            for (const r of rows) {
              if (opts.pinned.has(r.id)) continue;
              this.stmts.deleteBatch.run(r.id);
              this.stmts.countDrop.run({ n: r.records, id: r.id, target: r.target });
              pending -= r.bytes;
              droppedBatches++;
              droppedRecords += r.records;
              progressed = true;
              if (pending + bytes <= opts.maxBytes) break;
            }
            if (pending + bytes <= opts.maxBytes) break;
            if (!progressed) {
              if (rows.length < scan) return { kind: 'full', pendingBytes: pending };
              scan *= 2;
            }
          }
        }
        const info = this.stmts.insert.run(now, opts.target ?? null, records, bytes, crc, data);
        return { kind: 'stored', id: Number(info.lastInsertRowid), droppedBatches, droppedRecords };
      })
      .immediate();
  }

  /** Replaces a damaged batch's stored copy with an intact encoding of the same records. False if it is gone. */
  repair(id: number, data: Buffer): boolean {
    this.assertOpen();
    return this.stmts.repair.run(data, data.length, crc32(data), id).changes > 0;
  }

  /** The smallest batch id still stored (what has not been deleted yet), or +Infinity when there is none. */
  oldestBatchId(): number {
    const r = this.stmts.minBatchId.get() as { m: number | null };
    return r.m ?? Number.POSITIVE_INFINITY;
  }

  hasSinks(): boolean {
    return (this.stmts.sinkCount.get() as { n: number }).n > 0;
  }

  /** Up to `limit` batches with id > afterId, oldest first. */
  fetch(afterId: number, limit: number): StoredBatch[] {
    this.assertOpen();
    return (this.stmts.fetch.all(afterId, limit) as Record<string, unknown>[]).map(rowToBatch);
  }

  /**
   * Records the outcome of one or more writes for a sink in one transaction: counters, dead letters, and (when
   * given) the new cursor, after which batches every applicable sink has passed are deleted.
   */
  complete(
    sink: string,
    c: {
      cursor: number | null;
      delivered: number;
      writes: number;
      deadLetters: readonly NewDeadLetter[];
      deadLetterMaxBytes?: number;
    },
    nowMs = Date.now(),
  ): void {
    this.assertOpen();
    this.db
      .transaction(() => {
        let dl = 0;
        for (const d of c.deadLetters) {
          this.stmts.deadLetter.run(
            sink,
            nowMs,
            d.kind,
            d.reason,
            d.records,
            d.data.length,
            crc32(d.data),
            d.sourceBatch,
            d.data,
          );
          dl += d.records;
        }
        if (c.deadLetters.length > 0 && c.deadLetterMaxBytes !== undefined) this.boundDeadLetters(c.deadLetterMaxBytes);
        this.stmts.delivered.run(c.delivered, c.writes, dl, nowMs, sink);
        if (c.cursor !== null) {
          this.stmts.setCursor.run(c.cursor, sink);
          this.gc(sink, c.cursor);
        }
      })
      .immediate();
  }

  /** Moves a sink's cursor forward without delivering (batches meant for other sinks). */
  advance(sink: string, cursor: number): void {
    this.assertOpen();
    this.db
      .transaction(() => {
        this.stmts.setCursor.run(cursor, sink);
        this.gc(sink, cursor);
      })
      .immediate();
  }

  /** Deletes the oldest dead letters while their total exceeds `maxBytes`; counts them per sink. */
  private boundDeadLetters(maxBytes: number): void {
    let total = (this.db.prepare('SELECT coalesce(sum(bytes), 0) AS b FROM dead_letters').get() as { b: number }).b;
    if (total <= maxBytes) return;
    const rows = this.db
      .prepare('SELECT id, sink, records, bytes FROM dead_letters ORDER BY id')
      .iterate() as IterableIterator<{
      id: number;
      sink: string;
      records: number;
      bytes: number;
    }>;
    const victims: { id: number; sink: string; records: number }[] = [];
    for (const r of rows) {
      if (total <= maxBytes) break;
      victims.push(r);
      total -= r.bytes;
    }
    const del = this.db.prepare('DELETE FROM dead_letters WHERE id = ?');
    const count = this.db.prepare(
      'UPDATE sinks SET dead_letters_dropped_records = dead_letters_dropped_records + ? WHERE name = ?',
    );
    for (const v of victims) {
      del.run(v.id);
      count.run(v.records, v.sink);
    }
    this.log?.warn(
      { dropped: victims.length, maxBytes },
      'dead-letter budget full: oldest dead letters deleted (counted)',
    );
  }

  private gc(sink: string, cursor: number): void {
    this.stmts.gcTarget.run(sink, cursor);
    const m = (this.stmts.minCursor.get() as { m: number | null }).m;
    if (m !== null) this.stmts.gcAll.run(m);
  }

  /**
   * Counts a failed write; `auth` counts it as an authentication failure, `alarm` raises the sink's alarm (cleared
   * by its next delivery).
   */
  recordFailure(sink: string, reason: string, kind: { auth: boolean; alarm: boolean }, nowMs = Date.now()): void {
    if (this.closed) return;
    const a = kind.auth ? 1 : 0;
    const al = kind.alarm ? 1 : 0;
    this.stmts.failure.run(a, reason.slice(0, 2000), nowMs, al, al, reason.slice(0, 2000), sink);
  }

  /** Moves a batch that fails its checksum or does not decode into quarantine; counts its records per sink. */
  quarantine(b: StoredBatch, reason: string): void {
    this.assertOpen();
    this.db
      .transaction(() => {
        const gone = this.stmts.deleteBatch.run(b.id);
        if (gone.changes === 0) return;
        this.quarantineRaw(b.id, b.target, b.records, b.bytes, b.crc, b.data, reason);
        this.stmts.countCorrupt.run({ n: b.records, id: b.id, target: b.target });
      })
      .immediate();
    this.log?.error({ batch: b.id, records: b.records, reason }, 'outbox batch quarantined');
  }

  /**
   * Salvage (recovery.ts): a batch of a damaged file that fails its checksum goes straight to quarantine, counted
   * per sink like any quarantined batch (it was never in this file's batches table).
   */
  recordQuarantined(b: StoredBatch, data: Buffer | null, reason: string): void {
    this.quarantineRaw(b.id, b.target, b.records, b.bytes, b.crc, data, reason);
    this.stmts.countCorrupt.run({ n: b.records, id: b.id, target: b.target });
  }

  /** Appends events (recovery, forget-sink …), all stamped now; `sigflow outbox status` shows the latest. */
  recordEvents(kind: string, messages: readonly string[]): void {
    const now = Date.now();
    const ins = this.db.prepare('INSERT INTO events (at_ms, kind, message) VALUES (?, ?, ?)');
    for (const m of messages) ins.run(now, kind, m);
  }

  private quarantineRaw(
    batchId: number,
    target: string | null,
    records: number,
    bytes: number,
    crc: number,
    data: Buffer | null,
    reason: string,
  ): void {
    this.db
      .prepare(
        'INSERT INTO quarantine (batch_id, moved_ms, target, records, bytes, crc, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(batchId, Date.now(), target, records, bytes, crc, reason, data);
  }

  /** Deletes batches created before `beforeMs` (not pinned); counts them as expired per sink. Returns records expired. */
  expire(beforeMs: number, pinned: ReadonlySet<number>): number {
    this.assertOpen();
    return this.db
      .transaction(() => {
        const rows = this.db
          .prepare('SELECT id, target, records FROM batches WHERE created_ms < ? ORDER BY id')
          .all(beforeMs) as { id: number; target: string | null; records: number }[];
        let n = 0;
        for (const r of rows) {
          if (pinned.has(r.id)) continue;
          this.stmts.deleteBatch.run(r.id);
          this.stmts.countExpire.run({ n: r.records, id: r.id, target: r.target });
          n += r.records;
        }
        return n;
      })
      .immediate();
  }

  sinks(): SinkCounters[] {
    return (this.db.prepare('SELECT * FROM sinks ORDER BY name').all() as Record<string, unknown>[]).map(rowToSink);
  }

  sink(name: string): SinkCounters | null {
    const r = this.db.prepare('SELECT * FROM sinks WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    return r ? rowToSink(r) : null;
  }

  /** What is still to be delivered to a sink (batches after its cursor that apply to it). */
  pendingFor(name: string, cursor: number): SinkPending {
    const r = this.db
      .prepare(
        `SELECT count(*) AS b, coalesce(sum(records), 0) AS r, coalesce(sum(bytes), 0) AS y, min(created_ms) AS o
         FROM batches WHERE id > ? AND (target IS NULL OR target = ?)`,
      )
      .get(cursor, name) as { b: number; r: number; y: number; o: number | null };
    return { pendingBatches: r.b, pendingRecords: r.r, pendingBytes: r.y, oldestPendingMs: r.o };
  }

  deadLetters(opts: { sink?: string; ids?: readonly number[]; limit?: number; withData?: boolean } = {}): DeadLetter[] {
    const cols = opts.withData ? '*' : 'id, sink, created_ms, kind, reason, records, bytes, crc, source_batch';
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.sink !== undefined) {
      where.push('sink = ?');
      args.push(opts.sink);
    }
    if (opts.ids && opts.ids.length > 0) {
      where.push(`id IN (${opts.ids.map(() => '?').join(',')})`);
      args.push(...opts.ids);
    }
    const sql = `SELECT ${cols} FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id${
      opts.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(opts.limit))}` : ''
    }`;
    return (this.db.prepare(sql).all(...args) as Record<string, unknown>[]).map(rowToDeadLetter);
  }

  deadLetterTotals(): { count: number; records: number; bytes: number } {
    const r = this.db
      .prepare('SELECT count(*) AS c, coalesce(sum(records), 0) AS r, coalesce(sum(bytes), 0) AS b FROM dead_letters')
      .get() as { c: number; r: number; b: number };
    return { count: r.c, records: r.r, bytes: r.b };
  }

  /** Dead letters currently stored, per sink. */
  deadLettersBySink(): Map<string, { count: number; records: number; bytes: number }> {
    const rows = this.db
      .prepare('SELECT sink, count(*) AS c, sum(records) AS r, sum(bytes) AS b FROM dead_letters GROUP BY sink')
      .all() as { sink: string; c: number; r: number; b: number }[];
    return new Map(rows.map((x) => [x.sink, { count: x.c, records: x.r, bytes: x.b }]));
  }

  quarantineTotals(): { count: number; records: number; bytes: number } {
    const r = this.db
      .prepare('SELECT count(*) AS c, coalesce(sum(records), 0) AS r, coalesce(sum(bytes), 0) AS b FROM quarantine')
      .get() as { c: number; r: number; b: number };
    return { count: r.c, records: r.r, bytes: r.b };
  }

  events(limit = 20): RecoveryEvent[] {
    return (
      this.db.prepare('SELECT id, at_ms, kind, message FROM events ORDER BY id DESC LIMIT ?').all(limit) as {
        id: number;
        at_ms: number;
        kind: string;
        message: string;
      }[]
    ).map((r) => ({ id: r.id, atMs: r.at_ms, kind: r.kind, message: r.message }));
  }

  /**
   * Moves dead letters back into the outbox as new batches targeted at their sink (one batch per dead letter, in
   * id order). A dead letter whose checksum fails stays where it is and is reported.
   */
  replay(opts: { sink?: string; ids?: readonly number[] }): {
    replayed: number;
    records: number;
    skipped: { id: number; reason: string }[];
  } {
    this.assertOpen();
    const rows = this.deadLetters({ ...opts, withData: true });
    const skipped: { id: number; reason: string }[] = [];
    let replayed = 0;
    let records = 0;
    const known = new Set(this.sinks().map((s) => s.name));
    const del = this.db.prepare('DELETE FROM dead_letters WHERE id = ?');
    this.db
      .transaction(() => {
        for (const d of rows) {
          if (!d.data || crc32(d.data) !== d.crc) {
            skipped.push({ id: d.id, reason: 'checksum mismatch' });
            continue;
          }
          if (!known.has(d.sink)) {
            skipped.push({ id: d.id, reason: `sink ${d.sink} has no cursor in this outbox` });
            continue;
          }
          this.stmts.insert.run(Date.now(), d.sink, d.records, d.data.length, d.crc, d.data);
          del.run(d.id);
          replayed++;
          records += d.records;
        }
      })
      .immediate();
    return { replayed, records, skipped };
  }

  /**
   * Removes a sink's cursor (a sink renamed or removed from the configuration): its pending records are dropped,
   * which is recorded as an event with the count (the sink's counters go with its row). Its dead letters stay
   * (listable; purge them separately). Only while no sigflow process owns the data directory.
   */
  forgetSink(name: string): { pendingRecords: number; pendingBatches: number } {
    this.assertOpen();
    return this.db
      .transaction(() => {
        const c = this.sink(name);
        if (!c)
          throw new OutboxError('SF_ERR_OUTBOX_UNKNOWN_SINK', `no sink named ${name} in ${this.file}`, {
            where: this.file,
          });
        const p = this.pendingFor(name, c.cursor);
        this.db.prepare('DELETE FROM sinks WHERE name = ?').run(name);
        this.db.prepare('DELETE FROM batches WHERE target = ?').run(name);
        const m = (this.stmts.minCursor.get() as { m: number | null }).m;
        if (m === null) this.db.prepare('DELETE FROM batches').run();
        else this.stmts.gcAll.run(m);
        this.recordEvents('forget-sink', [
          `sink ${name} forgotten: ${p.pendingRecords} pending records in ${p.pendingBatches} batches dropped for it ` +
            `(it had delivered ${c.deliveredRecords}, dropped ${c.droppedRecords}, dead-lettered ${c.deadLetteredRecords})`,
        ]);
        return { pendingRecords: p.pendingRecords, pendingBatches: p.pendingBatches };
      })
      .immediate();
  }

  /** Deletes dead letters for good. Returns how many rows and records went. */
  purgeDeadLetters(opts: { sink?: string; ids?: readonly number[] }): { purged: number; records: number } {
    this.assertOpen();
    const rows = this.deadLetters(opts);
    const del = this.db.prepare('DELETE FROM dead_letters WHERE id = ?');
    const count = this.db.prepare('UPDATE sinks SET purged_records = purged_records + ? WHERE name = ?');
    let records = 0;
    this.db
      .transaction(() => {
        for (const d of rows) {
          del.run(d.id);
          count.run(d.records, d.sink);
          records += d.records;
        }
      })
      .immediate();
    return { purged: rows.length, records };
  }

  /** Runs a passive WAL checkpoint, which fsyncs the WAL (and the database) under synchronous=NORMAL. */
  checkpoint(): void {
    if (this.closed) return;
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** True when `dir` holds an outbox database. */
export function outboxExists(dir: string): boolean {
  return existsSync(join(dir, OUTBOX_FILE));
}
