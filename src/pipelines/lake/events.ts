/**
 * Events over the lake (`sigflow lake events`): CSS Electronics' events.json (../shared/docs/data-lake.md,
 * "Events") evaluated per device over every file and day of that device in time order, so that an event's state
 * crosses file and midnight boundaries — CSS evaluates each uploaded file on its own, which turns an event active
 * when a file starts into a lone Stop and misses a Start that happens between two files.
 *
 * Per event, message folder and trigger signal the state is the side of the last value at or beyond a threshold
 * (`low`: ≤ lower, `high`: ≥ upper; `==` with exact_match). A value on the high side after one on the low side is
 * a rising edge, the reverse a falling edge; rising_as_start says which is the Start. This is CSS's rule as its
 * code applies it to one file (the first value ≥ upper after one ≤ lower), carried from one file and day to the
 * next. At the start of a range the state is what the lake before it gives: earlier days are read backward, one at
 * a time, until the side is known (or `lookbackDays` is spent), so a day's events do not depend on where a run
 * started: re-running any range rewrites its days with the same content.
 *
 * Output: one Parquet file per device and UTC day of the events' t,
 * `aggregations/events/YYYY/MM/DD/<ID>_events.parquet`, CSS's columns. What is held in memory: one message
 * folder's rows of one day (the columns the events need) at a time, the day's events and that day's GPS rows;
 * nothing grows with the number of days.
 */
import { z } from 'zod';
import { SigflowError } from '../../errors/index.js';
import { datePath, type LakeStore, safeSegment, US_PER_DAY } from '../../formats/lake/index.js';
import {
  DoubleColumn,
  Int64Column,
  StringColumn,
  TimestampUsColumn,
  writeParquetRows,
} from '../../formats/parquet/index.js';
import { compactTime, LakeFiles, LakeRows, lakeDayRange, listKeys, parseLakeConfig } from './derived.js';
import { LakeQuery, readableLake } from './query.js';

const nameSchema = z.string().min(1, 'must not be empty');

/** pandas offset aliases CSS's rasters use (`0.2s`, `1s`, `100ms`, `1min`), in µs. */
const RASTER_UNITS: Readonly<Record<string, number>> = {
  us: 1,
  ms: 1_000,
  L: 1_000,
  s: 1_000_000,
  S: 1_000_000,
  min: 60_000_000,
  T: 60_000_000,
  h: 3_600_000_000,
  H: 3_600_000_000,
};

/** A raster (`0.2s`) → µs; `''` → null (no resampling); a string it cannot read → an error text. */
export function parseRaster(s: string): number | null | string {
  if (s.trim() === '') return null;
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)?\s*(us|ms|L|s|S|min|T|h|H)\s*$/.exec(s);
  if (!m) return `"${s}" is not a raster: a number and one of us, ms, s, min, h (e.g. "0.2s", "100ms"), or "" for none`;
  const us = Number(m[1] ?? '1') * RASTER_UNITS[m[2]];
  const whole = Math.round(us);
  if (whole < 1 || Math.abs(us - whole) > 1e-6) return `"${s}" is not a whole number of microseconds above zero`;
  // a grid point takes the value held since at most one step before it: a step over a day would let one value
  // stand for a day it was not seen on
  if (whole > US_PER_DAY) return `"${s}" is longer than a day`;
  return whole;
}

const generalSchema = z.strictObject({
  include_gps_data: z.boolean().default(true),
  signal_latitude: nameSchema.default('Latitude'),
  signal_longitude: nameSchema.default('Longitude'),
  messages_gps: z.array(nameSchema).default(['CAN9_GnssPos']),
  /** The mail text of CSS's notifications: accepted, unused (sigflow sends no mail). */
  static_body_content: z.string().optional(),
});

