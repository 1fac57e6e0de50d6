/**
 * One sink's delivery loop (`SinkWorker`): a window of fetched batches, units of up to batchSize records written
 * one (or `concurrency`) at a time, and one method per WriteResult kind deciding what the answer means — advance
 * the cursor, dead-letter, split, raise the alarm, back off and retry. The outbox (outbox.ts) owns the workers;
 * what a worker needs from it is `DeliveryHost`.
 */
import type { Logger } from 'pino';
import type { TelemetryRecord } from '../records/index.js';
import { decodeBatch, encodeBatch } from './codec.js';
import type { ResolvedSinkDelivery } from './config.js';
import { crc32 } from './crc32.js';
import { BatchDecodeError, OutboxClosedError, SinkWriteTimeoutError } from './errors.js';
import type { HotBatches } from './hot.js';
import type { NewDeadLetter, StoredBatch } from './schema.js';
import type { Sink, WriteResult } from './sink.js';
import type { LiveWorkerState } from './status.js';
import type { OutboxStore } from './store.js';

/** What one delivery step did (deliverOnce). */
export type StepOutcome =
  | { kind: 'idle' }
  | { kind: WriteResult['kind'] | 'gave_up'; records: number; reason?: string };

/** What a worker uses of the outbox it belongs to. */
export interface DeliveryHost {
  readonly store: OutboxStore;
  readonly log: Logger;
  /** In-memory copies of recently enqueued batches (a shortcut; never the only copy). */
  readonly hot: HotBatches;
  readonly deadLetterMaxBytes: number;
  readonly pollIntervalMs: number;
  readonly isClosed: boolean;
  readonly now: () => number;
  readonly random: () => number;
  /** Marks a batch as held by a worker: never dropped or expired while pinned. */
  pin(id: number): void;
  unpin(id: number): void;
  /** An intact copy of a batch that some worker holds, if any (repairs a damaged stored copy). */
  intactCopy(id: number): readonly TelemetryRecord[] | undefined;
  /** Batches may have been deleted: admit blocked enqueues. */
  spaceFreed(): void;
}

interface WinBatch {
  id: number;
  /** For another sink: passed without delivering. */
  skip: boolean;
  records: readonly TelemetryRecord[];
  total: number;
  /** Records handed to units so far (always a prefix: units are cut in order). */
  assigned: number;
  /** Ranges [start, end) of records whose write finished (delivered or dead-lettered), in completion order. */
  doneRanges: [number, number][];
  /** Records done from the start without a gap: the progress that may be persisted. */
  prefix: number;
}

interface Seg {
  b: WinBatch;
  /** Index of the first record in the batch. */
  start: number;
  n: number;
}

interface Unit {
  records: TelemetryRecord[];
  segs: Seg[];
  attempts: number;
}

/** A finished unit whose counters wait until every record before it is done too (concurrency > 1). */
interface Outcome {
  unit: Unit;
  delivered: number;
  deadLetters: NewDeadLetter[];
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
      a.push({ b: s.b, start: s.start, n: left });
      b.push({ b: s.b, start: s.start + left, n: s.n - left });
      left = 0;
    } else b.push(s);
  }
  return [a, b];
}

/** Recomputes a batch's done prefix from its done ranges. */
function updatePrefix(b: WinBatch): void {
  const ranges = [...b.doneRanges].sort((x, y) => x[0] - y[0]);
  let p = 0;
  for (const [s, e] of ranges) {
    if (s > p) break;
    if (e > p) p = e;
  }
  b.prefix = p;
}

function batchOf(segs: Seg[], index: number): number {
  let i = index;
  for (const s of segs) {
    if (i < s.n) return s.b.id;
    i -= s.n;
  }
  return segs.length ? segs[segs.length - 1].b.id : 0;
}

/** The whole unit as one dead letter. */
function deadLetter(unit: Unit, kind: 'too_large' | 'permanent' | 'gave_up', reason: string): NewDeadLetter {
  return {
    kind,
    reason,
    records: unit.records.length,
    data: encodeBatch(unit.records),
    sourceBatch: batchOf(unit.segs, 0),
  };
}

/** One sink's delivery loop: window of fetched batches, units of up to batchSize records, retries, backoff. */
export class SinkWorker implements LiveWorkerState {
  readonly name: string;
  readonly sink: Sink;
  private readonly ob: DeliveryHost;
  private readonly cfg: ResolvedSinkDelivery;
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

