/**
 * The durable outbox: producers `enqueue` batches of records (accepted = committed to the SQLite WAL), one
 * delivery loop per sink writes them in order and advances that sink's cursor only on the sink's answer, acting on
 * each WriteResult class. Batches are deleted once every sink they apply to has passed them.
 */
import pino, { type Logger } from 'pino';
import type { TelemetryRecord } from '../records/record.js';
import type { Sink, WriteResult } from '../sinks/sink.js';
import { decodeBatch, encodeBatch } from './codec.js';
import { crc32 } from './crc32.js';
import { BatchDecodeError, BatchTooLargeError, OutboxClosedError, OutboxError, OutboxFullError } from './errors.js';
import { HotBatches } from './hot.js';
import {
  lockDataDir,
  type NewDeadLetter,
  OutboxStore,
  type RecoveryEvent,
  type SinkCounters,
  type SinkPending,
  type StoredBatch,
  type Synchronous,
  type WhenFull,
} from './store.js';

export interface SinkDelivery {
  sink: Sink;
  /** Records per write (default 5000). Stored batches are split or combined to this size. */
  batchSize?: number;
  /** Write a partial batch at the latest this long after the previous write (default 1000 ms)… */
  flushIntervalMs?: number;
  /** …plus a random 0…flushJitterMs (default 100 ms), so many sigflows don't flush in lockstep. */
  flushJitterMs?: number;
  /** Writes in flight at once (default 1, which keeps acceptance order). */
  concurrency?: number;
  /** Backoff after a failed write: first delay (default 5000 ms), factor (2), cap (30000 ms), ± jitter (0.2). */
  backoffInitialMs?: number;
  backoffFactor?: number;
  backoffMaxMs?: number;
  backoffJitter?: number;
  /** Attempts per batch before it is dead-lettered (default Infinity: retry forever). */
  maxAttempts?: number;
  /** A write that takes longer is aborted and retried (default 60000 ms). */
  writeTimeoutMs?: number;
  /** Longest Retry-After honoured (default 1 h); longer values are clamped to it. */
  retryAfterMaxMs?: number;
}

export interface OutboxOptions {
  /** Directory holding outbox.db (created if missing). Keep it outside versioned install directories. */
  dataDir: string;
  sinks: readonly SinkDelivery[];
  /** Disk budget for pending batches, in encoded bytes (default 1 GiB). */
  maxBytes?: number;
  /** Pending batches older than this are dropped and counted as expired (default: no age limit). */
  maxAgeMs?: number;
  /** Default policy when the budget is full (default 'block'); enqueue() can override it per call. */
  whenFull?: WhenFull;
  /** How long a blocked enqueue waits for space before it fails with OutboxFullError (default 60000 ms). */
  blockTimeoutMs?: number;
  /** Budget for dead letters (default = maxBytes); beyond it the oldest are deleted and counted. */
  deadLetterMaxBytes?: number;
  /** 'normal' (default): survives a process kill; 'full': every accepted batch also survives a power cut. */
  synchronous?: Synchronous;
  /** With synchronous 'normal', fsync the WAL this often via a passive checkpoint (default 1000 ms; 0 = never). */
  checkpointIntervalMs?: number;
  /**
   * Recently enqueued batches are also kept in memory, up to this many encoded bytes (default 8 MiB; 0 = off), so
   * sinks that keep up skip reading them back and decoding them (src/outbox/hot.ts). The disk copy is unaffected.
   */
  memoryCacheBytes?: number;
  /** How often an idle loop looks for batches added by other processes (e.g. `outbox replay`), default 1000 ms. */
  pollIntervalMs?: number;
  /** Run PRAGMA quick_check on open (default true). */
  integrityCheck?: boolean;
  /** Take the data directory's lock (default true). */
  lock?: boolean;
  logger?: Logger;
  /** Source of randomness for jitter (tests make it deterministic). */
  random?: () => number;
  /** Clock (tests). */
  now?: () => number;
}

export interface EnqueueOptions {
  whenFull?: WhenFull;
  /** Overrides blockTimeoutMs for this call. */
  timeoutMs?: number;
}

export interface EnqueueResult {
  /** True when the batch is stored (committed): from here on it is delivered at least once or counted. */
  accepted: boolean;
  /** Batch id (acceptance order) when accepted. */
  id: number | null;
  records: number;
  /** Records of older batches deleted to make room (drop_oldest), counted per sink. */
  droppedOldestRecords: number;
  /** True when this batch itself was dropped (drop_newest), counted per sink. */
  droppedNewest: boolean;
  /** Time spent waiting for space (block). */
  waitedMs: number;
}

export interface SinkStatus extends SinkCounters, SinkPending {
  /** Configured in this process (inactive sinks still hold their backlog). */
  active: boolean;
  /** Dead letters of this sink stored now (deadLetteredRecords counts every record ever dead-lettered). */
  deadLettersStored: { count: number; records: number; bytes: number };
  oldestPendingAgeMs: number | null;
  inFlight: number;
  consecutiveFailures: number;
  backoffUntilMs: number | null;
}

export interface OutboxStatus {
  file: string;
  pendingBatches: number;
  pendingRecords: number;
  pendingBytes: number;
  maxBytes: number | null;
  maxAgeMs: number | null;
  whenFull: WhenFull | null;
  synchronous: Synchronous | null;
  deadLetters: { count: number; records: number; bytes: number };
  quarantined: { count: number; records: number; bytes: number };
  recoveryEvents: RecoveryEvent[];
  sinks: SinkStatus[];
}

/** What one delivery step did (deliverOnce). */
export type StepOutcome =
  | { kind: 'idle' }
  | { kind: WriteResult['kind'] | 'gave_up'; records: number; reason?: string };