const eventSchema = z
  .strictObject({
    event_name: nameSchema,
    messages_match_type: z.enum(['equals', 'contains', 'all_messages']),
    /** equals: folder names (CSS: a list of lists); contains: the text a folder name contains; all_messages: unused. */
    messages_filtered_list: z.unknown().optional(),
    trigger_signals: z.array(nameSchema).min(1, 'give at least one signal'),
    lower_threshold: z.number(),
    upper_threshold: z.number(),
    rising_as_start: z.boolean().default(true),
    exact_match: z.boolean().default(false),
    raster: z.string().default(''),
  })
  .superRefine((e, ctx) => {
    const list = e.messages_filtered_list;
    if (e.messages_match_type !== 'all_messages') {
      if (list === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['messages_filtered_list'],
          message: `missing: give the message folders (equals) or the text their names contain (contains)`,
        });
      else if (messageNames(list) === null)
        ctx.addIssue({
          code: 'custom',
          path: ['messages_filtered_list'],
          message: 'expected a folder name, a list of them, or a list of lists of them (non-empty strings)',
        });
    }
    if (e.exact_match ? e.lower_threshold === e.upper_threshold : e.lower_threshold >= e.upper_threshold)
      ctx.addIssue({
        code: 'custom',
        path: ['upper_threshold'],
        message:
          `${e.upper_threshold} must be ${e.exact_match ? 'other than' : 'above'} lower_threshold ` +
          `(${e.lower_threshold}): a value on both sides would be a Start and a Stop at once`,
      });
    const raster = parseRaster(e.raster);
    if (typeof raster === 'string') ctx.addIssue({ code: 'custom', path: ['raster'], message: raster });
  });

const eventsFileSchema = z
  .strictObject({
    general: generalSchema.prefault({}),
    events: z.array(eventSchema),
  })
  .superRefine((f, ctx) => {
    const seen = new Map<string, number>();
    f.events.forEach((e, i) => {
      const at = seen.get(e.event_name);
      if (at !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['events', i, 'event_name'],
          message: `"${e.event_name}" is also events[${at}]'s name (EventName tells events apart)`,
        });
      else seen.set(e.event_name, i);
    });
  });

/** messages_filtered_list → its names: a string, a list, or CSS's list of lists (flattened); null if neither. */
function messageNames(v: unknown): string[] | null {
  const ok = (x: unknown): x is string => typeof x === 'string' && x !== '';
  if (ok(v)) return [v];
  if (!Array.isArray(v)) return null;
  const out: string[] = [];
  for (const x of v) {
    if (ok(x)) out.push(x);
    else if (Array.isArray(x) && x.every(ok)) out.push(...x);
    else return null;
  }
  return out;
}

/** Which message folders an event reads. */
export type MessageMatch =
  | { type: 'equals'; folders: string[] }
  | { type: 'contains'; text: string[] }
  | { type: 'all_messages' };

/** What decides an event's edges: the thresholds, which edge is the Start, and the resampling raster. */
export interface EventRule {
  lower: number;
  upper: number;
  /** true: a rise (low side → high side) is the Start and a fall the Stop; false: the reverse. */
  risingAsStart: boolean;
  /** Sides by equality with the thresholds instead of ≤ lower / ≥ upper. */
  exactMatch: boolean;
  /** The resampling step in µs (grid aligned to the epoch), or null: every row as it is. */
  rasterUs: number | null;
}

export interface EventDefinition extends EventRule {
  name: string;
  match: MessageMatch;
  signals: string[];
}

export interface EventsConfig {
  /** The file it came from, for messages. */
  file: string;
  /** Where positions come from, or null (include_gps_data false): Latitude and Longitude stay null. */
  gps: { messages: string[]; latitude: string; longitude: string } | null;
  events: EventDefinition[];
}

/**
 * Reads CSS's events.json (its text, or the parsed value): SF_ERR_LAKE_EVENTS_CONFIG naming `file` and the key
 * path of every problem. Keys CSS's code requires are required; rising_as_start (true), exact_match (false) and
 * raster ("") may be left out. Unknown keys are refused (a misspelt optional key would silently take its default).
 */
