/**
 * The decode worker thread (pool.ts starts it): decodes one log file's wanted signals per job, as
 * decodeFileColumns does in the main thread, and sends the columns back as transferred buffers. Stores and DBC
 * files are opened once per worker and kept. A `cancel` message aborts a job before it starts or between two
 * batches (local files are read with blocking reads: a batch runs without a turn of the worker's event loop).
 */
import { setImmediate as turn } from 'node:timers/promises';
import { parentPort } from 'node:worker_threads';
import { errorCode, SigflowError } from '../errors/index.js';
import { type LogStore, openStore, PasswordBook } from '../formats/canedge/index.js';
import { type LoadedDbc, loadDbcSpec } from './dbcs.js';
import { decodeFileColumns } from './decode.js';
import type { WorkerJob, WorkerReply } from './pool.js';

const port = parentPort;
if (!port) throw new Error('decode-worker.js runs as a worker thread'); // internal invariant: started by pool.ts

const stores = new Map<string, LogStore>();
const dbcs = new Map<string, LoadedDbc>();
const jobs = new Map<number, AbortController>();

port.postMessage({ type: 'ready' });

port.on('message', (m: WorkerJob | { type: 'cancel'; id: number }) => {
  if (m.type === 'cancel') {
    jobs.get(m.id)?.abort(new SigflowError('SF_ERR_SERVE_CANCELLED', 'cancelled'));
    return;
  }
  void run(m);
});

async function run(job: WorkerJob): Promise<void> {
  const ac = new AbortController();
  jobs.set(job.id, ac);
  try {
    // let the messages queued behind this job in (a `cancel` for it, sent while it waited) before decoding
    await turn();
    ac.signal.throwIfAborted();
    const storeKey = JSON.stringify(job.store);
    let store = stores.get(storeKey);
    if (!store) {
      store = openStore(job.store);
      stores.set(storeKey, store);
    }
    const dbcKey = `${job.dbc.path}\u0000${job.dbc.mtimeMs}`;
    let dbc = dbcs.get(dbcKey);
    if (!dbc) {
      dbc = loadDbcSpec(job.dbc);
      dbcs.set(dbcKey, dbc);
    }
    const d = dbc;
    // a worker serves nothing else: local files are read with blocking reads (faster)
    const src = store.openBlocking ? store.openBlocking(job.path) : await store.open(job.path);
    const r = await decodeFileColumns(
      src,
      { itf: job.itf, channel: job.channel, dbc: d, signals: job.signals.map((i) => d.db.signals[i]) },
      { passwords: job.passwords ? new PasswordBook(job.passwords) : undefined, signal: ac.signal },
    );
    const columns: [number, Float64Array, Float64Array][] = [...r.columns].map(([i, c]) => [i, c.t, c.v]);
    const reply: WorkerReply = { id: job.id, ok: true, columns, events: r.events, decoded: r.decoded };
    port?.postMessage(
      reply,
      columns.flatMap(([, t, v]) => [t.buffer as ArrayBuffer, v.buffer as ArrayBuffer]),
    );
  } catch (e) {
    const reply: WorkerReply = {
      id: job.id,
      ok: false,
      code: errorCode(e),
      message: e instanceof Error ? e.message : String(e),
      aborted: ac.signal.aborted,
    };
    port?.postMessage(reply);
  } finally {
    jobs.delete(job.id);
  }
}
