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