export function parseEventsConfig(source: unknown, file = 'events.json'): EventsConfig {
  const f = parseLakeConfig(eventsFileSchema, source, file);
  const g = f.general;
  return {
    file,
    gps: g.include_gps_data
      ? { messages: g.messages_gps, latitude: g.signal_latitude, longitude: g.signal_longitude }
      : null,
    events: f.events.map((e) => {
      const names = messageNames(e.messages_filtered_list) ?? [];
      const match: MessageMatch =
        e.messages_match_type === 'equals'
          ? { type: 'equals', folders: names }
          : e.messages_match_type === 'contains'
            ? { type: 'contains', text: names }
            : { type: 'all_messages' };
      return {
        name: e.event_name,
        match,
        signals: e.trigger_signals,
        lower: e.lower_threshold,
        upper: e.upper_threshold,
        risingAsStart: e.rising_as_start,
        exactMatch: e.exact_match,
        rasterUs: parseRaster(e.raster) as number | null,
      };
    }),
  };
}

/** Whether an event reads a message folder. */
export function eventMatches(match: MessageMatch, folder: string): boolean {
  if (match.type === 'all_messages') return true;
  if (match.type === 'equals') return match.folders.includes(folder);
  return match.text.some((t) => folder.includes(t));
}

// ---- the detector: pure, state carried between chunks ----

/** One event's state for one series (folder and signal), carried from chunk to chunk, file to file, day to day. */
export interface EventState {
  /** The side of the last value at or beyond a threshold: 'low' (≤ lower), 'high' (≥ upper); null before any. */
  side: 'low' | 'high' | null;
  /** With a raster: the newest observation, not yet placed on its grid point (NaN: none). */
  heldT: number;
  heldV: number;
}

export function newEventState(side: 'low' | 'high' | null = null): EventState {
  return { side, heldT: Number.NaN, heldV: Number.NaN };
}

export interface DetectedEvent {
  /** µs since the epoch: the row's time, or with a raster the grid point's. */
  t: number;
  type: 'Start' | 'Stop';
  /** The trigger signal's value there (SignalValue). */
  value: number;
}

/** A time series chunk in time order; null values (the signal absent from a row) are skipped. */
export interface Series {
  t: ArrayLike<number>;
  v: ArrayLike<number | null>;
}

/** The first grid point at or after `t`. */
function gridAfter(t: number, step: number): number {
  let m = t % step;
  if (m < 0) m += step;
  return m === 0 ? t : t - m + step;
}

function place(rule: EventRule, state: EventState, t: number, v: number, out: DetectedEvent[]): void {
  const high = rule.exactMatch ? v === rule.upper : v >= rule.upper;
  const low = rule.exactMatch ? v === rule.lower : v <= rule.lower;
  if (high) {
    if (state.side === 'low') out.push({ t, type: rule.risingAsStart ? 'Start' : 'Stop', value: v });
    state.side = 'high';
  } else if (low) {
    if (state.side === 'high') out.push({ t, type: rule.risingAsStart ? 'Stop' : 'Start', value: v });
    state.side = 'low';
  }
}

/**
 * The events of one chunk of a series, updating `state` so that the next chunk (the next file, the next day)
 * continues where this one ended. Chunks must come in time order.
 *
 * With a raster (CSS: pandas `resample(raster).ffill(limit=1)`), the series is first put on a grid of multiples
 * of the step since the epoch: a grid point takes the last value at or before it, if that value is less than one
 * step older (each value stands for at most the one grid point at or after it); grid points with no such value are
 * left out. A value is placed only once the next one shows it was not superseded, so the last value of a chunk
 * waits in `state` (finishEvents places it when no later value can come).
 *
 * `fromUs`: events before it are not reported and do not change the state (rows read only to know what a grid
 * point at `fromUs` holds).
 */
