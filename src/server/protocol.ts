/**
 * What the Grafana protocols share (SimpleJson, simPod, Infinity): the pickers' lists, the `/search` questions,
 * time series for CANedge targets, the two tables, and cancellation when the client goes away.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SigflowError } from '../errors/index.js';
import type { QueryEngine, SeriesQuery } from '../query/index.js';
import { badRequest, parseTargetJson, type SignalTarget, type StoreTargetParsed, seriesName } from './requests.js';

/** The channels offered to pickers: CAN1/2 and the CANedge's internal CAN9 (GNSS/IMU); LIN uses CH1/CH2. */
export const CHANNELS = ['CH1', 'CH2', 'CH9'];
export const INTERFACES = ['CAN', 'LIN'];
/** NEAREST, MAX, MIN as the old backend offered them, then MINMAX (the default: min and max per bucket). */
export const METHODS = ['NEAREST', 'MAX', 'MIN', 'MINMAX'];

/** An AbortSignal that fires when the client goes away before the answer is sent. */
export function clientGone(req: FastifyRequest, reply: FastifyReply): AbortSignal {
  const c = new AbortController();
  const gone = () =>
    c.abort(new SigflowError('SF_ERR_SERVE_CANCELLED', `${req.method} ${req.url}: the client disconnected`));
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) gone();
  });
  req.raw.on('aborted', gone);
  return c.signal;
}

export type TableResult = { type: 'table'; columns: { text: string; type: string }[]; rows: unknown[][] };
export type SeriesResult = { refId?: string; target: string; datapoints: ([number, number] | [null, null])[] };

/** A series of a record source (store, lake) as answered, with its field and tags apart (for column names). */
export type RecordSeriesResult = SeriesResult & { field: string; tags: Record<string, string> };

/** `/search` answers (also the simPod `/variable` route's). */
export function search(engine: QueryEngine, target: string | undefined): unknown[] {
  if (!target) return [];
  let req: Record<string, unknown>;
  try {
    req = parseTargetJson(target, 'target');
  } catch {
    // a plain word, as simPod's variable editor sends it
    req = { search: target.trim() };
  }
  switch (req.search) {
    case 'device':
      return engine.catalog.devices();
    case 'device_name':
      return engine.catalog.devices().map((d) => ({ text: engine.deviceLabel(d), value: d }));
    case 'itf':
      return INTERFACES;
    case 'chn':
      return CHANNELS;
    case 'db':
      return engine.dbcKeys();
    case 'method':
      return METHODS;
    case 'signal': {
      if (typeof req.db !== 'string') return [];
      return engine.dbc(req.db)?.signalNames() ?? [];
    }
    // the embedded store
    case 'measurement':
      return engine.store?.measurements() ?? [];
    case 'field':
      return engine.store?.fields(typeof req.measurement === 'string' ? req.measurement : undefined) ?? [];
    case 'tag_key':
      return engine.store?.tagKeys(typeof req.measurement === 'string' ? req.measurement : undefined) ?? [];
    case 'tag_value': {
      if (typeof req.key !== 'string') return [];
      const m = typeof req.measurement === 'string' ? req.measurement : undefined;
      return engine.store?.tagValues(req.key, m) ?? [];
    }
    default:
      return [];
  }
}

/** Tag keys for Grafana's ad-hoc filters: `device` (log trees) and the store's tag keys. */
export function tagKeys(engine: QueryEngine): { type: string; text: string }[] {
  const keys = new Set(['device', ...(engine.store?.tagKeys() ?? [])]);
  return [...keys].map((text) => ({ type: 'string', text }));
}

export function tagValues(engine: QueryEngine, key: string): { text: string }[] {
  const values = new Set<string>(key === 'device' ? engine.catalog.devices() : []);
  for (const v of engine.store?.tagValues(key) ?? []) values.add(v);
  return [...values].sort().map((text) => ({ text }));
}

