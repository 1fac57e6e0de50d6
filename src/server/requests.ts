/**
 * What the Grafana plugins send, read strictly: bodies validated with zod (unknown fields allowed — Grafana adds
 * new ones — wrong types refused), time ranges as ISO 8601 or epoch ms, and the CANedge dashboards' target
 * strings (JSON inside a string). Every refusal is SF_ERR_SERVE_BAD_REQUEST naming the field.
 */
import { z } from 'zod';
import { SigflowError } from '../errors/index.js';
import { DOWNSAMPLE_METHODS, type DownsampleMethod, type Interface } from '../query/index.js';
import { MAX_RECORD_TIME_MS, nsToMs } from '../records/index.js';
import { parseTime as parseInstant } from '../units/index.js';

export function badRequest(message: string): SigflowError {
  return new SigflowError('SF_ERR_SERVE_BAD_REQUEST', message);
}

/** Parses a body with a schema; a mismatch names the first field that is wrong. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.length ? issue.path.join('.') : '(body)';
  throw badRequest(`${what}: ${path}: ${issue.message}`);
}

const time = z.union([z.string().max(64), z.number()]);
export const RangeSchema = z.looseObject({ from: time, to: time });

/**
 * Epoch ms of a Grafana time: a number or a decimal string of epoch ms (fractions kept), or RFC 3339 / ISO 8601
 * read by the units grammar — UTC unless an offset is given, whatever the server's time zone (never Date.parse,
 * whose legacy rules read "-1" as 2001-01-01 and "2024-01-02T03:04:05" in local time).
 */
export function parseTime(v: string | number, field: string): number {
  let ms: number;
  if (typeof v === 'number') ms = v;
  else if (/^-?\d+(\.\d+)?$/.test(v.trim())) ms = Number(v);
  else {
    try {
      ms = nsToMs(parseInstant(v, field));
    } catch {
      ms = Number.NaN;
    }
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_RECORD_TIME_MS)
    throw badRequest(
      `${field}: not a time: ${JSON.stringify(v)} (RFC 3339 / ISO 8601, UTC unless an offset is given, or epoch ms)`,
    );
  return ms;
}

export function parseRange(r: z.infer<typeof RangeSchema>): { fromMs: number; toMs: number } {
  const fromMs = parseTime(r.from, 'range.from');
  const toMs = parseTime(r.to, 'range.to');
  if (toMs < fromMs) throw badRequest(`range: "to" (${r.to}) is before "from" (${r.from})`);
  return { fromMs, toMs };
}

const MAX_TARGETS = 100;

export const TargetSchema = z.looseObject({
  refId: z.string().max(200).optional(),
  target: z.union([z.string().max(10_000), z.record(z.string(), z.unknown())]).optional(),
  type: z.string().max(40).optional(),
  hide: z.boolean().optional(),
  payload: z.union([z.record(z.string(), z.unknown()), z.string().max(10_000)]).optional(),
});
export type Target = z.infer<typeof TargetSchema>;

export const QueryBodySchema = z.looseObject({
  range: RangeSchema,
  intervalMs: z.number().nonnegative().optional(),
  maxDataPoints: z.number().int().positive().optional(),
  targets: z.array(TargetSchema).max(MAX_TARGETS),
});

export const SearchBodySchema = z.looseObject({ target: z.string().max(10_000).optional() });

export const AnnotationBodySchema = z.looseObject({
  range: RangeSchema,
  annotation: z.looseObject({ query: z.string().max(10_000).optional() }),
});

/** A target string of the CANedge dashboards: JSON text of an object (its keys kept in order). */
export function parseTargetJson(text: string, field: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw badRequest(
      `${field}: not JSON: ${(e as Error).message} (the CANedge targets are JSON objects, e.g. {"device":"2F6913DB","itf":"CAN","chn":"CH2","db":"canmod-gps","signal":"Speed"})`,
    );
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${field}: not a JSON object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, field: string, max = 200): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw badRequest(`${field}.${key}: expected a string`);
  const s = String(v);
  if (s.length > max) throw badRequest(`${field}.${key}: longer than ${max} characters`);
  return s;
}

/** Device ids are what the index knows (upper-case hex for CANedge); refused when they could mean anything else. */
export function parseDevice(v: string | undefined, field: string): string {
  if (v === undefined || v === '') throw badRequest(`${field}: no device`);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(v)) throw badRequest(`${field}: not a device id: ${JSON.stringify(v)}`);
  return v.toUpperCase();
}

export interface SignalTarget {
  device: string;
  itf: Interface;
  channel: number;
  db: string;
  signals: string;
  method?: DownsampleMethod;
  /** The target's values in its own key order, for the series name `device:itf:chn:db:signal[:method]`. */
  nameParts: { key: string; value: string }[];
}

/** Interface and channel: itf CAN|LIN, chn CH<n> | CAN<n> | LIN<n> | <n> (1…255). */
export function parseChannel(
  itf: string | undefined,
  chn: string | undefined,
  field: string,
): { itf: Interface; channel: number } {
  let i = (itf ?? 'CAN').toUpperCase();
  const m = /^(CH|CAN|LIN)?(\d{1,3})$/i.exec(chn ?? 'CH1');
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 255) {
    throw badRequest(`${field}.chn: not a channel: ${JSON.stringify(chn)} (CH1, CH2, CH9 …)`);
  }
  if (m[1] && /^(CAN|LIN)$/i.test(m[1])) i = m[1].toUpperCase();
  if (i !== 'CAN' && i !== 'LIN')
    throw badRequest(`${field}.itf: not an interface: ${JSON.stringify(itf)} (CAN or LIN)`);
  return { itf: i, channel: Number(m[2]) };
}