export function detectEvents(
  series: Series,
  rule: EventRule,
  state: EventState,
  opts: { fromUs?: number } = {},
): DetectedEvent[] {
  const floor = opts.fromUs ?? Number.NEGATIVE_INFINITY;
  const step = rule.rasterUs;
  const out: DetectedEvent[] = [];
  const n = series.t.length;
  for (let i = 0; i < n; i++) {
    const v = series.v[i];
    if (v === null || Number.isNaN(v)) continue;
    const t = series.t[i];
    if (step === null) {
      if (t >= floor) place(rule, state, t, v, out);
      continue;
    }
    if (!Number.isNaN(state.heldT)) {
      const g = gridAfter(state.heldT, step);
      // a value at exactly g is g's own value: the held one is superseded then
      if (g < t && g >= floor) place(rule, state, g, state.heldV, out);
    }
    state.heldT = t;
    state.heldV = v;
  }
  return out;
}

/**
 * With a raster: places the held value on its grid point when that point is before `untilUs` — the time from
 * which more values may still come (the end of a day, of the data). Without a raster: nothing.
 */
export function finishEvents(
  rule: EventRule,
  state: EventState,
  untilUs: number,
  opts: { fromUs?: number } = {},
): DetectedEvent[] {
  const out: DetectedEvent[] = [];
  if (rule.rasterUs === null || Number.isNaN(state.heldT)) return out;
  const g = gridAfter(state.heldT, rule.rasterUs);
  if (g >= untilUs) return out;
  if (g >= (opts.fromUs ?? Number.NEGATIVE_INFINITY)) place(rule, state, g, state.heldV, out);
  state.heldT = Number.NaN;
  state.heldV = Number.NaN;
  return out;
}

// ---- the run ----

export interface LakeEventsJob {
  lake: LakeStore;
  config: EventsConfig;
  /** First and last day to (re)write, UTC, `YYYY-MM-DD`, inclusive; default: each device's first and last day. */
  from?: string;
  to?: string;
  /** Only these devices (default: every device folder of the lake). */
  devices?: readonly string[];
  /**
   * At most this many days before `from` are read to find each event's state at `from` (and the last position);
   * default: as far back as the lake goes. A state not found within them starts unknown (no Stop before a Start).
   */
  lookbackDays?: number;
  /** The local copy of an S3 lake (default: under the cache folder; see readableLake). */
  cacheDir?: string;
  /** The copy's size bound in bytes (default 10 GiB; see LakeMirror). */
  cacheMaxBytes?: number;
}

export interface LakeEventsHooks {
  /** After each device and day written or emptied. */
  onDay?: (d: { device: string; day: string; events: number }) => void;
}

export interface LakeEventsStats {
  devices: number;
  events: number;
  starts: number;
  stops: number;
  /** Day files written, and files of days in the range left without events, removed. */
  files: number;
  removed: number;
}

/** One output row (CSS's columns). */
export interface EventRow {
  t: number;
  eventName: string;
  deviceId: string;
  eventId: string;
  message: string;
  signal: string;
  eventType: 'Start' | 'Stop';
  eventValue: 1 | 0;
  signalValue: number;
  latitude: number | null;
  longitude: number | null;
}

/** The key of a device's events of one day. */
export function eventsKey(device: string, day: number): string {
  return `aggregations/events/${datePath(day)}/${safeSegment(device)}_events.parquet`;
}

/** CSS's EventId: `<event>_<device>_<YYYYMMDDTHHMMSS>` of the event's time. */
function eventId(name: string, device: string, tUs: number): string {
  return `${name}_${device}_${compactTime(tUs).slice(0, 15)}`;
}

/**
 * Computes the events of every device (or `devices`) for the days of the range and writes one file per device
 * and day that has events; a file of a day in the range that now has none is removed. Reads a lake folder (an S3
 * lake: through its local copy, as `lake query` does); writes through the store.
 */