const DEFAULTS = {
  batchSize: 5000,
  flushIntervalMs: 1000,
  flushJitterMs: 100,
  concurrency: 1,
  backoffInitialMs: 5000,
  backoffFactor: 2,
  backoffMaxMs: 30000,
  backoffJitter: 0.2,
  maxAttempts: Number.POSITIVE_INFINITY,
  writeTimeoutMs: 60000,
  retryAfterMaxMs: 3600000,
};

const GiB = 1024 ** 3;

function defaultLogger(): Logger {
  return pino({ name: 'sigflow-outbox' }, pino.destination(2));
}

function checkPositive(what: string, v: number | undefined, allowZero = false, allowInf = false): void {
  if (v === undefined) return;
  const ok =
    typeof v === 'number' && !Number.isNaN(v) && (allowZero ? v >= 0 : v > 0) && (allowInf || Number.isFinite(v));
  if (!ok)
    throw new OutboxError(
      `outbox option ${what} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(v)}`,
    );
}

/** Builds the status of an outbox from its store alone (the CLI) or with live worker state. */
export function buildStatus(
  store: OutboxStore,
  live?: {
    active: Map<string, SinkWorker>;
    maxBytes: number;
    maxAgeMs: number;
    whenFull: WhenFull;
    synchronous: Synchronous;
  },
  nowMs = Date.now(),
): OutboxStatus {
  const t = store.totals();
  const dl = store.deadLettersBySink();
  const sinks: SinkStatus[] = store.sinks().map((c) => {
    const p = store.pendingFor(c.name, c.cursor);
    const w = live?.active.get(c.name);
    return {
      ...c,
      ...p,
      active: w !== undefined,
      deadLettersStored: dl.get(c.name) ?? { count: 0, records: 0, bytes: 0 },
      oldestPendingAgeMs: p.oldestPendingMs === null ? null : Math.max(0, nowMs - p.oldestPendingMs),
      inFlight: w?.inFlight ?? 0,
      consecutiveFailures: w?.consecutiveFailures ?? 0,
      backoffUntilMs: w && w.backoffUntil > nowMs ? w.backoffUntil : null,
    };
  });
  return {
    file: store.file,
    ...t,
    maxBytes: live ? live.maxBytes : null,
    maxAgeMs: live ? (Number.isFinite(live.maxAgeMs) ? live.maxAgeMs : null) : null,
    whenFull: live ? live.whenFull : null,
    synchronous: live ? live.synchronous : null,
    deadLetters: store.deadLetterTotals(),
    quarantined: store.quarantineTotals(),
    recoveryEvents: store.events(),
    sinks,
  };
}

interface Waiter {
  data: Buffer;
  batch: readonly TelemetryRecord[];
  policy: WhenFull;
  started: number;
  deadline: number;
  resolve: (r: EnqueueResult) => void;
  reject: (e: Error) => void;
}

