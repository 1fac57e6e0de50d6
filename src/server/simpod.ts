/**
 * The simPod JSON data source (`simpod-json-datasource`): metrics with payload pickers instead of JSON typed into
 * a query box. Metrics:
 * - `signals` — payload {device, itf, chn, db, signals (multi-select), method}: time series, one per signal,
 *   named `device:itf:chn:db:signal` like the SimpleJson ones;
 * - `frames` — payload {device}: the raw frames table;
 * - `files` — payload {device}: the log files table.
 * `POST /metrics`, `POST /metric-payload-options` (options of one payload field, given the others),
 * `POST /variable` (the `/search` questions: {"search":"device"} or a plain word), and `/query` (shared with
 * SimpleJson: a target with a `payload` is a simPod target; `simpodTargets` turns them into SimpleJson's).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { QueryEngine } from '../query/index.js';
import { CHANNELS, type FrameBudget, fileTable, frameTable, INTERFACES, METHODS, search } from './protocol.js';
import {
  badRequest,
  parseBody,
  parseDevice,
  parseSignalTarget,
  parseStoreTarget,
  RangeSchema,
  type SignalTarget,
  type StoreTargetParsed,
  type Target,
} from './requests.js';

const Payload = z.record(z.string(), z.unknown());
const MetricsBody = z.looseObject({ metric: z.string().max(200).optional(), payload: Payload.optional() });
const OptionsBody = z.looseObject({
  metric: z.string().max(200),
  payload: Payload.optional(),
  name: z.string().max(200),
});
const VariableBody = z.looseObject({
  payload: z.union([z.looseObject({ target: z.string().max(10_000).optional() }), z.string().max(10_000)]).optional(),
  range: RangeSchema.optional(),
});

type Option = { label: string; value: string };
const opts = (xs: string[]): Option[] => xs.map((x) => ({ label: x, value: x }));

function payloadOptions(engine: QueryEngine, metric: string, name: string, payload: Record<string, unknown>): Option[] {
  switch (name) {
    case 'device':
      return engine.catalog.devices().map((d) => ({ label: engine.deviceLabel(d), value: d }));
    case 'itf':
      return opts(INTERFACES);
    case 'chn':
      return opts(CHANNELS);
    case 'db':
      return opts(engine.dbcKeys());
    case 'method':
      return opts(METHODS);
    case 'signals': {
      const db = typeof payload.db === 'string' ? engine.dbc(payload.db) : undefined;
      return opts(db?.signalNames() ?? []);
    }
    case 'measurement':
      return opts(engine.store?.measurements() ?? []);
    case 'fields':
      return opts(typeof payload.measurement === 'string' ? (engine.store?.fields(payload.measurement) ?? []) : []);
    default:
      throw badRequest(`metric-payload-options: metric ${JSON.stringify(metric)} has no field ${JSON.stringify(name)}`);
  }
}

function metrics(engine: QueryEngine, payload: Record<string, unknown>) {
  const select = (name: string, label: string, type = 'select', reloadMetric = false) => ({
    label,
    name,
    type,
    reloadMetric,
    options: payloadOptions(engine, 'signals', name, payload),
  });
  const device = select('device', 'Device');
  return [
    {
      label: 'Signals',
      value: 'signals',
      payloads: [
        device,
        select('itf', 'Interface'),
        select('chn', 'Channel'),
        select('db', 'DBC', 'select', true),
        select('signals', 'Signals', 'multi-select'),
        select('method', 'Downsampling'),
      ],
    },
    { label: 'Raw frames', value: 'frames', payloads: [device] },
    { label: 'Log files', value: 'files', payloads: [device] },
    ...(engine.store
      ? [
          {
            label: 'Stored series',
            value: 'store',
            payloads: [
              select('measurement', 'Measurement', 'select', true),
              select('fields', 'Fields', 'multi-select'),
              select('method', 'Downsampling'),
            ],
          },
        ]
      : []),
  ];
}

export function registerSimpod(app: FastifyInstance, engine: QueryEngine): void {
  app.post('/metrics', async (req) => {
    const body = parseBody(MetricsBody, req.body, '/metrics');
    return metrics(engine, body.payload ?? {});
  });
  app.post('/metric-payload-options', async (req) => {
    const body = parseBody(OptionsBody, req.body, '/metric-payload-options');
    return payloadOptions(engine, body.metric, body.name, body.payload ?? {});
  });
  app.post('/variable', async (req) => {
    const body = parseBody(VariableBody, req.body, '/variable');
    const target = typeof body.payload === 'string' ? body.payload : body.payload?.target;
    return search(engine, target).map((x) =>
      typeof x === 'string'
        ? { __text: x, __value: x }
        : { __text: (x as Option & { text: string }).text, __value: (x as { value: string }).value },
    );
  });
}

/**
 * simPod targets of a `/query` request: its tables answered here, its series targets handed back to be answered
 * with the SimpleJson ones (one decode request, one notice).
 */
export async function simpodTargets(
  engine: QueryEngine,
  targets: Target[],
  range: { fromMs: number; toMs: number },
  maxPoints: number,
  frames: FrameBudget,
  signal: AbortSignal,
): Promise<{
  tables: unknown[];
  series: { refId?: string; t: SignalTarget }[];
  stored: { refId?: string; t: StoreTargetParsed }[];
}> {
  const tables: unknown[] = [];
  const series: { refId?: string; t: SignalTarget }[] = [];
  const stored: { refId?: string; t: StoreTargetParsed }[] = [];
  for (const [i, t] of targets.entries()) {
    const field = `targets[${i}].payload`;
    const p = typeof t.payload === 'string' ? {} : (t.payload ?? {});
    const metric = typeof t.target === 'string' ? t.target : 'signals';
    if (metric === 'frames' || metric === 'files') {
      const device = parseDevice(typeof p.device === 'string' ? p.device : undefined, `${field}.device`);
      tables.push(
        metric === 'files'
          ? fileTable(engine, device, range, maxPoints)
          : (await frameTable(engine, device, range, frames, signal)).table,
      );
      continue;
    }
    if (metric === 'store') {
      const fields = Array.isArray(p.fields) ? p.fields.map(String) : p.fields;
      const tags = p.tags && typeof p.tags === 'object' ? p.tags : undefined;
      stored.push({
        refId: t.refId,
        t: parseStoreTarget({ measurement: p.measurement, fields, tags, method: p.method }, field),
      });
      continue;
    }
    if (metric !== 'signals')
      throw badRequest(
        `targets[${i}].target: unknown metric ${JSON.stringify(metric)} (signals, frames, files, store)`,
      );
    const sig = Array.isArray(p.signals) ? p.signals.map(String).join('|') : p.signals;
    series.push({
      refId: t.refId,
      t: parseSignalTarget(
        { device: p.device, itf: p.itf, chn: p.chn, db: p.db, signal: sig, ...(p.method ? { method: p.method } : {}) },
        field,
      ),
    });
  }
  return { tables, series, stored };
}