  constructor(ob: DeliveryHost, d: ResolvedSinkDelivery) {
    this.ob = ob;
    this.sink = d.sink;
    this.name = d.sink.name;
    this.cfg = d;
    const c = ob.store.sink(this.name);
    this.fetchedTo = c ? c.cursor : 0;
    // Progress persisted inside the first batch after the cursor: those records are done, not written again.
    if (c?.partialBatch != null && c.partialDone > 0) this.resume = { batch: c.partialBatch, done: c.partialDone };
    this.persistedPartial = this.resume ? { ...this.resume } : null;
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
  /** The partly done batch persisted by an earlier run, until it is fetched. */
  private resume: { batch: number; done: number } | null = null;
  /** The partial progress as last persisted (to write it only when it changes). */
  private persistedPartial: { batch: number; done: number } | null = null;
  /** Finished units whose counters wait for the records before them (only with concurrency > 1). */
  private held: Outcome[] = [];

  private admit(row: StoredBatch): WinBatch | null {
    if (row.target !== null && row.target !== this.name)
      return { id: row.id, skip: true, records: [], total: 0, assigned: 0, doneRanges: [], prefix: 0 };
    const hot = this.ob.hot.take(row.id, this.name);
    const records = hot !== undefined && hot.length === row.records ? hot : this.readStored(row);
    if (records === null) return null;
    this.ob.pin(row.id);
    this.myPins.add(row.id);
    const b: WinBatch = {
      id: row.id,
      skip: false,
      records,
      total: records.length,
      assigned: 0,
      doneRanges: [],
      prefix: 0,
    };
    const r = this.resume;
    if (r !== null && r.batch <= row.id) {
      this.resume = null;
      if (r.batch === row.id) {
        const done = Math.min(r.done, b.total);
        b.assigned = done;
        b.prefix = done;
        b.doneRanges.push([0, done]);
      }
    }
    return b;
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
    this.settle();
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
      segs.push({ b, start: b.assigned, n });
      b.assigned += n;
    }
    this.lastFlush = this.ob.now();
    this.flushDeadline = this.nextDeadline();
    return { records, segs, attempts: 0 };
  }