export class Outbox {
  readonly store: OutboxStore;
  readonly log: Logger;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly whenFull: WhenFull;
  readonly blockTimeoutMs: number;
  readonly deadLetterMaxBytes: number;
  readonly synchronous: Synchronous;
  readonly pollIntervalMs: number;
  readonly random: () => number;
  readonly now: () => number;
  /** Batch ids some worker has fetched and not yet passed with its persisted cursor: never dropped or expired. */
  readonly pinned = new Map<number, number>();
  private readonly pinnedView: ReadonlySet<number>;
  readonly workers = new Map<string, SinkWorker>();
  /** In-memory copies of recently enqueued batches (a shortcut for delivery; never the only copy). */
  readonly hot: HotBatches;
  private readonly waiters: Waiter[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private releaseLock: (() => void) | null = null;
  private started = false;
  private closing = false;
  private waiterTimer: NodeJS.Timeout | null = null;

  private constructor(store: OutboxStore, opts: OutboxOptions, log: Logger) {
    this.store = store;
    this.log = log;
    this.maxBytes = opts.maxBytes ?? GiB;
    this.maxAgeMs = opts.maxAgeMs ?? Number.POSITIVE_INFINITY;
    this.whenFull = opts.whenFull ?? 'block';
    this.blockTimeoutMs = opts.blockTimeoutMs ?? 60000;
    this.deadLetterMaxBytes = opts.deadLetterMaxBytes ?? this.maxBytes;
    this.synchronous = opts.synchronous ?? 'normal';
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.hot = new HotBatches(opts.memoryCacheBytes ?? 8 * 1024 * 1024);
    const pinned = this.pinned;
    this.pinnedView = { has: (id: number) => pinned.has(id) } as ReadonlySet<number>;
  }

  /** Opens the outbox in `opts.dataDir` (recovering a corrupt file), registers the sinks' cursors. Does not start delivery. */
  static open(opts: OutboxOptions): Outbox {
    checkPositive('maxBytes', opts.maxBytes);
    checkPositive('maxAgeMs', opts.maxAgeMs, false, true);
    checkPositive('blockTimeoutMs', opts.blockTimeoutMs, true, true);
    checkPositive('deadLetterMaxBytes', opts.deadLetterMaxBytes, true);
    checkPositive('checkpointIntervalMs', opts.checkpointIntervalMs, true);
    checkPositive('memoryCacheBytes', opts.memoryCacheBytes, true);
    checkPositive('pollIntervalMs', opts.pollIntervalMs);
    if (opts.whenFull !== undefined && !['block', 'drop_oldest', 'drop_newest'].includes(opts.whenFull)) {
      throw new OutboxError(
        `outbox option whenFull must be block, drop_oldest or drop_newest, got ${String(opts.whenFull)}`,
      );
    }
    const names = new Set<string>();
    for (const [i, s] of opts.sinks.entries()) {
      const name = s.sink?.name;
      if (typeof name !== 'string' || name.length === 0) throw new OutboxError(`sink ${i} has no name`);
      if (names.has(name)) throw new OutboxError(`sink name ${name} is configured twice`);
      names.add(name);
      checkPositive(`${name}.batchSize`, s.batchSize);
      checkPositive(`${name}.concurrency`, s.concurrency);
      checkPositive(`${name}.flushIntervalMs`, s.flushIntervalMs, true);
      checkPositive(`${name}.flushJitterMs`, s.flushJitterMs, true);
      checkPositive(`${name}.backoffInitialMs`, s.backoffInitialMs, true);
      checkPositive(`${name}.backoffMaxMs`, s.backoffMaxMs, true);
      checkPositive(`${name}.maxAttempts`, s.maxAttempts, false, true);
      checkPositive(`${name}.writeTimeoutMs`, s.writeTimeoutMs);
      if (s.backoffFactor !== undefined && !(s.backoffFactor >= 1))
        throw new OutboxError(`${name}.backoffFactor must be ≥ 1`);
      if (s.backoffJitter !== undefined && !(s.backoffJitter >= 0 && s.backoffJitter < 1)) {
        throw new OutboxError(`${name}.backoffJitter must be in [0, 1)`);
      }
    }
    const log = opts.logger ?? defaultLogger();
    const release = opts.lock === false ? null : lockDataDir(opts.dataDir);
    let store: OutboxStore;
    try {
      store = OutboxStore.open(opts.dataDir, {
        synchronous: opts.synchronous,
        logger: log,
        integrityCheck: opts.integrityCheck,
      });
    } catch (e) {
      release?.();
      throw e;
    }
    store.ensureSinks([...names]);
    const ob = new Outbox(store, opts, log);
    ob.releaseLock = release;
    for (const s of opts.sinks) ob.workers.set(s.sink.name, new SinkWorker(ob, s));
    const ckpt = opts.checkpointIntervalMs ?? 1000;
    if (ob.synchronous === 'normal' && ckpt > 0) {
      const t = setInterval(() => ob.safely('checkpoint', () => store.checkpoint()), ckpt);
      t.unref();
      ob.timers.push(t);
    }
    if (Number.isFinite(ob.maxAgeMs)) {
      const t = setInterval(() => ob.expireNow(), Math.max(50, Math.min(ob.maxAgeMs / 4, 5000)));
      t.unref();
      ob.timers.push(t);
    }
    return ob;
  }

  /** Starts one delivery loop per sink. */
  start(): this {
    if (this.closing) throw new OutboxClosedError('outbox is closed');
    if (this.started) return this;
    this.started = true;
    for (const w of this.workers.values()) w.start();
    return this;
  }

  get isClosed(): boolean {
    return this.closing;
  }

  /** Runs fn, logging (not throwing) failures of background work. */
  safely(what: string, fn: () => void): void {
    if (this.closing || this.store.isClosed) return;
    try {
      fn();
    } catch (e) {
      this.log.error({ err: e }, `outbox ${what} failed`);
    }
  }

  /** An intact copy of a batch that some sink read (or was handed) before its stored copy went bad, if any. */
  intactCopy(id: number): readonly TelemetryRecord[] | undefined {
    if (!this.pinned.has(id)) return undefined;
    for (const w of this.workers.values()) {
      const r = w.heldRecords(id);
      if (r) return r;
    }
    return undefined;
  }

  pin(id: number): void {
    this.pinned.set(id, (this.pinned.get(id) ?? 0) + 1);
  }

  unpin(id: number): void {
    const n = this.pinned.get(id);
    if (n === undefined) return;
    if (n <= 1) this.pinned.delete(id);
    else this.pinned.set(id, n - 1);
  }

  /**
   * Stores a batch durably. Resolves once the batch is committed (accepted) or, under drop_newest, dropped and
   * counted. Under `block` a full outbox makes the call wait (FIFO behind earlier blocked calls) until deliveries
   * free space, and reject with OutboxFullError after the timeout. Invalid records reject with OutboxInputError
   * and nothing is stored.
   */
  enqueue(records: readonly TelemetryRecord[], opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    let r: EnqueueResult | Promise<EnqueueResult>;
    try {
      r = this.enqueueNow(records, opts);
    } catch (e) {
      return Promise.reject(e);
    }
    if (r instanceof Promise) return r;
    // Resolve on the next event-loop turn, not as a microtask: a producer enqueueing in a tight loop would
    // otherwise never let the sinks' I/O callbacks run, and delivery would stall until it stopped.
    const done = r;
    return new Promise((resolve) => setImmediate(() => resolve(done)));
  }

  private enqueueNow(
    records: readonly TelemetryRecord[],
    opts: EnqueueOptions,
  ): EnqueueResult | Promise<EnqueueResult> {
    if (this.closing) throw new OutboxClosedError('enqueue after close()');
    if (!Array.isArray(records)) throw new OutboxError('enqueue expects an array of records');
    if (records.length === 0) {
      return { accepted: true, id: null, records: 0, droppedOldestRecords: 0, droppedNewest: false, waitedMs: 0 };
    }
    if (this.workers.size === 0 && !this.store.hasSinks())
      throw new OutboxError('enqueue with no sinks configured: nothing would deliver it');
    const data = encodeBatch(records);
    if (data.length > this.maxBytes) {
      throw new BatchTooLargeError(
        `a batch of ${records.length} records encodes to ${data.length} bytes, more than the outbox budget of ${this.maxBytes} bytes`,
      );
    }
    const policy = opts.whenFull ?? this.whenFull;
    const started = this.now();
    // Only `block` calls queue behind earlier blocked calls; drop_oldest / drop_newest act at once.
    if (this.waiters.length === 0 || policy !== 'block') {
      const r = this.tryInsert(data, records, policy, started);
      if (r) return r;
    }
    return new Promise<EnqueueResult>((resolve, reject) => {
      this.waiters.push({
        data,
        batch: records,
        policy,
        started,
        deadline: started + (opts.timeoutMs ?? this.blockTimeoutMs),
        resolve,
        reject,
      });
      this.armWaiterTimer();
    });
  }

  private tryInsert(
    data: Buffer,
    batch: readonly TelemetryRecord[],
    policy: WhenFull,
    started: number,
  ): EnqueueResult | null {
    const records = batch.length;
    const r = this.store.insert(data, records, {
      maxBytes: this.maxBytes,
      whenFull: policy,
      pinned: this.pinnedView,
      nowMs: this.now(),
    });
    if (r.kind === 'full') return null;
    const waitedMs = this.now() - started;
    if (r.kind === 'dropped_newest') {
      this.log.warn({ records }, 'outbox full: new batch dropped (drop_newest), counted');
      return { accepted: false, id: null, records, droppedOldestRecords: 0, droppedNewest: true, waitedMs };
    }
    if (r.droppedRecords > 0) {
      this.hot.forgetBelow(this.store.oldestBatchId());
      this.log.warn(
        { batches: r.droppedBatches, records: r.droppedRecords },
        'outbox full: oldest batches dropped (drop_oldest), counted',
      );
    }
    this.hot.remember(r.id, batch, data.length, this.workers.keys());
    for (const w of this.workers.values()) w.poke();
    return {
      accepted: true,
      id: r.id,
      records,
      droppedOldestRecords: r.droppedRecords,
      droppedNewest: false,
      waitedMs,
    };
  }

  private armWaiterTimer(): void {
    if (this.waiterTimer || this.waiters.length === 0) return;
    this.waiterTimer = setTimeout(
      () => {
        this.waiterTimer = null;
        this.spaceFreed();
      },
      Math.min(250, Math.max(1, Math.min(...this.waiters.map((w) => w.deadline)) - this.now())),
    );
  }

  /** Called whenever batches may have been deleted: admits blocked enqueues in order, fails timed-out ones. */
  spaceFreed(): void {
    if (this.hot.size > 0 && !this.store.isClosed) this.hot.forgetBelow(this.store.oldestBatchId());
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      if (this.closing) {
        this.waiters.shift();
        w.reject(new OutboxClosedError('outbox closed while enqueue was waiting for space; the batch was not stored'));
        continue;
      }
      let r: EnqueueResult | null;
      try {
        r = this.tryInsert(w.data, w.batch, w.policy, w.started);
      } catch (e) {
        this.waiters.shift();
        w.reject(e as Error);
        continue;
      }
      if (r) {
        this.waiters.shift();
        w.resolve(r);
        continue;
      }
      if (this.now() >= w.deadline) {
        this.waiters.shift();
        const t = this.store.totals();
        w.reject(
          new OutboxFullError(
            `outbox full: ${t.pendingBytes} of ${this.maxBytes} bytes pending; waited ${this.now() - w.started} ms for space, batch of ${w.batch.length} records not stored`,
          ),
        );
        continue;
      }
      break;
    }
    // Waiters behind the head keep their own deadlines (a per-call timeoutMs can be shorter).
    const now = this.now();
    for (let i = 1; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      if (now < w.deadline) continue;
      this.waiters.splice(i--, 1);
      w.reject(
        new OutboxFullError(
          `outbox full: waited ${now - w.started} ms for space, batch of ${w.batch.length} records not stored`,
        ),
      );
    }
    if (this.waiterTimer) {
      clearTimeout(this.waiterTimer);
      this.waiterTimer = null;
    }
    this.armWaiterTimer();
  }

