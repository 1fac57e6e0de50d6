/**
 * Decoding off the event loop: a pool of worker threads (decode-worker.ts), each decoding files as the main thread
 * would (decodeFileColumns) and sending the columns back without copying them (transferred buffers). A job goes to
 * the worker with the fewest jobs; an AbortSignal sends a `cancel` (the worker stops between two batches) and
 * rejects at once. A worker that dies fails its jobs (SF_ERR_INTERNAL) and is replaced on the next job. With a pool,
 * the server's event loop only routes requests and assembles answers: cheap requests are answered while files
 * decode, and cold queries use every core.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type ErrorCode, SigflowError } from '../errors/index.js';
import type { StoreSpec } from '../formats/canedge/index.js';
import type { DbcSpec } from './dbcs.js';
import type { DecodedFile, Interface, SignalColumn } from './decode.js';

export interface WorkerJob {
  type: 'decode';
  id: number;
  store: StoreSpec;
  path: string;
  dbc: DbcSpec;
  passwords?: Record<string, string>;
  itf: Interface;
  channel: number;
  /** Global signal indexes. */
  signals: number[];
}

export type WorkerReply =
  | { id: number; ok: true; columns: [number, Float64Array, Float64Array][]; events: number; decoded: number }
  | { id: number; ok: false; code: ErrorCode; message: string; aborted: boolean };

interface Pending {
  resolve: (r: DecodedFile) => void;
  reject: (e: unknown) => void;
  slot: Slot;
}

interface Slot {
  worker: Worker | null;
  jobs: number;
}

/** Workers by default: the cores, at most 4. */
export function defaultWorkers(): number {
  return Math.min(4, availableParallelism());
}

export class DecodePool {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending>();
  private readonly cancelled = new Set<number>();
  private nextId = 1;
  private closed = false;
  /** Jobs sent; jobs cancelled; cancelled jobs whose worker confirmed it stopped decoding them. */
  readonly counters = { jobs: 0, cancelled: 0, stoppedInWorker: 0 };

  /** False when running from TypeScript sources (tsx): the worker module is compiled JavaScript only. */
  static get available(): boolean {
    return !import.meta.url.endsWith('.ts');
  }

  constructor(readonly size: number) {
    this.slots = Array.from({ length: Math.max(1, size) }, () => ({ worker: null, jobs: 0 }));
  }

  private start(slot: Slot): Worker {
    const w = new Worker(new URL('./decode-worker.js', import.meta.url));
    w.unref();
    w.on('message', (r: WorkerReply | { type: 'ready' }) => this.reply(r));
    const fail = (why: string) => {
      if (slot.worker !== w) return;
      slot.worker = null;
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        slot.jobs--;
        p.reject(new SigflowError('SF_ERR_INTERNAL', `a decode worker stopped: ${why}`));
      }
    };
    w.on('error', (e) => fail(e.message));
    w.on('exit', (code) => fail(`exit code ${code}`));
    slot.worker = w;
    return w;
  }

  private reply(r: WorkerReply | { type: 'ready' }): void {
    if ('type' in r) return;
    const p = this.pending.get(r.id);
    if (!p) {
      // cancelled: its promise was rejected already; the worker says whether it stopped before the end
      if (this.cancelled.delete(r.id) && !r.ok && r.aborted) this.counters.stoppedInWorker++;
      return;
    }
    this.pending.delete(r.id);
    p.slot.jobs--;
    if (r.ok) {
      const columns = new Map<number, SignalColumn>();
      for (const [i, t, v] of r.columns) columns.set(i, { t, v, bytes: t.byteLength + v.byteLength + 64 });
      p.resolve({ columns, events: r.events, decoded: r.decoded });
    } else {
      p.reject(new SigflowError(r.code, r.message));
    }
  }

  /**
   * Starts every worker now and waits until each has loaded its modules (a server calls this before it
   * listens, so the first query does not pay for thread start-up).
   */
  async warm(): Promise<void> {
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const w = slot.worker ?? this.start(slot);
            // the worker says `ready` once its modules are loaded (its top-level code ran)
            const onMessage = (m: { type?: string }) => {
              if (m?.type !== 'ready') return;
              w.off('message', onMessage);
              resolve();
            };
            w.on('message', onMessage);
            w.once('error', () => resolve());
            w.once('exit', () => resolve());
          }),
      ),
    );
  }

  decode(job: Omit<WorkerJob, 'type' | 'id'>, signal?: AbortSignal): Promise<DecodedFile> {
    if (this.closed) return Promise.reject(new SigflowError('SF_ERR_INTERNAL', 'the decode pool is closed'));
    signal?.throwIfAborted();
    const slot = this.slots.reduce((a, b) => (b.jobs < a.jobs ? b : a));
    const worker = slot.worker ?? this.start(slot);
    const id = this.nextId++;
    slot.jobs++;
    this.counters.jobs++;
    return new Promise<DecodedFile>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        slot.jobs--;
        this.counters.cancelled++;
        this.cancelled.add(id);
        worker.postMessage({ type: 'cancel', id });
        reject(signal?.reason);
      };
      this.pending.set(id, {
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        slot,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ ...job, type: 'decode', id } satisfies WorkerJob);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }
}
