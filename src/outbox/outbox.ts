/**
 * The durable outbox: producers `enqueue` batches of records (accepted = committed to the SQLite WAL), one
 * delivery loop per sink (worker.ts) writes them in order and advances that sink's cursor only on the sink's
 * answer. Batches are deleted once every sink they apply to has passed them. This file: opening (options resolved
 * by config.ts, the lock, the store), enqueue with its disk budget and waiters, expiry, drain, close/abort, status.
 */
import pino, { type Logger } from 'pino';
import { SigflowError } from '../errors/index.js';
import type { TelemetryRecord } from '../records/index.js';
import { encodeBatch } from './codec.js';
import { type OutboxOptions, type ResolvedOutboxOptions, resolveOutboxOptions } from './config.js';
import {
  BatchTooLargeError,
  OutboxClosedError,
  OutboxError,
  OutboxFullError,
  OutboxInputError,
  OutboxOpenError,
} from './errors.js';
import { HotBatches } from './hot.js';
import { lockDataDir } from './lock.js';
import type { Synchronous, WhenFull } from './schema.js';
import { buildStatus, type OutboxStatus } from './status.js';
import { OutboxStore } from './store.js';
import { type DeliveryHost, SinkWorker, type StepOutcome } from './worker.js';

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

function defaultLogger(): Logger {
  return pino({ name: 'sigflow-outbox' }, pino.destination(2));
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

export class Outbox implements DeliveryHost {
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

  private constructor(store: OutboxStore, o: ResolvedOutboxOptions, log: Logger) {
    this.store = store;
    this.log = log;
    this.maxBytes = o.maxBytes;
    this.maxAgeMs = o.maxAgeMs;
    this.whenFull = o.whenFull;
    this.blockTimeoutMs = o.blockTimeoutMs;
    this.deadLetterMaxBytes = o.deadLetterMaxBytes;
    this.synchronous = o.synchronous;
    this.pollIntervalMs = o.pollIntervalMs;
    this.random = o.random;
    this.now = o.now;
    this.hot = new HotBatches(o.memoryCacheBytes);
    const pinned = this.pinned;
    this.pinnedView = { has: (id: number) => pinned.has(id) } as ReadonlySet<number>;
  }

  /**
   * Opens the outbox in `opts.dataDir` (recovering a corrupt file), registers the sinks' cursors. Does not start
   * delivery. The options get the defaults and checks of the config schemas (config.ts): an invalid one is
   * SF_ERR_CONFIG_INVALID naming it; a data directory another process holds is OutboxLockedError.
   */
  static open(opts: OutboxOptions): Outbox {
    const o = resolveOutboxOptions(opts);
    const log = o.logger ?? defaultLogger();
    const release = o.lock ? lockDataDir(o.dataDir) : null;
    let store: OutboxStore;
    try {
      store = OutboxStore.open(o.dataDir, {
        synchronous: o.synchronous,
        logger: log,
        integrityCheck: o.integrityCheck,
      });
    } catch (e) {
      release?.();
      if (e instanceof SigflowError) throw e;
      // a system or SQLite condition (a full disk, a read-only folder): said with the folder it concerns
      const code = (e as { code?: string }).code;
      throw new OutboxOpenError(
        `cannot open the outbox in ${o.dataDir}: ${(e as Error).message}${code && !(e as Error).message.includes(code) ? ` (${code})` : ''}`,
        { where: o.dataDir, cause: e },
      );
    }
    store.ensureSinks(o.sinks.map((s) => s.sink.name));
    const ob = new Outbox(store, o, log);
    ob.releaseLock = release;
    for (const s of o.sinks) ob.workers.set(s.sink.name, new SinkWorker(ob, s));
    const ckpt = o.checkpointIntervalMs;
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
    if (!Array.isArray(records)) throw new OutboxInputError('enqueue expects an array of records');
    if (records.length === 0) {
      return { accepted: true, id: null, records: 0, droppedOldestRecords: 0, droppedNewest: false, waitedMs: 0 };
    }
    if (this.workers.size === 0 && !this.store.hasSinks())
      throw new OutboxError('SF_ERR_OUTBOX_NO_SINKS', 'enqueue with no sinks configured: nothing would deliver it');
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
    if (!w) throw new OutboxError('SF_ERR_OUTBOX_UNKNOWN_SINK', `no sink named ${sinkName}`);
    if (this.started)
      throw new OutboxError('SF_ERR_OUTBOX_NOT_IDLE', 'deliverOnce is for outboxes whose loops are not started');
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
            if (c && this.store.pendingFor(c).pendingBatches > 0) pending = true;
          }
          if (!pending) return;
          for (const w of this.workers.values()) w.poke();
        }
        if (this.now() >= deadline) {
          const st = this.status();
          const behind = st.sinks
            .filter((s) => s.active && s.pendingRecords > 0)
            .map(
              (s) =>
                `${s.name}: ${s.pendingRecords} records (${s.lastError ?? (s.inFlight > 0 ? 'a write is on the wire, no answer yet' : 'no write failed')})`,
            );
          throw new OutboxError(
            'SF_ERR_OUTBOX_DRAIN_TIMEOUT',
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