/** Time series of store targets (one per matching series); notices as for the log targets. */
export async function storeTimeSeries(
  engine: QueryEngine,
  targets: { refId?: string; t: StoreTargetParsed }[],
  range: { fromMs: number; toMs: number },
  maxPoints: number,
): Promise<{ series: RecordSeriesResult[]; notices: string[] }> {
  const notices: string[] = [];
  const series: RecordSeriesResult[] = [];
  if (targets.length === 0) return { series, notices };
  const store = engine.store;
  if (!store)
    throw badRequest(
      'this server serves no store or lake: start it with --store <file> or --lake <folder> (or a server: section in sigflow run)',
    );
  for (const { refId, t } of targets) {
    for (const s of await store.series({ ...t, ...range, maxPoints }, notices))
      series.push({ refId, target: s.name, field: s.field, tags: s.tags, datapoints: s.points });
  }
  return { series, notices };
}

/** Time series for CANedge target objects; notices become an empty series named "⚠ …" under the first refId. */
export async function timeSeries(
  engine: QueryEngine,
  targets: { refId?: string; t: SignalTarget }[],
  range: { fromMs: number; toMs: number },
  maxPoints: number,
  intervalMs: number | undefined,
  signal: AbortSignal,
): Promise<{ series: SeriesResult[]; notices: string[]; partial: boolean }> {
  if (targets.length === 0) return { series: [], notices: [], partial: false };
  const queries: SeriesQuery[] = targets.map(({ t }) => ({
    device: t.device,
    itf: t.itf,
    channel: t.channel,
    db: t.db,
    signals: t.signals,
    method: t.method,
    fromMs: range.fromMs,
    toMs: range.toMs,
    maxPoints,
    intervalMs,
  }));
  const { series, report } = await engine.series(queries, signal);
  const out: SeriesResult[] = series.map((s) => ({
    refId: targets[s.query].refId,
    target: seriesName(targets[s.query].t, s.name),
    datapoints: s.points,
  }));
  return { series: out, notices: report.notices, partial: report.partial };
}

const RAW_COLUMNS = ['TIME', 'ITF', 'CHN', 'ID', 'IDE', 'NOB', 'DATA'];
const INFO_COLUMNS = [
  'TIME',
  'DEVICE',
  'SESSION',
  'SPLIT',
  'SIZE [MB]',
  'CONFIG CRC',
  'HW',
  'FW',
  'STORAGE [MB]',
  'NAME',
  'META',
];

function table(names: string[], rows: unknown[][]): TableResult {
  return { type: 'table', columns: names.map((text) => ({ text, type: text === 'TIME' ? 'time' : 'string' })), rows };
}

/** The log files table (from the index). */
export function fileTable(
  engine: QueryEngine,
  device: string,
  range: { fromMs: number; toMs: number },
  max: number,
): TableResult {
  return table(INFO_COLUMNS, engine.fileInfo(device, range.fromMs, range.toMs, max));
}

/**
 * What the raw-frame tables of one request may take together: rows (maxDataPoints, at most 100,000) and log bytes
 * read (the per-request limit). A table per target each with its own budget let a 7 KB request of 100 table
 * targets build 10 M rows (4.4 GB) in memory; now the request shares one.
 */
export interface FrameBudget {
  rows: number;
  bytes: number;
}

export function frameBudget(engine: QueryEngine, maxRows: number): FrameBudget {
  return { rows: maxRows, bytes: engine.limitBytes };
}

export async function frameTable(
  engine: QueryEngine,
  device: string,
  range: { fromMs: number; toMs: number },
  budget: FrameBudget,
  signal: AbortSignal,
): Promise<{ table: TableResult; notices: string[] }> {
  if (budget.rows <= 0 || budget.bytes <= 0)
    return {
      table: table(RAW_COLUMNS, []),
      notices: [`partial result: the request's raw-frame tables reached its limit before ${device}'s`],
    };
  const r = await engine.rawFrames(device, range.fromMs, range.toMs, budget.rows, signal, budget.bytes);
  budget.rows -= r.rows.length;
  budget.bytes -= r.bytes;
  return { table: table(RAW_COLUMNS, r.rows), notices: r.notices };
}
