/**
 * Flat JSON rows for the Infinity data source (and any HTTP client): `GET /api/rows?device=2F6913DB&db=canmod-gps
 * &signals=Speed,Latitude,Longitude&from=…&to=…&max_points=1000` → `[{"time": epoch ms, "Speed": 12.5, …}]`, one
 * row per timestamp, a column per signal (null where a signal has no sample at that time), time-ordered. Latitude
 * and longitude signals are also given as `latitude` / `longitude`, the names Geomap's auto mode looks for.
 * Optional: itf (CAN), chn (CH1), method (MINMAX, MIN, MAX, NEAREST), interval_ms. Times: ISO 8601 or epoch ms
 * (Grafana's `${__from}` / `${__to}`). Session breaks are not rows (a table has no gaps). `format=csv` or
 * `format=parquet` answers the same rows as a file to download (download.ts).
 * `GET /api/annotations?device=2F6913DB&kind=session&from=…&to=…` → `[{"time": epoch ms, "title": "Session 4",
 * "text": …}]`: where sessions (or, with kind=split, log files) start — the SimpleJson `/annotations` of the old
 * backend as rows, for an Infinity annotation query.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Point, QueryEngine } from '../query/index.js';
import { sendRows } from './download.js';
import { clientGone, storeTimeSeries } from './protocol.js';
import {
  badRequest,
  noticesHeader,
  parseBody,
  parseChannel,
  parseDevice,
  parseMethod,
  parseRange,
  parseStoreTarget,
} from './requests.js';

const list = z.union([z.string().max(10_000), z.array(z.string().max(200)).max(200)]);
const RowsQuery = z.looseObject({
  device: z.string().max(64).optional(),
  db: z.string().max(200).optional(),
  signals: list.optional(),
  measurement: z.string().max(200).optional(),
  fields: list.optional(),
  from: z.string().max(64),
  to: z.string().max(64),
  itf: z.string().max(8).optional(),
  chn: z.string().max(8).optional(),
  method: z.string().max(16).optional(),
  max_points: z.coerce.number().int().positive().max(100_000).optional(),
  interval_ms: z.coerce.number().nonnegative().optional(),
  format: z.enum(['json', 'csv', 'parquet']).optional(),
});

const AnnotationsQuery = z.looseObject({
  device: z.string().max(64),
  kind: z.enum(['session', 'split']).optional(),
  from: z.string().max(64),
  to: z.string().max(64),
});

const GEO: Record<string, string> = {
  latitude: 'latitude',
  lat: 'latitude',
  longitude: 'longitude',
  lon: 'longitude',
  lng: 'longitude',
};

export function registerInfinity(app: FastifyInstance, engine: QueryEngine): void {
  app.get('/api/annotations', async (req) => {
    const q = parseBody(AnnotationsQuery, req.query, '/api/annotations');
    const kind = q.kind ?? 'session';
    const device = parseDevice(q.device, 'device');
    const { fromMs, toMs } = parseRange(q);
    return engine.annotations(kind, device, fromMs, toMs).map((a) => ({
      time: a.time,
      title: kind === 'session' ? `Session ${a.session}` : `Session ${a.session}, split ${a.split}`,
      text: a.text,
    }));
  });
  app.get('/api/rows', async (req, reply) => {
    const q = parseBody(RowsQuery, req.query, '/api/rows');
    const { fromMs, toMs } = parseRange(q);
    const split = (v: string | string[]) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean);
    if (q.measurement !== undefined) {
      // the embedded store: measurement, fields, tag.<key>=<value>
      const tags: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) {
        if (!k.startsWith('tag.')) continue;
        if (typeof v !== 'string') throw badRequest(`/api/rows: ${k} is given more than once (one value per tag)`);
        tags[k.slice(4)] = v;
      }
      // a field whose name holds a comma is taken by its exact name before the list is split
      const fieldList = (f: string | string[]) =>
        typeof f === 'string' && engine.store?.fields(q.measurement).includes(f) ? [f] : split(f);
      const t = parseStoreTarget(
        { measurement: q.measurement, fields: q.fields ? fieldList(q.fields) : undefined, tags, method: q.method },
        'query',
      );
      const r = await storeTimeSeries(engine, [{ t }], { fromMs, toMs }, q.max_points ?? 1000);
      if (r.notices.length) reply.header('x-sigflow-notices', noticesHeader(r.notices));
      const names = columnNames(r.series);
      const series = r.series.map((s, i) => ({ name: names[i], points: s.datapoints }));
      return sendRows(reply, rowsOf(series), columnsOf(series), q.format ?? 'json', q.measurement);
    }
    if (q.device === undefined || q.db === undefined || q.signals === undefined) {
      throw badRequest('/api/rows: give device, db and signals (log trees) or measurement (the store)');
    }
    const { itf, channel } = parseChannel(q.itf, q.chn, 'query');
    const names = split(q.signals);
    const { series, report } = await engine.series(
      [
        {
          device: parseDevice(q.device, 'device'),
          itf,
          channel,
          db: q.db as string,
          signals: names,
          fromMs,
          toMs,
          maxPoints: q.max_points ?? 1000,
          intervalMs: q.interval_ms,
          method: parseMethod(q.method, 'query'),
        },
      ],
      clientGone(req, reply),
    );
    if (report.notices.length) reply.header('x-sigflow-notices', noticesHeader(report.notices));
    return sendRows(reply, rowsOf(series), columnsOf(series), q.format ?? 'json', `${q.device}_${q.db}`);
  });
}

/** The columns of rowsOf's rows after `time`: the series, then the latitude/longitude aliases they add. */
/**
 * A column per store series: its field, or — when series of several tag sets share the field (a measurement's
 * devices) — the field with its tags, `rpm {device=truckA}`: one column each, none overwriting another.
 */
function columnNames(series: readonly { field: string; tags: Record<string, string> }[]): string[] {
  const count = new Map<string, number>();
  for (const s of series) count.set(s.field, (count.get(s.field) ?? 0) + 1);
  return series.map((s) => {
    if (count.get(s.field) === 1) return s.field;
    const tags = Object.entries(s.tags).map(([k, v]) => `${k}=${v}`);
    return `${s.field} {${tags.join(', ')}}`;
  });
}

function columnsOf(series: { name: string }[]): string[] {
  const names = series.map((s) => s.name);
  const geo = [...new Set(series.map((s) => GEO[s.name.toLowerCase()]).filter((g) => g && !names.includes(g)))];
  return [...names, ...geo];
}

/** One row per timestamp, a column per series (null where it has no sample then), latitude/longitude aliases. */
function rowsOf(series: { name: string; points: Point[] }[]): Record<string, number | null>[] {
  const rows = new Map<number, Record<string, number | null>>();
  const columns = series.map((s) => s.name);
  for (const s of series) {
    const geo = GEO[s.name.toLowerCase()];
    for (const p of s.points) {
      if (p[1] === null) continue;
      let row = rows.get(p[1]);
      if (!row) {
        row = { time: p[1] };
        for (const c of columns) row[c] = null;
        rows.set(p[1], row);
      }
      row[s.name] = p[0];
      if (geo) row[geo] = p[0];
    }
  }
  return [...rows.values()].sort((a, b) => (a.time as number) - (b.time as number));
}
