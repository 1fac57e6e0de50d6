/**
 * The console's JSON routes (under `/api/console/`, behind the server's auth like every route but /healthz):
 *
 * - `GET status`: one snapshot — the run's units, sources and outbox (`sigflow run`), or the engine's counters
 *   (`sigflow serve`); `GET events`: the same snapshot every `statusIntervalMs` as Server-Sent Events (`status`).
 * - `GET catalog`: what can be plotted — the record source's measurements with their fields and tag values, the
 *   log tree's devices and DBC signals.
 * - `GET logs[?device=]`: the log index — devices, sessions, splits, time ranges, damage and unreadable files.
 * - `GET dead-letters[?sink=]`, `POST dead-letters/replay` and `POST dead-letters/purge` (`{sink, ids?}`): the
 *   run's dead letters; the POSTs need the header `x-sigflow-console: 1` (a page of another site cannot send it
 *   without a CORS preflight this server does not answer) and purge `{"confirm": true}` as well.
 * - `GET iof`: the IoF tables' latest positions per cage, detections per TBR, TBR temperature and noise, with the
 *   project's cages and receivers in each cage's local frame (when an iof sink is configured).
 *
 * Plotted values come from `/api/rows` (src/server/infinity.ts), which also downloads them as CSV or Parquet.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SigflowError } from '../../errors/index.js';
import type { OutboxStore } from '../../outbox/index.js';
import { entryStartMs, nsToMs, type QueryEngine } from '../../query/index.js';
import type { RunStatus } from '../../supervisor/index.js';
import { badRequest, parseBody, parseDevice } from '../requests.js';

/** What the console shows besides the query engine: the run (units, outbox) and the IoF tables. */
export interface ConsoleOptions {
  /** The running sigflow's version. */
  version: string;
  /** `sigflow run`: its status and its outbox's store (dead letters), null while it starts; absent for `serve`. */
  run?: { status(): RunStatus | null; outbox(): OutboxStore | null };
  /** The IoF view's data (absent: no iof sink). */
  iof?: () => unknown;
  /** How often the status is pushed to open pages (default 1 s). */
  statusIntervalMs?: number;
}

/** Tag values offered per key (a key with more is cut, and says so). */
const MAX_TAG_VALUES = 1000;
/** Index rows answered by one `logs` request. */
const MAX_LOG_ROWS = 5000;

/** An index entry's decimal-string ns time in epoch ms, or null when the index has none. */
const msOf = (ns: string | undefined) => (ns === undefined ? null : nsToMs(BigInt(ns)));

function notFound(what: string): SigflowError {
  return new SigflowError('SF_ERR_SERVE_NOT_FOUND', what);
}

const SinkQuery = z.looseObject({
  sink: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
});
const ActionBody = z.strictObject({
  sink: z.string().min(1).max(200),
  ids: z.array(z.number().int().positive()).max(10_000).optional(),
  confirm: z.boolean().optional(),
});
const LogsQuery = z.looseObject({ device: z.string().max(64).optional() });

