/**
 * The SimpleJson protocol exactly as the CANedge Grafana backend spoke it, so its dashboard templates work
 * unchanged: `GET /` → "OK"; `POST /search` with the target JSON ({"search":"device"|"device_name"|"itf"|"chn"|
 * "db"|"method"|"signal"}); `POST /query` with time-series targets (one series per signal, named
 * `device:itf:chn:db:signal`, `refId` kept, `[null, null]` at session breaks) and the two table targets
 * ({"device"} raw frames, {"device","type":"info"} files); `POST /annotations` ({"annotation":"session"|"split",
 * "device"}); `POST /tag-keys`, `POST /tag-values`. simPod targets (with a `payload`) on `/query` are handled by
 * simpod.ts through the same handler.
 *
 * Differences from the old backend, on purpose: concurrent queries run concurrently (no 501); the byte budget
 * fails loudly or says what it left out (a notice series) instead of skipping files; maxDataPoints is honoured
 * with real points; a signal name shared by two messages gives one series per message; channels are any CH<n>
 * (CAN1/2/9, LIN1/2); bad targets are a 400 naming the field instead of an empty answer.
 */
import type { FastifyInstance } from 'fastify';
import { ColumnCache, type QueryEngine } from '../query/index.js';
import {
  clientGone,
  fileTable,
  frameBudget,
  frameTable,
  search,
  storeTimeSeries,
  tagKeys,
  tagValues,
  timeSeries,
} from './protocol.js';
import {
  AnnotationBodySchema,
  badRequest,
  loggedNotices,
  noticesHeader,
  parseBody,
  parseDevice,
  parseRange,
  parseSignalTarget,
  parseStoreTarget,
  parseTargetJson,
  QueryBodySchema,
  SearchBodySchema,
  type SignalTarget,
  type StoreTargetParsed,
  type Target,
} from './requests.js';
import { simpodTargets } from './simpod.js';

export function registerSimpleJson(app: FastifyInstance, engine: QueryEngine): void {
  app.post('/search', async (req) => {
    const body = parseBody(SearchBodySchema, req.body, '/search');
    return search(engine, body.target);
  });

  // whole answers of /query, for the same request while the log index is unchanged (many users, one dashboard)
  const answers = new ColumnCache<{ body: Buffer; bytes: number; generation: number }>(32 * 1024 * 1024);
  app.post('/query', async (req, reply) => {
    const body = parseBody(QueryBodySchema, req.body, '/query');
    const range = parseRange(body.range);
    const key = JSON.stringify([
      body.range.from,
      body.range.to,
      body.intervalMs,
      body.maxDataPoints,
      body.targets.map((t) => [t.refId, t.target, t.type, t.hide, t.payload]),
    ]);
    const hit = answers.get(key);
    if (hit && hit.generation === engine.catalog.generation) return reply.type('application/json').send(hit.body);
    const generation = engine.catalog.generation;
    const maxPoints = Math.min(body.maxDataPoints ?? 1000, 100_000);
    const signal = clientGone(req, reply);
    const visible = body.targets.filter((t) => t.hide !== true);
    const frames = frameBudget(engine, maxPoints);
    const out: unknown[] = [];
    const series: { refId?: string; t: SignalTarget }[] = [];
    const stored: { refId?: string; t: StoreTargetParsed }[] = [];
    const simpod: Target[] = [];
    for (const [i, t] of visible.entries()) {
      const field = `targets[${i}].target`;
      if (t.payload !== undefined) {
        simpod.push(t);
        continue;
      }
      if (t.target === undefined || t.target === '') continue; // an empty query row in the panel editor
      const o = typeof t.target === 'string' ? parseTargetJson(t.target, field) : t.target;
      if (t.type === 'table') {
        const device = parseDevice(typeof o.device === 'string' ? o.device : undefined, `${field}.device`);
        if (o.type === 'info') out.push(fileTable(engine, device, range, maxPoints));
        else {
          const r = await frameTable(engine, device, range, frames, signal);
          if (r.notices.length) req.log.warn(loggedNotices(r.notices), 'raw frames');
          out.push(r.table);
        }
        continue;
      }
      if (t.type !== undefined && t.type !== 'timeserie' && t.type !== 'timeseries') {
        throw badRequest(`targets[${i}].type: ${JSON.stringify(t.type)} is neither "timeserie" nor "table"`);
      }
      if (o.measurement !== undefined) stored.push({ refId: t.refId, t: parseStoreTarget(o, field) });
      else series.push({ refId: t.refId, t: parseSignalTarget(o, field) });
    }
    if (simpod.length) {
      const sp = await simpodTargets(engine, simpod, range, maxPoints, frames, signal);
      out.push(...sp.tables);
      series.push(...sp.series);
      stored.push(...sp.stored);
    }
    const r = await timeSeries(engine, series, range, maxPoints, body.intervalMs, signal);
    out.push(...r.series);
    const st = await storeTimeSeries(engine, stored, range, maxPoints);
    out.push(...st.series);
    r.notices.push(...st.notices);
    if (r.notices.length) {
      req.log.warn(loggedNotices(r.notices), 'query notices');
      reply.header('x-sigflow-notices', noticesHeader(r.notices));
      out.push({ refId: series[0]?.refId, target: `⚠ ${r.notices.join(' | ')}`, datapoints: [] });
    }
    const text = JSON.stringify(out);
    // not kept: partial answers (the next request may decode more), the store's (it grows while sigflow run
    // writes; the index generation does not see it) and simPod's (answers of mixed kinds)
    if (!r.partial && !simpod.length && stored.length === 0) {
      const buf = Buffer.from(text);
      answers.set(key, { body: buf, bytes: buf.length + key.length * 2, generation });
    }
    return reply.type('application/json').send(text);
  });

  app.post('/annotations', async (req) => {
    const body = parseBody(AnnotationBodySchema, req.body, '/annotations');
    const range = parseRange(body.range);
    const q = parseTargetJson(body.annotation.query ?? '', 'annotation.query');
    if (q.annotation !== 'session' && q.annotation !== 'split') {
      throw badRequest(`annotation.query.annotation: ${JSON.stringify(q.annotation)} is neither "session" nor "split"`);
    }
    const device = parseDevice(typeof q.device === 'string' ? q.device : undefined, 'annotation.query.device');
    // the old backend's shape: text and time
    return engine.annotations(q.annotation, device, range.fromMs, range.toMs).map(({ text, time }) => ({ text, time }));
  });

  app.post('/tag-keys', async () => tagKeys(engine));

  app.post('/tag-values', async (req) => {
    const key = (req.body as { key?: unknown } | null)?.key;
    return typeof key === 'string' ? tagValues(engine, key) : [];
  });
}