export async function runLakeEvents(job: LakeEventsJob, hooks: LakeEventsHooks = {}): Promise<LakeEventsStats> {
  const range = lakeDayRange(job.from, job.to);
  if (job.lookbackDays !== undefined && !(Number.isInteger(job.lookbackDays) && job.lookbackDays >= 0))
    throw new SigflowError('SF_ERR_USAGE', `lookbackDays: ${job.lookbackDays} is not a whole number of days ≥ 0`, {
      where: 'lookbackDays',
    });
  const stats: LakeEventsStats = { devices: 0, events: 0, starts: 0, stops: 0, files: 0, removed: 0 };
  // an S3 lake is read through its local copy (brought up to date first); the outputs go to the lake itself
  const read = await readableLake(job.lake, { cacheDir: job.cacheDir, cacheMaxBytes: job.cacheMaxBytes });
  const q = await LakeQuery.openReadable(read);
  try {
    const files = await LakeFiles.list(read);
    const outputs = await listKeys(job.lake, 'aggregations/events/');
    const wanted = job.devices ? new Set(job.devices) : null;
    for (const device of files.devices()) {
      if (wanted && !wanted.has(device)) continue;
      const run = new DeviceEvents(job, files, new LakeRows(q), device, range);
      if (!(await run.run(outputs, stats, hooks))) continue;
      stats.devices++;
    }
  } finally {
    q.close();
  }
  return stats;
}

/** One series being followed: an event on one folder's signal. */
interface Track {
  event: EventDefinition;
  eventIndex: number;
  folder: string;
  signal: string;
  state: EventState;
}

/** A device's events over the range, day by day. */
class DeviceEvents {
  /** Folder → the events (indexes) that read it. */
  private readonly plan = new Map<string, number[]>();
  /** `event\0folder\0signal` → its series, created when the signal first shows in the range. */
  private readonly tracks = new Map<string, Track>();
  private readonly gpsFolders: string[];
  private readonly lookback: number;
  /** The last known position and the day up to whose end it is known (null: not looked for yet). */
  private position: { lat: number; lon: number } | null = null;
  private positionDay: number | null = null;
  /** The range's first day (set by run). */
  private first = 0;

  constructor(
    private readonly job: LakeEventsJob,
    private readonly files: LakeFiles,
    private readonly rows: LakeRows,
    private readonly device: string,
    private readonly range: { from: number | null; to: number | null },
  ) {
    for (const folder of files.folders(device)) {
      const events = job.config.events.flatMap((e, i) => (eventMatches(e.match, folder) ? [i] : []));
      if (events.length) this.plan.set(folder, events);
    }
    const gps = job.config.gps;
    this.gpsFolders = gps ? gps.messages.filter((m) => files.days(device, m).length > 0) : [];
    this.lookback = job.lookbackDays ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Returns false when there is nothing to do: no range given and no folder any event reads. (With a range, its
   * days are visited even so: a file of an earlier run is removed when its day has no events now.)
   */
  async run(outputs: Set<string>, stats: LakeEventsStats, hooks: LakeEventsHooks): Promise<boolean> {
    const days = [...this.plan.keys()].flatMap((f) => this.files.days(this.device, f));
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const d of days) {
      if (d < lo) lo = d;
      if (d > hi) hi = d;
    }
    const first = this.range.from ?? lo;
    const last = this.range.to ?? hi;
    if (!Number.isFinite(first) || !Number.isFinite(last)) return false;
    this.first = first;
    const fromUs = first * US_PER_DAY;
    for (let day = first; day <= last; day++) {
      const found: { ev: DetectedEvent; track: Track }[] = [];
      for (const [folder, events] of this.plan) {
        const step = Math.max(0, ...events.map((i) => this.job.config.events[i].rasterUs ?? 0));
        // on the first day, the last step of the day before: what a grid point at midnight holds
        const paths = [
          ...(day === first && step > 0 ? this.files.files(this.device, folder, day - 1) : []),
          ...this.files.files(this.device, folder, day),
        ];
        if (paths.length === 0) continue;
        const signals = [...new Set(events.flatMap((i) => this.job.config.events[i].signals))];
        const data = await this.rows.read(paths, signals, day * US_PER_DAY - step, (day + 1) * US_PER_DAY);
        const fresh: Track[] = [];
        for (const i of events)
          for (const signal of this.job.config.events[i].signals) {
            if (!data.values.has(signal)) continue;
            const key = `${i}\0${folder}\0${signal}`;
            if (this.tracks.has(key)) continue;
            const track = { event: this.job.config.events[i], eventIndex: i, folder, signal, state: newEventState() };
            this.tracks.set(key, track);
            fresh.push(track);
          }
        if (fresh.length) await this.lookBack(folder, fresh, first);
        for (const track of this.tracks.values()) {
          if (track.folder !== folder) continue;
          const v = data.values.get(track.signal);
          if (!v) continue;
          for (const ev of detectEvents({ t: data.t, v }, track.event, track.state, { fromUs }))
            found.push({ ev, track });
        }
      }
      // no value of this day is still to come: a held value whose grid point is within the day is placed now
      for (const track of this.tracks.values())
        for (const ev of finishEvents(track.event, track.state, (day + 1) * US_PER_DAY, { fromUs }))
          found.push({ ev, track });
      found.sort(
        (a, b) =>
          a.ev.t - b.ev.t ||
          a.track.eventIndex - b.track.eventIndex ||
          cmp(a.track.folder, b.track.folder) ||
          cmp(a.track.signal, b.track.signal),
      );
      const positions = await this.positionsAt(
        day,
        found.map((f) => f.ev.t),
      );
      const out: EventRow[] = found.map(({ ev, track }, k) => ({
        t: ev.t,
        eventName: track.event.name,
        deviceId: this.device,
        eventId: eventId(track.event.name, this.device, ev.t),
        message: track.folder,
        signal: track.signal,
        eventType: ev.type,
        eventValue: ev.type === 'Start' ? 1 : 0,
        signalValue: ev.value,
        latitude: positions[k]?.lat ?? null,
        longitude: positions[k]?.lon ?? null,
      }));
      const key = eventsKey(this.device, day);
      if (out.length) {
        await this.job.lake.writeFile(key, (path) => writeEventsTable(path, out));
        stats.files++;
        stats.events += out.length;
        for (const r of out) r.eventType === 'Start' ? stats.starts++ : stats.stops++;
      } else if (outputs.has(key)) {
        await this.job.lake.delete(key);
        stats.removed++;
      } else continue;
      hooks.onDay?.({ device: this.device, day: datePath(day).replaceAll('/', '-'), events: out.length });
    }
    return true;
  }

