/**
 * Recently enqueued batches kept in memory beside their durable copy, so that a sink that keeps up is handed the
 * producer's records instead of reading the blob back and decoding it. Purely a shortcut: the batch is committed
 * to SQLite before it is remembered here, and anything not found here (another process's batch, after a restart,
 * or past the budget) is read from disk as before. Delivery order, cursors and acknowledgements do not change.
 *
 * Ownership: enqueue() takes the records; the producer must not mutate them afterwards (the disk copy would then
 * differ from what a sink is handed).
 *
 * Bounded by the batches' encoded size (`budgetBytes`; the records as JS objects take several times that, ≈ 5× for
 * import-like records). When a batch does not fit, batches that some sink already took are forgotten first (what
 * is left of them is owed to sinks that lag); if it still does not fit it is not remembered: the oldest batches
 * stay, which are the ones delivered next.
 */
import type { TelemetryRecord } from '../records/index.js';

interface Entry {
  records: readonly TelemetryRecord[];
  bytes: number;
  /** Sinks of this process that have not taken the batch yet. */
  owed: Set<string>;
  /** How many sinks it was remembered for. */
  sinks: number;
}

function plain(o: object): boolean {
  const p = Object.getPrototypeOf(o);
  return p === Object.prototype || p === null;
}

function allPlain(records: readonly TelemetryRecord[]): boolean {
  let lastTags: object | null = null;
  for (const r of records) {
    if (r.tags !== lastTags) {
      if (!plain(r.tags)) return false;
      lastTags = r.tags;
    }
    if (!plain(r.fields)) return false;
  }
  return true;
}

export class HotBatches {
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;

  constructor(readonly budgetBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  /**
   * Remembers a committed batch for the given sinks, if it fits the budget and reads the same from memory as from
   * disk: tags and fields must be plain objects (the codec stores for-in keys, inherited enumerable ones included,
   * while sinks read own keys).
   */
  remember(id: number, records: readonly TelemetryRecord[], bytes: number, sinks: Iterable<string>): void {
    if (this.budgetBytes <= 0 || bytes > this.budgetBytes || !allPlain(records)) return;
    const owed = new Set(sinks);
    if (owed.size === 0) return;
    if (this.bytes + bytes > this.budgetBytes) this.makeRoom(bytes);
    if (this.bytes + bytes > this.budgetBytes) return;
    this.entries.set(id, { records, bytes, owed, sinks: owed.size });
    this.bytes += bytes;
  }

  /** The batch's records for one sink (each sink takes them once), or undefined when not in memory. */
  take(id: number, sink: string): readonly TelemetryRecord[] | undefined {
    const e = this.entries.get(id);
    if (e === undefined || !e.owed.delete(sink)) return undefined;
    if (e.owed.size === 0) this.drop(id, e);
    return e.records;
  }

  /** Forgets batches below `id` (deleted from the outbox: delivered everywhere, dropped, expired or purged). */
  forgetBelow(id: number): void {
    for (const [k, e] of this.entries) {
      if (k >= id) break; // ids are remembered in increasing order
      this.drop(k, e);
    }
  }

  /** Forgets everything (the outbox is closing). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  /**
   * Frees room by forgetting batches some sink already took: what is left of them is owed only to sinks that
   * lag (down or slow), which read them from disk later. Without this, one sink that is down would fill the
   * budget with its backlog and every healthy sink would fall back to disk.
   */
  private makeRoom(bytes: number): void {
    for (const [k, e] of this.entries) {
      if (this.bytes + bytes <= this.budgetBytes) return;
      if (e.owed.size < e.sinks) this.drop(k, e);
    }
  }

  private drop(id: number, e: Entry): void {
    this.entries.delete(id);
    this.bytes -= e.bytes;
  }
}