  /** Drops batches older than maxAgeMs now (also runs on a timer). Returns records expired. */
  expireNow(): number {
    if (!Number.isFinite(this.maxAgeMs) || this.closing) return 0;
    let n = 0;
    this.safely('expiry', () => {
      n = this.store.expire(this.now() - this.maxAgeMs, this.pinnedView);
    });
    if (n > 0) {
      this.log.warn(
        { records: n, maxAgeMs: this.maxAgeMs },
        'outbox: pending records older than maxAge dropped (counted as expired)',
      );
      this.spaceFreed();
    }
    return n;
  }

  /** One delivery step for one sink, ignoring flush interval and backoff (tests, tools). Loops must not be running. */
  async deliverOnce(sinkName: string): Promise<StepOutcome> {
    const w = this.workers.get(sinkName);
    if (!w) throw new OutboxError(`no sink named ${sinkName}`);
    if (this.started) throw new OutboxError('deliverOnce is for outboxes whose loops are not started');
    if (this.closing) throw new OutboxClosedError('deliverOnce after close()');
    return w.step();
  }

  /** Waits until every configured sink has nothing pending (forcing partial batches out), or rejects on timeout. */
  async drain(timeoutMs = 60000): Promise<void> {
    if (!this.started) this.start();
    const deadline = this.now() + timeoutMs;
    for (const w of this.workers.values()) w.forceFlush++;
    try {
      for (;;) {
        if (this.closing) throw new OutboxClosedError('outbox closed during drain');
        let busy = false;
        for (const w of this.workers.values()) {
          if (!w.isIdle()) {
            busy = true;
            w.poke();
          }
        }
        if (!busy) {
          let pending = false;
          for (const w of this.workers.values()) {
            const c = this.store.sink(w.name);
            if (c && this.store.pendingFor(w.name, c.cursor).pendingBatches > 0) pending = true;
          }
          if (!pending) return;
          for (const w of this.workers.values()) w.poke();
        }
        if (this.now() >= deadline) {
          const st = this.status();
          const behind = st.sinks
            .filter((s) => s.active && s.pendingRecords > 0)
            .map((s) => `${s.name}: ${s.pendingRecords} records (${s.lastError ?? 'no error'})`);
          throw new OutboxError(
            `drain timed out after ${timeoutMs} ms; still pending: ${behind.join('; ') || 'writes in flight'}`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      for (const w of this.workers.values()) w.forceFlush--;
    }
  }

  status(): OutboxStatus {
    return buildStatus(
      this.store,
      {
        active: this.workers,
        maxBytes: this.maxBytes,
        maxAgeMs: this.maxAgeMs,
        whenFull: this.whenFull,
        synchronous: this.synchronous,
      },
      this.now(),
    );
  }

  /**
   * Stops the loops, waits up to `timeoutMs` for writes in flight (their outcome is recorded), then closes the
   * database. Nothing pending is lost: it is delivered after the next open.
   */
  async close(timeoutMs = 10000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.spaceFreed();
    for (const t of this.timers) clearInterval(t);
    const deadline = Date.now() + timeoutMs;
    for (const w of this.workers.values()) w.stop();
    while ([...this.workers.values()].some((w) => w.inFlight > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    for (const w of this.workers.values()) w.abortAll();
    this.finish();
  }

  /**
   * Stops at once like a crash: in-flight writes are abandoned (their batches stay pending and are delivered
   * again after the next open), nothing more is written to the database.
   */
  abort(): void {
    if (this.closing) return;
    this.closing = true;
    this.spaceFreed();
    for (const t of this.timers) clearInterval(t);
    for (const w of this.workers.values()) {
      w.stop();
      w.abortAll();
    }
    this.finish();
  }

  private finish(): void {
    if (this.waiterTimer) clearTimeout(this.waiterTimer);
    this.hot.clear();
    try {
      this.store.close();
    } finally {
      this.releaseLock?.();
      this.releaseLock = null;
    }
  }
}

interface WinBatch {
  id: number;
  /** For another sink: passed without delivering. */
  skip: boolean;
  records: readonly TelemetryRecord[];
  total: number;
  assigned: number;
  done: number;
}

interface Seg {
  b: WinBatch;
  n: number;
}

interface Unit {
  records: TelemetryRecord[];
  segs: Seg[];
  attempts: number;
}

function splitSegs(segs: Seg[], at: number): [Seg[], Seg[]] {
  const a: Seg[] = [];
  const b: Seg[] = [];
  let left = at;
  for (const s of segs) {
    if (left >= s.n) {
      a.push(s);
      left -= s.n;
    } else if (left > 0) {
      a.push({ b: s.b, n: left });
      b.push({ b: s.b, n: s.n - left });
      left = 0;
    } else b.push(s);
  }
  return [a, b];
}

function batchOf(segs: Seg[], index: number): number {
  let i = index;
  for (const s of segs) {
    if (i < s.n) return s.b.id;
    i -= s.n;
  }
  return segs.length ? segs[segs.length - 1].b.id : 0;
}

/** One sink's delivery loop: window of fetched batches, units of up to batchSize records, retries, backoff. */
export class SinkWorker {
  readonly name: string;
  readonly sink: Sink;
  private readonly ob: Outbox;
  private readonly cfg: Required<Omit<SinkDelivery, 'sink'>>;
  private window: WinBatch[] = [];
  private fetchedTo: number;
  private retryQueue: Unit[] = [];
  inFlight = 0;
  consecutiveFailures = 0;
  backoffUntil = 0;
  forceFlush = 0;
  private lastFlush: number;
  private flushDeadline: number;
  private stopping = false;
  private wake: (() => void) | null = null;
  private readonly controllers = new Set<AbortController>();
  private running: Promise<void> | null = null;

  constructor(ob: Outbox, d: SinkDelivery) {
    this.ob = ob;
    this.sink = d.sink;
    this.name = d.sink.name;
    this.cfg = {
      batchSize: d.batchSize ?? DEFAULTS.batchSize,
      flushIntervalMs: d.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
      flushJitterMs: d.flushJitterMs ?? DEFAULTS.flushJitterMs,
      concurrency: d.concurrency ?? DEFAULTS.concurrency,
      backoffInitialMs: d.backoffInitialMs ?? DEFAULTS.backoffInitialMs,
      backoffFactor: d.backoffFactor ?? DEFAULTS.backoffFactor,
      backoffMaxMs: d.backoffMaxMs ?? DEFAULTS.backoffMaxMs,
      backoffJitter: d.backoffJitter ?? DEFAULTS.backoffJitter,
      maxAttempts: d.maxAttempts ?? DEFAULTS.maxAttempts,
      writeTimeoutMs: d.writeTimeoutMs ?? DEFAULTS.writeTimeoutMs,
      retryAfterMaxMs: d.retryAfterMaxMs ?? DEFAULTS.retryAfterMaxMs,
    };
    const c = ob.store.sink(this.name);
    this.fetchedTo = c ? c.cursor : 0;
    this.lastRowRecords = this.cfg.batchSize;
    this.lastFlush = ob.now();
    this.flushDeadline = this.nextDeadline();
  }

  private nextDeadline(): number {
    return this.lastFlush + this.cfg.flushIntervalMs + Math.floor(this.ob.random() * (this.cfg.flushJitterMs + 1));
  }

  start(): void {
    this.running ??= this.run();
  }

  stop(): void {
    this.stopping = true;
    this.poke();
  }

  abortAll(): void {
    for (const c of this.controllers) c.abort(new OutboxClosedError('outbox closed'));
    this.controllers.clear();
  }

  poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(
        () => {
          this.wake = null;
          resolve();
        },
        Math.max(0, Math.min(ms, 2 ** 31 - 1)),
      );
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Nothing fetched, queued or in flight (the store may still hold batches not fetched yet). */
  isIdle(): boolean {
    return this.inFlight === 0 && this.retryQueue.length === 0 && this.window.every((b) => b.skip);
  }

  private unassigned(): number {
    let n = 0;
    for (const b of this.window) n += b.total - b.assigned;
    return n;
  }

  /** Fetches batches after fetchedTo until the window holds a full write's worth. */
  private fill(): void {
    let want = this.cfg.batchSize - this.unassigned();
    while (want > 0) {
      // Read about as many rows as the write needs (sized by the last row seen), and decode only those.
      const limit = Math.max(1, Math.min(256, Math.ceil(want / Math.max(1, this.lastRowRecords))));
      const rows = this.ob.store.fetch(this.fetchedTo, limit);
      if (rows.length === 0) return;
      for (const row of rows) {
        if (want <= 0) break;
        // admit() may throw (e.g. disk full while quarantining): then the row is fetched again next time.
        const b = this.admit(row);
        this.fetchedTo = row.id;
        this.lastRowRecords = row.records;
        if (b) {
          this.window.push(b);
          want -= b.total;
        }
      }
    }
  }

  private lastRowRecords: number;

  private admit(row: StoredBatch): WinBatch | null {
    if (row.target !== null && row.target !== this.name)
      return { id: row.id, skip: true, records: [], total: 0, assigned: 0, done: 0 };
    const hot = this.ob.hot.take(row.id, this.name);
    const records = hot !== undefined && hot.length === row.records ? hot : this.readStored(row);
    if (records === null) return null;
    this.ob.pin(row.id);
    this.myPins.add(row.id);
    return { id: row.id, skip: false, records, total: records.length, assigned: 0, done: 0 };
  }

  /** The stored copy of a batch, checked (length, CRC, decode); a damaged one is quarantined and null returned. */
  private readStored(row: StoredBatch): TelemetryRecord[] | null {
    let reason: string | null = null;
    let records: TelemetryRecord[] = [];
    if (!Buffer.isBuffer(row.data) || row.data.length !== row.bytes)
      reason = `stored length ${row.data?.length} ≠ recorded ${row.bytes}`;
    else if (crc32(row.data) !== row.crc) reason = `checksum mismatch (crc32 ${crc32(row.data)} ≠ stored ${row.crc})`;
    else {
      try {
        records = decodeBatch(row.data);
        if (records.length !== row.records) reason = `decoded ${records.length} records, row says ${row.records}`;
      } catch (e) {
        // Only a malformed blob is corruption; anything else (out of memory…) is retried, never quarantined.
        if (!(e instanceof BatchDecodeError)) throw e;
        reason = e.message;
      }
    }
    if (reason === null) return records;
    // Another sink read this batch intact before its stored copy went bad: repair the stored copy from it, so that
    // no sink loses the batch (that sink's copy lives only in memory until it is delivered).
    const copy = this.ob.intactCopy(row.id);
    if (copy !== undefined && copy.length === row.records && this.ob.store.repair(row.id, encodeBatch(copy))) {
      this.ob.log.warn(
        { sink: this.name, batch: row.id, reason },
        'outbox batch damaged on disk; repaired from an intact copy in memory',
      );
      return [...copy];
    }
    this.ob.store.quarantine(row, `batch ${row.id}: ${reason}`);
    return null;
  }

  /** The next write, or null when there is nothing to write yet (force: ignore the flush interval). */
  private nextUnit(force: boolean): Unit | null {
    if (this.retryQueue.length > 0) return this.retryQueue.shift() as Unit;
    this.fill();
    this.settleHead();
    const avail = this.unassigned();
    if (avail === 0) return null;
    if (avail < this.cfg.batchSize && !force && this.ob.now() < this.flushDeadline) return null;
    const records: TelemetryRecord[] = [];
    const segs: Seg[] = [];
    for (const b of this.window) {
      if (records.length >= this.cfg.batchSize) break;
      const free = b.total - b.assigned;
      if (free <= 0) continue;
      const n = Math.min(free, this.cfg.batchSize - records.length);
      if (b.assigned === 0 && n === b.total) for (const r of b.records) records.push(r);
      else for (let i = b.assigned; i < b.assigned + n; i++) records.push(b.records[i]);
      b.assigned += n;
      segs.push({ b, n });
    }
    this.lastFlush = this.ob.now();
    this.flushDeadline = this.nextDeadline();
    return { records, segs, attempts: 0 };
  }

  /** Pops fully done (or skipped) batches off the window head; persists the new cursor if it moved. */
  private settleHead(extra?: { delivered: number; writes: number; deadLetters: NewDeadLetter[] }): void {
    let k = 0;
    while (k < this.window.length) {
      const b = this.window[k];
      if (!(b.skip || (b.assigned >= b.total && b.done >= b.total))) break;
      k++;
    }
    const cursor = k > 0 ? this.window[k - 1].id : null;
    if (cursor !== null || extra) {
      // May throw (disk full, I/O error): then nothing below happens and the caller retries the unit.
      this.ob.store.complete(this.name, {
        cursor,
        delivered: extra?.delivered ?? 0,
        writes: extra?.writes ?? 0,
        deadLetters: extra?.deadLetters ?? [],
        deadLetterMaxBytes: this.ob.deadLetterMaxBytes,
      });
    }
    if (cursor !== null) {
      this.window.splice(0, k);
      for (const id of this.myPins) {
        if (id <= cursor) {
          this.myPins.delete(id);
          this.ob.unpin(id);
        }
      }
      this.ob.spaceFreed();
    }
  }

  private readonly myPins = new Set<number>();

  /** The records of a batch in this sink's window (fetched, not yet settled), if it holds it. */
  heldRecords(id: number): readonly TelemetryRecord[] | undefined {
    if (!this.myPins.has(id)) return undefined;
    return this.window.find((b) => b.id === id && !b.skip)?.records;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const now = this.ob.now();
        if (now < this.backoffUntil) {
          await this.sleep(this.backoffUntil - now);
          continue;
        }
        if (this.inFlight >= this.cfg.concurrency) {
          await this.sleep(this.ob.pollIntervalMs);
          continue;
        }
        const unit = this.nextUnit(this.forceFlush > 0);
        if (!unit) {
          const wait = this.unassigned() > 0 ? this.flushDeadline - this.ob.now() : this.ob.pollIntervalMs;
          await this.sleep(Math.max(1, wait));
          continue;
        }
        this.inFlight++;
        // One macrotask per write: a sink that answers without real I/O cannot starve timers and other sinks.
        await new Promise<void>((r) => setImmediate(r));
        void this.process(unit)
          .catch((e: unknown) => this.ob.log.error({ err: e, sink: this.name }, 'outbox delivery step failed'))
          .finally(() => {
            this.inFlight--;
            this.poke();
          });
        // Read ahead while the write is on the wire: fetching and decoding the next write's batches now overlaps
        // the sink's server time instead of following it (the window never holds more than one write ahead).
        if (this.inFlight > 0 && this.retryQueue.length === 0) this.fill();
      } catch (e) {
        if (this.stopping || this.ob.isClosed) return;
        this.ob.log.error({ err: e, sink: this.name }, 'outbox delivery loop error; retrying in 1 s');
        await this.sleep(1000);
      }
    }
  }

  /** One step for deliverOnce: the next unit regardless of flush interval and backoff. */
  async step(): Promise<StepOutcome> {
    const unit = this.nextUnit(true);
    if (!unit) {
      return { kind: 'idle' };
    }
    this.inFlight++;
    try {
      return await this.process(unit);
    } finally {
      this.inFlight--;
    }
  }

  private async write(records: TelemetryRecord[]): Promise<WriteResult> {
    const ac = new AbortController();
    this.controllers.add(ac);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<WriteResult>((resolve) => {
      timer = setTimeout(() => {
        resolve({ kind: 'retry', reason: `write timed out after ${this.cfg.writeTimeoutMs} ms` });
        ac.abort(new Error('write timed out'));
      }, this.cfg.writeTimeoutMs);
    });
    const aborted = new Promise<WriteResult>((resolve) => {
      ac.signal.addEventListener('abort', () => resolve({ kind: 'retry', reason: 'write aborted' }), { once: true });
    });
    try {
      let p: Promise<WriteResult>;
      try {
        p = Promise.resolve(this.sink.write(records, ac.signal));
      } catch (e) {
        p = Promise.reject(e);
      }
      const guarded = p.then(
        (r) => validResult(r, records.length),
        (e: unknown) =>
          ({ kind: 'retry', reason: `sink threw: ${e instanceof Error ? e.message : String(e)}` }) as WriteResult,
      );
      return await Promise.race([guarded, timeout, aborted]);
    } finally {
      clearTimeout(timer);
      this.controllers.delete(ac);
    }
  }

  private async process(unit: Unit): Promise<StepOutcome> {
    unit.attempts++;
    const n = unit.records.length;
    const res = await this.write(unit.records);
    // After abort() the database is closed: the outcome is not recorded and the batch stays pending.
    if (this.ob.store.isClosed) return { kind: res.kind, records: n };
    try {
      return this.act(unit, res);
    } catch (e) {
      // Acting on the answer failed (e.g. the disk is full while recording it): the unit must not be lost or
      // leave the window unsettled — write it again after a backoff (at-least-once).
      if (this.ob.store.isClosed) return { kind: 'retry', records: 0, reason: 'outbox closed' };
      if (!this.retryQueue.includes(unit)) this.retryQueue.unshift(unit);
      this.consecutiveFailures++;
      this.backoffUntil = this.ob.now() + this.backoffDelay();
      this.ob.log.error({ err: e, sink: this.name }, 'could not act on a sink answer; the batch will be written again');
      return { kind: 'retry', records: 0, reason: `outbox error: ${(e as Error).message}` };
    }
  }

  /** Acts on one sink answer: cursor, counters, dead letters, splits, backoff. */
  private act(unit: Unit, res: WriteResult): StepOutcome {
    const n = unit.records.length;
    const sourceOf = (i: number) => batchOf(unit.segs, i);
    switch (res.kind) {
      case 'ok':
        this.succeeded();
        this.finishUnit(unit, n, []);
        return { kind: 'ok', records: n };
      case 'partial': {
        this.succeeded();
        const byReason = new Map<string, number[]>();
        const seen = new Set<number>();
        for (const r of res.rejected) {
          if (!Number.isInteger(r.index) || r.index < 0 || r.index >= n || seen.has(r.index)) {
            this.ob.log.warn(
              { sink: this.name, index: r.index },
              'sink reported a rejected index outside the batch; ignored',
            );
            continue;
          }
          seen.add(r.index);
          const reason = r.reason || res.reason;
          let list = byReason.get(reason);
          if (!list) byReason.set(reason, (list = []));
          list.push(r.index);
        }
        const dls: NewDeadLetter[] = [];
        for (const [reason, idx] of byReason) {
          idx.sort((a, b) => a - b);
          dls.push({
            kind: 'partial',
            reason,
            records: idx.length,
            data: encodeBatch(idx.map((i) => unit.records[i])),
            sourceBatch: sourceOf(idx[0]),
          });
        }
        if (seen.size > 0)
          this.ob.log.warn(
            { sink: this.name, rejected: seen.size, reason: res.reason },
            'partial write: rejects dead-lettered',
          );
        this.finishUnit(unit, n - seen.size, dls);
        return { kind: 'partial', records: n - seen.size, reason: res.reason };
      }
      case 'too_large': {
        if (n <= 1) {
          this.ob.log.warn(
            { sink: this.name, reason: res.reason },
            'single record too large for the sink: dead-lettered',
          );
          this.finishUnit(unit, 0, [
            {
              kind: 'too_large',
              reason: res.reason,
              records: n,
              data: encodeBatch(unit.records),
              sourceBatch: sourceOf(0),
            },
          ]);
          return { kind: 'too_large', records: 0, reason: res.reason };
        }
        const h = n >> 1;
        const [sa, sb] = splitSegs(unit.segs, h);
        this.retryQueue.unshift(
          { records: unit.records.slice(0, h), segs: sa, attempts: 0 },
          { records: unit.records.slice(h), segs: sb, attempts: 0 },
        );
        return { kind: 'too_large', records: 0, reason: res.reason };
      }
      case 'permanent':
        this.succeeded();
        this.ob.log.warn(
          { sink: this.name, records: n, reason: res.reason },
          'batch rejected permanently: dead-lettered',
        );
        this.finishUnit(unit, 0, [
          {
            kind: 'permanent',
            reason: res.reason,
            records: n,
            data: encodeBatch(unit.records),
            sourceBatch: sourceOf(0),
          },
        ]);
        return { kind: 'permanent', records: 0, reason: res.reason };
      case 'auth':
      case 'misconfigured':
      case 'retry': {
        const auth = res.kind === 'auth';
        const alarm = res.kind !== 'retry';
        try {
          this.ob.store.recordFailure(this.name, `${res.kind}: ${res.reason}`, { auth, alarm }, this.ob.now());
        } catch (e) {
          // Best effort: the failure counters must not stop the retry itself.
          this.ob.log.error({ err: e, sink: this.name }, 'could not record a failed write in the outbox');
        }
        if (alarm)
          this.ob.log.error(
            { sink: this.name, reason: res.reason },
            auth
              ? 'ALARM: sink refused credentials; batch kept, retrying with backoff'
              : 'ALARM: sink cannot store data until its configuration is fixed; batch kept, retrying with backoff',
          );
        else
          this.ob.log.warn(
            { sink: this.name, reason: res.reason, attempt: unit.attempts },
            'sink write failed; will retry',
          );
        if (unit.attempts >= this.cfg.maxAttempts) {
          const reason = `gave up after ${unit.attempts} attempts: ${res.reason}`;
          this.finishUnit(unit, 0, [
            { kind: 'gave_up', reason, records: n, data: encodeBatch(unit.records), sourceBatch: sourceOf(0) },
          ]);
          return { kind: 'gave_up', records: 0, reason };
        }
        this.consecutiveFailures++;
        const retryAfter = res.kind === 'retry' ? res.retryAfterMs : undefined;
        this.backoffUntil = this.ob.now() + this.backoffDelay(retryAfter);
        this.retryQueue.unshift(unit);
        return { kind: res.kind, records: 0, reason: res.reason };
      }
    }
  }

  /** Delay before the next attempt: Retry-After when the server gave one, else capped exponential with jitter. */
  backoffDelay(retryAfterMs?: number): number {
    // A server answering "Retry-After: 0" (or a date in the past) gets the normal backoff, not a tight loop.
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
      return Math.min(retryAfterMs, this.cfg.retryAfterMaxMs);
    }
    const k = Math.max(0, this.consecutiveFailures - 1);
    const base = Math.min(this.cfg.backoffMaxMs, this.cfg.backoffInitialMs * this.cfg.backoffFactor ** k);
    const j = this.cfg.backoffJitter;
    return Math.max(0, Math.round(base * (1 - j + 2 * j * this.ob.random())));
  }

  private succeeded(): void {
    this.consecutiveFailures = 0;
    this.backoffUntil = 0;
  }

  private finishUnit(unit: Unit, delivered: number, deadLetters: NewDeadLetter[]): void {
    for (const s of unit.segs) s.b.done += s.n;
    try {
      this.settleHead({ delivered, writes: delivered > 0 ? 1 : 0, deadLetters });
    } catch (e) {
      // The outcome could not be recorded: undo and write the unit again later (at-least-once, never lost).
      for (const s of unit.segs) s.b.done -= s.n;
      if (this.ob.store.isClosed) return;
      this.retryQueue.unshift(unit);
      this.consecutiveFailures++;
      this.backoffUntil = this.ob.now() + this.backoffDelay();
      this.ob.log.error(
        { err: e, sink: this.name },
        'could not record a delivery in the outbox; the batch will be written again',
      );
    }
  }
}

function validResult(r: unknown, n: number): WriteResult {
  const k = (r as { kind?: unknown })?.kind;
  switch (k) {
    case 'ok':
      return { kind: 'ok' };
    case 'partial': {
      const p = r as { rejected?: unknown; reason?: unknown };
      if (!Array.isArray(p.rejected)) return { kind: 'retry', reason: 'sink returned partial without a rejected list' };
      return {
        kind: 'partial',
        rejected: p.rejected as { index: number; reason: string }[],
        reason: String(p.reason ?? 'partial write'),
      };
    }
    case 'too_large':
    case 'permanent':
    case 'auth':
    case 'misconfigured':
      return { kind: k, reason: String((r as { reason?: unknown }).reason ?? k) };
    case 'retry': {
      const ra = (r as { retryAfterMs?: unknown }).retryAfterMs;
      return {
        kind: 'retry',
        reason: String((r as { reason?: unknown }).reason ?? 'retry'),
        retryAfterMs: typeof ra === 'number' ? ra : undefined,
      };
    }
    default:
      return { kind: 'retry', reason: `sink returned an unknown result ${JSON.stringify(k)} for ${n} records` };
  }
}
