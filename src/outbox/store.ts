/**
 * The SQL side of the outbox: `OutboxStore` over one SQLite database `<dataDir>/outbox.db` in WAL mode (the tables
 * are described in schema.ts). Opening checks identity and integrity and hands a damaged file to recovery.ts; the
 * data directory's lock is lock.ts. Everything here is synchronous (better-sqlite3); the async delivery logic
 * lives in outbox.ts and worker.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { makeDirectory } from '../io/index.js';
import { crc32 } from './crc32.js';
import { OutboxClosedError, OutboxError, OutboxOpenError } from './errors.js';
import { recoverCorrupt } from './recovery.js';
import {
  APP_ID,
  type DeadLetter,
  MIGRATE_1_TO_2,
  type NewDeadLetter,
  OUTBOX_FILE,
  type OutboxEventKind,
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

/**
 * Counts a batch's records as lost in `column` for every sink that had not passed it — less the prefix a sink had
 * already done of it (its partly done batch), which is forgotten with the batch.
 */
function lossUpdate(column: string): string {
  return `UPDATE sinks SET ${column} = ${column} + @n - CASE WHEN partial_batch = @id THEN min(partial_done, @n) ELSE 0 END,
     partial_done = CASE WHEN partial_batch = @id THEN 0 ELSE partial_done END,
     partial_batch = CASE WHEN partial_batch = @id THEN NULL ELSE partial_batch END
   WHERE cursor < @id AND (@target IS NULL OR name = @target)`;
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

  /** True for a store opened with `readonly` (it never writes, and leaves no -wal/-shm behind). */
  get readonly(): boolean {
    return this.db.readonly;
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
        throw new OutboxOpenError(`no outbox at ${file} (nor in ${join(dataDir, 'outbox', OUTBOX_FILE)})`, {
          code: 'SF_ERR_OUTBOX_MISSING',
          where: file,
        });
    } else makeDirectory(dataDir, 'outbox folder'); // not mkdir -p: Node's loops forever under /proc
    const log = opts.logger;
    let db: Database.Database | undefined;
    try {
      db = OutboxStore.connect(file, opts);
      if (opts.integrityCheck !== false) {
        const rows = db.pragma('quick_check(20)') as { quick_check: string }[];
        // one message can hold several lines ("*** in database main ***\nPage 15: never used…"): the first few
        const problems = rows
          .flatMap((r) => r.quick_check.split('\n'))
          .filter((m) => m !== 'ok' && !m.startsWith('***'));
        if (rows.some((r) => r.quick_check !== 'ok')) {
          const more = problems.length > 3 ? ` (+${problems.length - 3} more)` : '';
          throw new OutboxOpenError(`quick_check failed: ${problems.slice(0, 3).join('; ')}${more}`, {
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
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v === 1) db.transaction(() => db.exec(MIGRATE_1_TO_2)).immediate();
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
      countDrop: db.prepare(lossUpdate('dropped_records')),
      countExpire: db.prepare(lossUpdate('expired_records')),
      countCorrupt: db.prepare(lossUpdate('corrupt_records')),
      accept: db.prepare(
        'UPDATE sinks SET accepted_records = accepted_records + @n WHERE (@target IS NULL OR name = @target)',
      ),
      setPartial: db.prepare('UPDATE sinks SET partial_batch = ?, partial_done = ? WHERE name = ?'),
      repair: db.prepare('UPDATE batches SET data = ?, bytes = ?, crc = ? WHERE id = ?'),
      dropNewest: db.prepare(
        'UPDATE sinks SET dropped_records = dropped_records + @n, accepted_records = accepted_records + @n',
      ),
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
        let seq = (this.stmts.seq.get() as { seq: number } | undefined)?.seq ?? 0;
        // A recovery that could not read the cursors: start at the beginning, so what was salvaged is delivered
        // (again, at least once) instead of skipped; those records count as accepted.
        const lost = this.db.prepare("SELECT value FROM meta WHERE key = 'sinks_lost'").get() !== undefined;
        if (lost) {
          seq = 0;
          this.db.prepare("DELETE FROM meta WHERE key = 'sinks_lost'").run();
        }
        for (const n of names) {
          if (add.run(n, seq, now).changes > 0 && lost)
            this.db
              .prepare(
                'UPDATE sinks SET accepted_records = (SELECT coalesce(sum(records), 0) FROM batches WHERE target IS NULL OR target = ?) WHERE name = ?',
              )
              .run(n, n);
        }
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
            if (opts.target) {
              this.stmts.accept.run({ n: records, target: opts.target });
              this.stmts.countDrop.run({ n: records, id: Number.MAX_SAFE_INTEGER, target: opts.target });
            } else this.stmts.dropNewest.run({ n: records });
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
        this.stmts.accept.run({ n: records, target: opts.target ?? null });
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
      /** The sink's partly done batch after the cursor and its done prefix (null: none); undefined: unchanged. */
      partial?: { batch: number; done: number } | null;
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
        if (c.partial !== undefined) this.stmts.setPartial.run(c.partial?.batch ?? null, c.partial?.done ?? 0, sink);
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
  recordEvents(kind: OutboxEventKind, messages: readonly string[]): void {
    for (const m of messages) this.recordEvent(kind, m);
  }

  /** Appends one event with the sink, record count and lost batch ranges it concerns. */
  recordEvent(
    kind: OutboxEventKind,
    message: string,
    about: { sink?: string; records?: number; lostBatches?: [number, number][] } = {},
  ): void {
    this.db
      .prepare('INSERT INTO events (at_ms, kind, message, sink, records, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(
        Date.now(),
        kind,
        message,
        about.sink ?? null,
        about.records ?? null,
        about.lostBatches ? JSON.stringify({ lostBatches: about.lostBatches }) : null,
      );
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

  /**
   * What is still to be delivered to a sink: the records of the batches after its cursor that apply to it, less
   * the done prefix of the batch it has partly done (pendingBatches and pendingBytes count that batch whole).
   */
  pendingFor(c: Pick<SinkCounters, 'name' | 'cursor' | 'partialBatch' | 'partialDone'>): SinkPending {
    const r = this.db
      .prepare(
        `SELECT count(*) AS b, coalesce(sum(records), 0) AS r, coalesce(sum(bytes), 0) AS y, min(created_ms) AS o,
                coalesce(sum(CASE WHEN id = @partial THEN min(records, @done) ELSE 0 END), 0) AS d
         FROM batches WHERE id > @cursor AND (target IS NULL OR target = @name)`,
      )
      .get({ cursor: c.cursor, name: c.name, partial: c.partialBatch, done: c.partialDone }) as {
      b: number;
      r: number;
      y: number;
      o: number | null;
      d: number;
    };
    return { pendingBatches: r.b, pendingRecords: r.r - r.d, pendingBytes: r.y, oldestPendingMs: r.o };
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

  /** How many dead letters match (a listing with a limit says "showing n of this"). */
  countDeadLetters(opts: { sink?: string; ids?: readonly number[] } = {}): number {
    return this.deadLetters({ ...opts, withData: false }).length;
  }

  /** The ids among `ids` that name no dead letter (of `sink`, when given), in the order given. */
  unknownDeadLetters(ids: readonly number[], sink?: string): number[] {
    if (ids.length === 0) return [];
    const known = new Set(this.deadLetters({ ids, sink }).map((d) => d.id));
    return [...new Set(ids)].filter((id) => !known.has(id));
  }

  /**
   * Throws SF_ERR_OUTBOX_NO_SUCH_DEAD_LETTER naming the ids that are no dead letter (of `sink`, when given): a
   * replay or purge of a list with a wrong id does nothing (`where`: the outbox file). `label` starts the message
   * (`--id: `); `showFile` names the outbox file in it (a command does, an answer to a browser does not).
   */
  requireDeadLetters(
    ids: readonly number[] | undefined,
    sink?: string,
    opts: { label?: string; showFile?: boolean } = {},
  ): void {
    const unknown = this.unknownDeadLetters(ids ?? [], sink);
    if (unknown.length === 0) return;
    const of = sink !== undefined ? ` of sink ${sink}` : '';
    const inFile = opts.showFile ? ` in ${this.file}` : '';
    throw new OutboxError(
      'SF_ERR_OUTBOX_NO_SUCH_DEAD_LETTER',
      `${opts.label ?? ''}no dead letter ${unknown.map((i) => `#${i}`).join(', ')}${of}${inFile}; nothing done`,
      { where: this.file },
    );
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

  /** The latest events, newest first (`afterId`: only those after that id, e.g. what an import has not seen). */
  events(limit = 20, opts: { kind?: OutboxEventKind; afterId?: number } = {}): RecoveryEvent[] {
    return (
      this.db
        .prepare(
          'SELECT * FROM events WHERE (@kind IS NULL OR kind = @kind) AND id > @after ORDER BY id DESC LIMIT @limit',
        )
        .all({ kind: opts.kind ?? null, after: opts.afterId ?? 0, limit }) as Record<string, unknown>[]
    ).map((r) => {
      let lost: [number, number][] | null = null;
      if (typeof r.detail === 'string') {
        try {
          lost = (JSON.parse(r.detail) as { lostBatches?: [number, number][] }).lostBatches ?? null;
        } catch {
          lost = null;
        }
      }
      return {
        id: r.id as number,
        atMs: r.at_ms as number,
        kind: r.kind as string,
        message: r.message as string,
        sink: (r.sink as string | null | undefined) ?? null,
        records: (r.records as number | null | undefined) ?? null,
        lostBatches: lost,
      };
    });
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
          this.stmts.accept.run({ n: d.records, target: d.sink });
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
        const p = this.pendingFor(c);
        this.db.prepare('DELETE FROM sinks WHERE name = ?').run(name);
        this.db.prepare('DELETE FROM batches WHERE target = ?').run(name);
        const m = (this.stmts.minCursor.get() as { m: number | null }).m;
        if (m === null) this.db.prepare('DELETE FROM batches').run();
        else this.stmts.gcAll.run(m);
        this.recordEvent(
          'forget-sink',
          `sink ${name} forgotten: ${p.pendingRecords} pending records in ${p.pendingBatches} batches dropped for it ` +
            `(it had delivered ${c.deliveredRecords}, dropped ${c.droppedRecords}, dead-lettered ${c.deadLetteredRecords})`,
          { sink: name, records: p.pendingRecords },
        );
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

  /**
   * Closes the database. A writer leaves the file in rollback-journal mode (WAL is switched back on at the next
   * open), so that read-only tools, read-only users and read-only media can read it without creating -wal/-shm
   * files; if another connection still has it open, it simply stays in WAL mode.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.db.readonly) leaveWalMode(this.db);
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Switches a database back to rollback-journal mode before its last close (see OutboxStore.close); best effort. */
export function leaveWalMode(db: Database.Database): void {
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('journal_mode = DELETE');
  } catch {
    // another connection has it open (or the disk refuses): it stays in WAL mode, which is fine for writers
  }
}

/**
 * The outbox directory a user means by `dir`: the directory holding outbox.db itself, or a sigflow data directory
 * with the outbox in its `outbox/` folder (what `sigflow import --data-dir` makes). The same `--data-dir` works
 * for `import` and `outbox`. Returns `dir` when neither holds an outbox (opening then names what is missing).
 */
export function outboxDirOf(dir: string): string {
  if (existsSync(join(dir, OUTBOX_FILE))) return dir;
  const nested = join(dir, 'outbox');
  if (existsSync(join(nested, OUTBOX_FILE))) return nested;
  return dir;
}

/** True when `dir` holds an outbox database. */
export function outboxExists(dir: string): boolean {
  return existsSync(join(dir, OUTBOX_FILE));
}