  /**
   * The side each new track is on when `first` begins: the last day before it whose own points settle it (read
   * backward, one day at a time; the last step of the day before each is read with it for the raster).
   */
  private async lookBack(folder: string, tracks: Track[], first: number): Promise<void> {
    const step = Math.max(0, ...tracks.map((t) => t.event.rasterUs ?? 0));
    const days = this.files.days(this.device, folder).filter((d) => d < first && d >= first - this.lookback);
    let open = tracks;
    let next = first; // the next later day with files (or the range's first): where values come again
    for (let k = days.length - 1; k >= 0 && open.length; k--) {
      const d = days[k];
      const paths = [
        ...(step > 0 && days[k - 1] === d - 1 ? this.files.files(this.device, folder, d - 1) : []),
        ...this.files.files(this.device, folder, d),
      ];
      const data = await this.rows.read(
        paths,
        open.map((t) => t.signal),
        d * US_PER_DAY - step,
        (d + 1) * US_PER_DAY,
      );
      open = open.filter((track) => {
        const v = data.values.get(track.signal);
        if (!v) return true;
        const s = newEventState();
        detectEvents({ t: data.t, v }, track.event, s, { fromUs: d * US_PER_DAY });
        finishEvents(track.event, s, next * US_PER_DAY, { fromUs: d * US_PER_DAY });
        if (s.side === null) return true;
        track.state.side = s.side;
        return false;
      });
      next = d;
    }
  }