export function registerConsoleApi(app: FastifyInstance, engine: QueryEngine, o: ConsoleOptions): void {
  const started = Date.now();
  const snapshot = () => {
    const m = process.memoryUsage();
    return {
      kind: o.run ? 'run' : 'serve',
      version: o.version,
      at: Date.now(),
      uptimeMs: Date.now() - started,
      run: o.run?.status() ?? null,
      serve: {
        records: engine.store?.what ?? null,
        devices: engine.catalog.devices().length,
        engine: engine.stats(),
        index: engine.catalog.lastRefresh,
      },
      memoryMb: { rss: Math.round(m.rss / 1048576), heapUsed: Math.round(m.heapUsed / 1048576) },
      iof: o.iof !== undefined,
    };
  };

  app.get('/api/console/status', async () => snapshot());

  // several open pages share one snapshot per tick (it reads the outbox's counters from SQLite)
  let last: { at: number; text: string } | null = null;
  const shared = () => {
    const now = Date.now();
    if (!last || now - last.at >= 500) last = { at: now, text: JSON.stringify(snapshot()) };
    return last.text;
  };

  // open event streams end when the server closes (a hijacked reply would keep it waiting)
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });

  app.get('/api/console/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = () => {
      try {
        res.write(`event: status\ndata: ${shared()}\n\n`);
      } catch (e) {
        res.write(`event: failure\ndata: ${JSON.stringify({ message: (e as Error).message })}\n\n`);
      }
    };
    res.write('retry: 2000\n\n');
    send();
    const timer = setInterval(send, o.statusIntervalMs ?? 1000);
    streams.add(res);
    const stop = () => {
      clearInterval(timer);
      streams.delete(res);
    };
    req.raw.once('close', stop);
    res.once('close', stop);
  });

  app.get('/api/console/catalog', async () => {
    const src = engine.store;
    const measurements = (src?.measurements() ?? []).map((name) => {
      const tags: Record<string, string[]> = {};
      let cut = false;
      for (const key of src?.tagKeys(name) ?? []) {
        const values = src?.tagValues(key, name) ?? [];
        if (values.length > MAX_TAG_VALUES) cut = true;
        tags[key] = values.slice(0, MAX_TAG_VALUES);
      }
      return { name, fields: src?.fields(name) ?? [], tags, cut };
    });
    return {
      records: src?.what ?? null,
      measurements,
      logs: {
        devices: engine.catalog.devices().map((id) => {
          // the span of the device's records (what "all" plots)
          let first: number | null = null;
          let last: number | null = null;
          for (const e of engine.catalog.files(id)) {
            const a = msOf(e.firstNs) ?? entryStartMs(e);
            const b = msOf(e.lastNs) ?? a;
            if (a !== null && (first === null || a < first)) first = a;
            if (b !== null && (last === null || b > last)) last = b;
          }
          return { id, label: engine.deviceLabel(id), firstMs: first, lastMs: last };
        }),
        dbs: engine.dbcKeys().map((key) => ({ key, signals: engine.dbc(key)?.signalNames() ?? [] })),
      },
    };
  });

  app.get('/api/console/logs', async (req) => {
    const q = parseBody(LogsQuery, req.query, '/api/console/logs');
    const devices = q.device !== undefined ? [parseDevice(q.device, 'device')] : engine.catalog.devices();
    let rows = 0;
    let cut = false;
    const out = devices.map((device) => {
      const files = engine.catalog.files(device).filter(() => {
        if (rows >= MAX_LOG_ROWS) cut = true;
        return rows++ < MAX_LOG_ROWS;
      });
      return {
        device,
        label: engine.deviceLabel(device),
        files: files.map((e) => ({
          path: e.path,
          session: e.session,
          split: e.split,
          size: e.size,
          startMs: entryStartMs(e),
          firstMs: msOf(e.firstNs),
          lastMs: msOf(e.lastNs),
          damage: e.dataWarnings ? { count: e.dataWarnings.count, messages: e.dataWarnings.messages } : null,
          mismatches: e.mismatches ?? [],
        })),
        unreadable: engine.catalog.unreadable(device).map((e) => ({
          path: e.path,
          error: e.error ? engine.catalog.relative(e.error.message, e.path) : 'unreadable',
          code: e.error?.code ?? null,
        })),
      };
    });
    return { devices: out, cut, index: engine.catalog.lastRefresh };
  });

  const outbox = (): OutboxStore => {
    if (!o.run) throw notFound('dead letters are kept by the outbox of sigflow run; this server has none');
    const store = o.run.outbox();
    if (!store) throw notFound('sigflow run is starting: its outbox is not open yet');
    return store;
  };
  const knownSink = (store: OutboxStore, sink: string) => {
    if (!store.sinks().some((s) => s.name === sink))
      throw new SigflowError('SF_ERR_OUTBOX_UNKNOWN_SINK', `no sink named ${sink} in the outbox`);
  };

  app.get('/api/console/dead-letters', async (req) => {
    const q = parseBody(SinkQuery, req.query, '/api/console/dead-letters');
    const store = outbox();
    if (q.sink !== undefined) knownSink(store, q.sink);
    return store
      .deadLetters({ sink: q.sink, limit: q.limit ?? 200 })
      .map(({ id, sink, createdMs, kind, reason, records, bytes }) => ({
        id,
        sink,
        createdMs,
        kind,
        reason,
        records,
        bytes,
      }));
  });

  const action = (name: 'replay' | 'purge') =>
    app.post(`/api/console/dead-letters/${name}`, async (req) => {
      if (req.headers['x-sigflow-console'] !== '1')
        throw badRequest(`/api/console/dead-letters/${name}: the x-sigflow-console: 1 header is missing`);
      const b = parseBody(ActionBody, req.body, `/api/console/dead-letters/${name}`);
      if (name === 'purge' && b.confirm !== true)
        throw badRequest('/api/console/dead-letters/purge: purging deletes records for good; send "confirm": true');
      const store = outbox();
      knownSink(store, b.sink);
      store.requireDeadLetters(b.ids, b.sink);
      const which = { sink: b.sink, ids: b.ids };
      req.log.info(
        `console: ${name} of the dead letters of sink ${b.sink}${b.ids ? ` (ids ${b.ids.join(', ')})` : ''}`,
      );
      return name === 'replay' ? store.replay(which) : store.purgeDeadLetters(which);
    });
  action('replay');
  action('purge');

  app.get('/api/console/iof', async () => {
    if (!o.iof) throw notFound('no iof sink is configured: the IoF view needs one');
    return o.iof();
  });
}