  /**
   * Persists the progress: pops fully done (or skipped) batches off the window head (the cursor moves), records the
   * done prefix of the next batch (so pending = what is really left, and a restart does not write it again), and
   * the counters and dead letters of the finished units that lie inside that prefix — all in one transaction, so
   * delivered + pending + dead-lettered + dropped = accepted holds at every moment. Units finished out of order
   * (concurrency > 1) wait in `held` until the records before them are done.
   */
  private settle(): void {
    let k = 0;
    while (k < this.window.length) {
      const b = this.window[k];
      if (!(b.skip || b.prefix >= b.total)) break;
      k++;
    }
    const cursor = k > 0 ? this.window[k - 1].id : null;
    const front = this.window[k];
    const partial = front && front.prefix > 0 ? { batch: front.id, done: front.prefix } : null;
    const frontId = front ? front.id : Number.POSITIVE_INFINITY;
    const inPrefix = (s: Seg) => s.b.id < frontId || (s.b === front && s.start + s.n <= front.prefix);
    const ready = this.held.filter((o) => o.unit.segs.every(inPrefix));
    const p0 = this.persistedPartial;
    const partialChanged = (p0?.batch ?? null) !== (partial?.batch ?? null) || (p0?.done ?? 0) !== (partial?.done ?? 0);
    if (cursor !== null || ready.length > 0 || partialChanged) {
      let delivered = 0;
      let writes = 0;
      const deadLetters: NewDeadLetter[] = [];
      for (const o of ready) {
        delivered += o.delivered;
        if (o.delivered > 0) writes++;
        deadLetters.push(...o.deadLetters);
      }
      // May throw (disk full, I/O error): then nothing below happens and the caller retries the unit.
      this.ob.store.complete(this.name, {
        cursor,
        partial,
        delivered,
        writes,
        deadLetters,
        deadLetterMaxBytes: this.ob.deadLetterMaxBytes,
      });
      this.persistedPartial = partial;
      if (ready.length > 0) this.held = this.held.filter((o) => !ready.includes(o));
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
        ac.abort(new SinkWriteTimeoutError('write timed out'));
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

  /** Acts on one sink answer: one method per kind (cursor, counters, dead letters, splits, alarm, backoff). */
  private act(unit: Unit, res: WriteResult): StepOutcome {
    switch (res.kind) {
      case 'ok':
        return this.onOk(unit);
      case 'partial':
        return this.onPartial(unit, res);
      case 'too_large':
        return this.onTooLarge(unit, res);
      case 'permanent':
        return this.onPermanent(unit, res);
      case 'auth':
        return this.onAuth(unit, res);
      case 'misconfigured':
        return this.onMisconfigured(unit, res);
      case 'retry':
        return this.onRetry(unit, res);
    }
  }

  /** Every record stored: the unit is done. */
  private onOk(unit: Unit): StepOutcome {
    const n = unit.records.length;
    this.succeeded();
    this.finishUnit(unit, n, []);
    return { kind: 'ok', records: n };
  }

  /** The rest is delivered; the rejected records are dead-lettered, one dead letter per reason. */
  private onPartial(unit: Unit, res: Extract<WriteResult, { kind: 'partial' }>): StepOutcome {
    const n = unit.records.length;
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
        sourceBatch: batchOf(unit.segs, idx[0]),
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

  /** Too large for the server (413): split in halves, written next in order; a single record is dead-lettered. */
  private onTooLarge(unit: Unit, res: Extract<WriteResult, { kind: 'too_large' }>): StepOutcome {
    const n = unit.records.length;
    if (n <= 1) {
      this.ob.log.warn({ sink: this.name, reason: res.reason }, 'single record too large for the sink: dead-lettered');
      this.finishUnit(unit, 0, [deadLetter(unit, 'too_large', res.reason)]);
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

  /** Rejected as a whole for good (400/422…): dead-lettered with the server's reason; the sink moves on. */
  private onPermanent(unit: Unit, res: Extract<WriteResult, { kind: 'permanent' }>): StepOutcome {
    this.succeeded();
    this.ob.log.warn(
      { sink: this.name, records: unit.records.length, reason: res.reason },
      'batch rejected permanently: dead-lettered',
    );
    this.finishUnit(unit, 0, [deadLetter(unit, 'permanent', res.reason)]);
    return { kind: 'permanent', records: 0, reason: res.reason };
  }

  /** Credentials refused (401/403): kept, the sink's alarm raised, retried with the capped backoff. */
  private onAuth(unit: Unit, res: Extract<WriteResult, { kind: 'auth' }>): StepOutcome {
    this.recordFailure(res, { auth: true, alarm: true });
    this.ob.log.error(
      { sink: this.name, reason: res.reason },
      'ALARM: sink refused credentials; batch kept, retrying with backoff',
    );
    return this.retryLater(unit, res);
  }

  /** The server cannot store anything until reconfigured: as auth, but not counted as an auth failure. */
  private onMisconfigured(unit: Unit, res: Extract<WriteResult, { kind: 'misconfigured' }>): StepOutcome {
    this.recordFailure(res, { auth: false, alarm: true });
    this.ob.log.error(
      { sink: this.name, reason: res.reason },
      'ALARM: sink cannot store data until its configuration is fixed; batch kept, retrying with backoff',
    );
    return this.retryLater(unit, res);
  }

  /** Transient (429, 5xx, network): kept, retried after Retry-After when given, else after the backoff. */
  private onRetry(unit: Unit, res: Extract<WriteResult, { kind: 'retry' }>): StepOutcome {
    this.recordFailure(res, { auth: false, alarm: false });
    this.ob.log.warn({ sink: this.name, reason: res.reason, attempt: unit.attempts }, 'sink write failed; will retry');
    return this.retryLater(unit, res, res.retryAfterMs);
  }

  /** Counts a failed write (best effort: the failure counters must not stop the retry itself). */
  private recordFailure(res: WriteResult & { reason: string }, kind: { auth: boolean; alarm: boolean }): void {
    try {
      this.ob.store.recordFailure(this.name, `${res.kind}: ${res.reason}`, kind, this.ob.now());
    } catch (e) {
      this.ob.log.error({ err: e, sink: this.name }, 'could not record a failed write in the outbox');
    }
  }

  /** Dead-letters the unit (gave_up) after maxAttempts; otherwise it is written again first, after the backoff. */
  private retryLater(
    unit: Unit,
    res: Extract<WriteResult, { kind: 'auth' | 'misconfigured' | 'retry' }>,
    retryAfterMs?: number,
  ): StepOutcome {
    if (unit.attempts >= this.cfg.maxAttempts) {
      const reason = `gave up after ${unit.attempts} attempts: ${res.reason}`;
      this.finishUnit(unit, 0, [deadLetter(unit, 'gave_up', reason)]);
      return { kind: 'gave_up', records: 0, reason };
    }
    this.consecutiveFailures++;
    this.backoffUntil = this.ob.now() + this.backoffDelay(retryAfterMs);
    this.retryQueue.unshift(unit);
    return { kind: res.kind, records: 0, reason: res.reason };
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
    const ranges: [WinBatch, [number, number]][] = unit.segs.map((s) => [s.b, [s.start, s.start + s.n]]);
    for (const [b, r] of ranges) {
      b.doneRanges.push(r);
      updatePrefix(b);
    }
    const outcome: Outcome = { unit, delivered, deadLetters };
    this.held.push(outcome);
    try {
      this.settle();
    } catch (e) {
      // The outcome could not be recorded (the disk is full): it stays done in memory and only the recording is
      // tried again — by the next settle, after a backoff, before any new write is handed to the sink. Writing
      // the unit again instead sent the same records to the sink on every backoff, for as long as the disk stayed
      // full. If the process dies before it is recorded, the restart writes the unit again (at-least-once).
      if (this.ob.store.isClosed) return;
      this.consecutiveFailures++;
      this.backoffUntil = this.ob.now() + this.backoffDelay();
      this.ob.log.error(
        { err: e, sink: this.name },
        'could not record a delivery in the outbox (the batch is delivered; recording it is tried again)',
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