  /** The last known position at or before each time of `ts` (ascending, all within `day`). */
  private async positionsAt(day: number, ts: readonly number[]): Promise<({ lat: number; lon: number } | null)[]> {
    const gps = this.job.config.gps;
    if (!gps || this.gpsFolders.length === 0 || ts.length === 0) return ts.map(() => null);
    let pos = await this.positionBefore(day);
    const rows: { t: number; lat: number; lon: number }[] = [];
    for (const folder of this.gpsFolders) {
      const paths = this.files.files(this.device, folder, day);
      const data = await this.rows.read(paths, [gps.latitude, gps.longitude], day * US_PER_DAY, (day + 1) * US_PER_DAY);
      const lat = data.values.get(gps.latitude);
      const lon = data.values.get(gps.longitude);
      if (!lat || !lon) continue;
      data.t.forEach((t, i) => {
        const a = lat[i];
        const b = lon[i];
        if (a !== null && b !== null) rows.push({ t, lat: a, lon: b });
      });
    }
    rows.sort((a, b) => a.t - b.t); // stable: the folders' order for equal times
    const out: ({ lat: number; lon: number } | null)[] = [];
    let k = 0;
    for (const t of ts) {
      while (k < rows.length && rows[k].t <= t) pos = rows[k++];
      out.push(pos ? { lat: pos.lat, lon: pos.lon } : null);
    }
    this.position = rows.length ? rows[rows.length - 1] : pos;
    this.positionDay = day;
    return out;
  }

  /** The last position before `day` begins: from the last day looked at, or read backward day by day. */
  private async positionBefore(day: number): Promise<{ lat: number; lon: number } | null> {
    const gps = this.job.config.gps;
    if (!gps) return null;
    // days after the last one looked at; before the range, no further back than the look-back allows
    const floor = this.positionDay ?? this.first - this.lookback - 1;
    const days = [...new Set(this.gpsFolders.flatMap((f) => this.files.days(this.device, f)))]
      .filter((d) => d < day && d > floor)
      .sort((a, b) => b - a);
    for (const d of days) {
      let best: { t: number; lat: number; lon: number } | null = null;
      for (const folder of this.gpsFolders) {
        const data = await this.rows.read(
          this.files.files(this.device, folder, d),
          [gps.latitude, gps.longitude],
          d * US_PER_DAY,
          (d + 1) * US_PER_DAY,
        );
        const lat = data.values.get(gps.latitude);
        const lon = data.values.get(gps.longitude);
        if (!lat || !lon) continue;
        for (let i = data.t.length - 1; i >= 0; i--) {
          const a = lat[i];
          const b = lon[i];
          if (a === null || b === null) continue;
          if (!best || data.t[i] >= best.t) best = { t: data.t[i], lat: a, lon: b };
          break;
        }
      }
      if (best) return { lat: best.lat, lon: best.lon };
    }
    return this.positionDay === null ? null : this.position;
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Writes a day's events: CSS's columns and types (t as TIMESTAMP(MICROS, UTC), as the message tables' t). */
export async function writeEventsTable(path: string, rows: readonly EventRow[]): Promise<void> {
  const t = new TimestampUsColumn('t', false);
  const name = new StringColumn('EventName', false, { dictionary: true });
  const device = new StringColumn('DeviceID', false, { dictionary: true });
  const id = new StringColumn('EventId', false);
  const message = new StringColumn('Message', false, { dictionary: true });
  const signal = new StringColumn('Signal', false, { dictionary: true });
  const type = new StringColumn('EventType', false, { dictionary: true });
  const value = new Int64Column('EventValue', false);
  const signalValue = new DoubleColumn('SignalValue', false);
  const lat = new DoubleColumn('Latitude', true);
  const lon = new DoubleColumn('Longitude', true);
  await writeParquetRows(
    path,
    [t, name, device, id, message, signal, type, value, signalValue, lat, lon],
    rows.length,
    (i) => {
      const r = rows[i];
      t.push(BigInt(r.t));
      name.push(r.eventName);
      device.push(r.deviceId);
      id.push(r.eventId);
      message.push(r.message);
      signal.push(r.signal);
      type.push(r.eventType);
      value.push(BigInt(r.eventValue));
      signalValue.push(r.signalValue);
      lat.push(r.latitude);
      lon.push(r.longitude);
    },
  );
}