export function parseMethod(v: string | undefined, field: string): DownsampleMethod | undefined {
  if (v === undefined || v === '') return undefined;
  const m = v.toLowerCase() as DownsampleMethod;
  if (!DOWNSAMPLE_METHODS.includes(m)) {
    throw badRequest(
      `${field}.method: unknown method ${JSON.stringify(v)} (${DOWNSAMPLE_METHODS.map((x) => x.toUpperCase()).join(', ')})`,
    );
  }
  return m;
}

/** A CANedge time-series target object: device, itf, chn, db, signal, optional method. */
export function parseSignalTarget(o: Record<string, unknown>, field: string): SignalTarget {
  const device = parseDevice(str(o, 'device', field), `${field}.device`);
  const db = str(o, 'db', field);
  if (!db) throw badRequest(`${field}: no db (the DBC key, e.g. "canmod-gps")`);
  const signals = str(o, 'signal', field, 10_000) ?? str(o, 'signals', field, 10_000);
  if (!signals) throw badRequest(`${field}: no signal`);
  const { itf, channel } = parseChannel(str(o, 'itf', field), str(o, 'chn', field), field);
  const method = parseMethod(str(o, 'method', field), field);
  // keys Grafana sent without a value (simPod's empty pickers) are not part of the name
  const nameParts = Object.keys(o)
    .filter((key) => o[key] !== undefined)
    .map((key) => {
      const raw = o[key];
      let value = typeof raw === 'string' ? raw : JSON.stringify(raw);
      if (key === 'itf' || key === 'chn' || key === 'method') value = value.toUpperCase();
      if (key === 'db') value = value.toLowerCase();
      if (key === 'device') value = device;
      return { key, value };
    });
  return { device, itf, channel, db, signals, method, nameParts };
}

/** The old backend's series name: the target's values joined by ':' in their order, signal replaced. */
export function seriesName(t: SignalTarget, signal: string): string {
  return t.nameParts.map((p) => (p.key === 'signal' || p.key === 'signals' ? signal : p.value)).join(':');
}

/** A store target: {"measurement", "field" (or "fields": a name, `(A|B)` or a list), "tags": {k: v}, "method"}. */
export function parseStoreTarget(o: Record<string, unknown>, field: string): StoreTargetParsed {
  const measurement = str(o, 'measurement', field);
  if (!measurement) throw badRequest(`${field}: no measurement`);
  const f = o.fields ?? o.field;
  let fields: string | string[] | undefined;
  if (Array.isArray(f)) fields = f.map((x) => String(x)).slice(0, 1000);
  else if (f !== undefined && f !== null) fields = str(o, o.fields !== undefined ? 'fields' : 'field', field, 10_000);
  let tags: Record<string, string> | undefined;
  if (o.tags !== undefined) {
    if (o.tags === null || typeof o.tags !== 'object' || Array.isArray(o.tags))
      throw badRequest(`${field}.tags: expected an object of tag values`);
    tags = {};
    for (const [k, v] of Object.entries(o.tags as Record<string, unknown>)) {
      if (typeof v !== 'string' || k.length > 200 || v.length > 1000)
        throw badRequest(`${field}.tags.${k}: expected a string`);
      tags[k] = v;
    }
  }
  return { measurement, fields, tags, method: parseMethod(str(o, 'method', field), field) };
}

export interface StoreTargetParsed {
  measurement: string;
  fields?: string | string[];
  tags?: Record<string, string>;
  method?: DownsampleMethod;
}

/**
 * The `x-sigflow-notices` header: the notices joined by " | ", percent-encoded (a header is Latin-1), cut at whole
 * characters to at most `max` bytes — never in the middle of an escape, which the console could not decode; lone
 * surrogates become U+FFFD (encodeURIComponent throws on them).
 */
export function noticesHeader(notices: readonly string[], max = 4000): string {
  const text = (notices.join(' | ') as string & { toWellFormed(): string }).toWellFormed();
  const all = encodeURIComponent(text);
  if (all.length <= max) return all;
  let out = '';
  for (const ch of text) {
    const e = encodeURIComponent(ch);
    if (out.length + e.length > max) break;
    out += e;
  }
  return out;
}

/** The deepest nesting a request body may have: Grafana's are a few levels; deeper ones are refused (400). */
export const MAX_BODY_DEPTH = 64;

/**
 * True when `v` nests objects or arrays deeper than `max` — walked without recursion (a body nested 20,000 deep
 * must not overflow the stack here, nor later in a JSON.stringify of a cache key: it is refused first).
 */
export function nestedDeeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop() as [unknown, number];
    if (x === null || typeof x !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(x))
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * The notices of one answer as one log line: the first ten and how many there were — one line per notice let one
 * request of many unknown signal names write 100,000 lines.
 */
export function loggedNotices(notices: readonly string[]): { notices: string[]; count: number } {
  return { notices: notices.slice(0, 10), count: notices.length };
}
