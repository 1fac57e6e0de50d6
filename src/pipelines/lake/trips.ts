/**
 * Trip summaries over the lake (`sigflow lake trips`): CSS Electronics' aggregations.json
 * (../shared/docs/data-lake.md, "Trip summaries") computed per device over all its days in time order, so that a
 * trip over midnight is one trip — CSS splits trips within each day's files, which breaks every such trip in two.
 *
 * Per device of a cluster, the rows of the cluster's trip-identifier message split into trips where two
 * consecutive rows are more than trip_gap_min apart; a trip shorter than trip_min_length_min (last row − first) is
 * dropped. A trip belongs to the UTC day it starts on. For each trip, aggregation message, signal and function, one
 * row over that message's rows with TripStart ≤ t ≤ TripEnd. Output: one file per day,
 * `aggregations/tripsummary/YYYY/MM/DD/YYYYMMDD.parquet`, rewritten (or removed, when the day has no trip now).
 *
 * Recomputing days [from, to] reads a little around them: the last trip-identifier row before `from` (a trip
 * running into `from` started on an earlier day and is not rewritten), and the days after `to` that a trip started
 * within the range runs into. What is held in memory: the trips' bounds (two numbers per trip) for the range, one
 * day of one message's rows at a time, one day's summary rows, and for `median` the values of one signal over one
 * trip.
 */
import { z } from 'zod';
import { datePath, dayOf, type LakeStore, US_PER_DAY } from '../../formats/lake/index.js';
import {
  DoubleColumn,
  Int64Column,
  StringColumn,
  TimestampUsColumn,
  writeParquetRows,
} from '../../formats/parquet/index.js';
import { compactTime, LakeFiles, LakeRows, lakeDayRange, listKeys, parseLakeConfig } from './derived.js';
import { LakeQuery, readableLake } from './query.js';

export const TRIP_FUNCTIONS = [
  'avg',
  'median',
  'min',
  'max',
  'sum',
  'first',
  'last',
  'delta_sum',
  'delta_sum_pos',
  'delta_sum_neg',
] as const;
export type TripFunction = (typeof TRIP_FUNCTIONS)[number];

// ---- aggregations.json ----

const nameSchema = z.string().min(1, 'must not be empty');

function isDay(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCDate() === Number(m[3]) && d.getUTCMonth() === Number(m[2]) - 1;
}
const daySchema = z.string().refine(isDay, 'expected a day as YYYY-MM-DD');

const aggregationSchema = z.strictObject({
  message: nameSchema,
  signal: z.array(nameSchema).min(1, 'give at least one signal'),
  aggregation: z.array(z.enum(TRIP_FUNCTIONS)).min(1, 'give at least one function'),
});

const aggregationsFileSchema = z
  .strictObject({
    config: z.strictObject({
      date: z
        .strictObject({
          mode: z.enum(['previous_day', 'specific_period']),
          start_date: daySchema.optional(),
          end_date: daySchema.optional(),
        })
        .optional(),
      trip: z.strictObject({
        trip_gap_min: z.number().positive(),
        trip_min_length_min: z.number().min(0),
      }),
    }),
    device_clusters: z.array(z.strictObject({ devices: z.array(nameSchema), cluster: nameSchema })),
    cluster_details: z.array(
      z.strictObject({
        clusters: z.array(nameSchema).min(1, 'name at least one cluster'),
        details: z.strictObject({
          trip_identifier: z.strictObject({ message: nameSchema }),
          aggregations: z.array(aggregationSchema).default([]),
        }),
        /** CSS's code also reads a cluster's list here (and prefers it when not empty). */
        aggregations: z.array(aggregationSchema).optional(),
      }),
    ),
  })
  .superRefine((f, ctx) => {
    const date = f.config.date;
    if (date?.mode === 'specific_period') {
      for (const k of ['start_date', 'end_date'] as const)
        if (date[k] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['config', 'date', k],
            message: 'missing (specific_period needs start_date and end_date, YYYY-MM-DD)',
          });
      if (date.start_date && date.end_date && date.end_date < date.start_date)
        ctx.addIssue({
          code: 'custom',
          path: ['config', 'date', 'end_date'],
          message: `${date.end_date} is before start_date ${date.start_date}`,
        });
    }
    f.device_clusters.forEach((c, i) => {
      if (!f.cluster_details.some((d) => d.clusters.includes(c.cluster)))
        ctx.addIssue({
          code: 'custom',
          path: ['device_clusters', i, 'cluster'],
          message: `"${c.cluster}" is in no cluster_details[].clusters: its trips would have no trip identifier`,
        });
    });
  });

export interface TripAggregation {
  /** The message folder (`CAN2_GnssSpeed`). */
  message: string;
  signals: string[];
  functions: TripFunction[];
}

export interface TripCluster {
  name: string;
  devices: string[];
  /** The message folder whose rows make the trips. */
  tripMessage: string;
  aggregations: TripAggregation[];
}

export interface TripsConfig {
  file: string;
  /** The days CSS's config names (used when a run is given no from/to); null: not given. */
  date: { mode: 'previous_day' } | { mode: 'specific_period'; start: string; end: string } | null;
  /** Rows more than this apart (µs) are in different trips. */
  gapUs: number;
  /** Trips shorter than this (µs, last row − first) are dropped. */
  minLengthUs: number;
  clusters: TripCluster[];
}

/**
 * Reads CSS's aggregations.json (its text, or the parsed value): SF_ERR_LAKE_EVENTS_CONFIG naming `file` and the
 * key path of every problem. `config.date` may be left out when runs are given their days; unknown keys are refused.
 */
export function parseAggregationsConfig(source: unknown, file = 'aggregations.json'): TripsConfig {
  const f = parseLakeConfig(aggregationsFileSchema, source, file);
  const date = f.config.date;
  return {
    file,
    date: !date
      ? null
      : date.mode === 'previous_day'
        ? { mode: 'previous_day' }
        : { mode: 'specific_period', start: date.start_date as string, end: date.end_date as string },
    gapUs: Math.round(f.config.trip.trip_gap_min * 60_000_000),
    minLengthUs: Math.round(f.config.trip.trip_min_length_min * 60_000_000),
    clusters: f.device_clusters.map((c) => {
      // the first details naming the cluster, as CSS picks them
      const d = f.cluster_details.find((x) => x.clusters.includes(c.cluster)) as (typeof f.cluster_details)[number];
      const aggs = d.aggregations?.length ? d.aggregations : d.details.aggregations;
      return {
        name: c.cluster,
        devices: c.devices,
        tripMessage: d.details.trip_identifier.message,
        aggregations: aggs.map((a) => ({ message: a.message, signals: a.signal, functions: a.aggregation })),
      };
    }),
  };
}

// ---- pure parts: splitting rows into trips, summarizing a signal ----

export interface Trip {
  /** µs since the epoch: the first and last trip-identifier row. */
  start: number;
  end: number;
}

/**
 * Splits a device's trip-identifier row times (fed in time order, across files and days) into trips: a row more
 * than `gapUs` after the previous one starts a new trip. A closed trip is returned when it is at least
 * `minLengthUs` long and did not start before the rows of interest (`continueFrom`).
 */
export class TripSplitter {
  private start = Number.NaN;
  private end = Number.NaN;
  private foreign = false;

  constructor(
    private readonly gapUs: number,
    private readonly minLengthUs: number,
  ) {}

  /** A row before the range: the trip it is in (and any row continuing it) started earlier and is not returned. */
  continueFrom(t: number): void {
    this.start = t;
    this.end = t;
    this.foreign = true;
  }

  /** Whether a row at `t` would be in the open trip. */
  extends(t: number): boolean {
    return !Number.isNaN(this.end) && t - this.end <= this.gapUs;
  }

  /** Whether a trip of the range is open (not one that started before it). */
  get openOwn(): boolean {
    return !Number.isNaN(this.end) && !this.foreign;
  }

  /** The next row; returns the trip this row closes, if it is kept. */
  push(t: number): Trip | null {
    if (this.extends(t)) {
      this.end = t;
      return null;
    }
    const closed = this.finish();
    this.start = t;
    this.end = t;
    this.foreign = false;
    return closed;
  }

  /** Closes the open trip (no more rows); returns it if it is kept. */
  finish(): Trip | null {
    const kept =
      !Number.isNaN(this.end) && !this.foreign && this.end - this.start >= this.minLengthUs
        ? { start: this.start, end: this.end }
        : null;
    this.start = Number.NaN;
    this.end = Number.NaN;
    this.foreign = false;
    return kept;
  }
}

/**
 * One signal's values over one trip, in time order, summarized as it goes (nulls are not added). Deltas are between
 * consecutive values. Only `median` keeps the values.
 */
export class SignalSummary {
  count = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private first = Number.NaN;
  private last = Number.NaN;
  private deltaSum = 0;
  private deltaPos = 0;
  private deltaNeg = 0;
  private readonly values: number[] | null;

  constructor(keepValues: boolean) {
    this.values = keepValues ? [] : null;
  }

  add(v: number): void {
    if (this.count === 0) this.first = v;
    else {
      const d = v - this.last;
      this.deltaSum += d;
      if (d > 0) this.deltaPos += d;
      else if (d < 0) this.deltaNeg += d;
    }
    this.last = v;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.values?.push(v);
  }

  /** A function's value (NaN when nothing was added; `median` needs keepValues). */
  value(fn: TripFunction): number {
    if (this.count === 0) return Number.NaN;
    switch (fn) {
      case 'avg':
        return this.sum / this.count;
      case 'median': {
        // internal invariant: summaries that must give a median are made with keepValues
        if (!this.values) throw new Error('median of a summary without values');
        const s = Float64Array.from(this.values).sort();
        const m = s.length >> 1;
        return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
      }
      case 'min':
        return this.min;
      case 'max':
        return this.max;
      case 'sum':
        return this.sum;
      case 'first':
        return this.first;
      case 'last':
        return this.last;
      case 'delta_sum':
        return this.deltaSum;
      case 'delta_sum_pos':
        return this.deltaPos;
      case 'delta_sum_neg':
        return this.deltaNeg;
    }
  }
}

/** CSS's TripID: `<device>_<YYYYMMDDTHHMMSS.ffffff>` of the trip's start. */
export function tripId(device: string, startUs: number): string {
  return `${device}_${compactTime(startUs)}`;
}

// ---- the run ----

export interface LakeTripsJob {
  lake: LakeStore;
  config: TripsConfig;
  /**
   * First and last day to (re)write, UTC, `YYYY-MM-DD`, inclusive. Neither given: the config's `date` (previous_day
   * is the day before `now`'s), else every day the clusters' devices have trip-identifier rows; one end missing:
   * the first or last such day.
   */
  from?: string;
  to?: string;
  /** "Now" for previous_day, ms since the epoch (default: the clock). */
  now?: number;
  /** The local copy of an S3 lake (default: under the cache folder; see readableLake). */
  cacheDir?: string;
  /** The copy's size bound in bytes (default 10 GiB; see LakeMirror). */
  cacheMaxBytes?: number;
}

export interface LakeTripsHooks {
  /** After each day's file is written or removed. */
  onDay?: (d: { day: string; trips: number; rows: number }) => void;
}

export interface LakeTripsStats {
  /** The days covered (YYYY-MM-DD), or null when there was nothing to cover. */
  from: string | null;
  to: string | null;
  trips: number;
  rows: number;
  files: number;
  removed: number;
}

/** One output row (CSS's columns). */
export interface TripRow {
  deviceId: string;
  message: string;
  signal: string;
  aggregation: TripFunction;
  signalValue: number;
  signalCount: number;
  /** Seconds between the first and last row of that message in the trip. */
  duration: number;
  tripStart: number;
  tripEnd: number;
  tripId: string;
  cluster: string;
}

/** The key of a day's trip summaries. */
export function tripSummaryKey(day: number): string {
  const p = datePath(day);
  return `aggregations/tripsummary/${p}/${p.replaceAll('/', '')}.parquet`;
}

const isoDay = (day: number) => datePath(day).replaceAll('/', '-');

/**
 * Computes the trips that start on the days of the range, for every device of every cluster, and writes one
 * file per day with trips (removing the file of a day in the range that has none now). Reads a lake folder (an
 * S3 lake: through its local copy, as `lake query` does); writes through the store.
 */
export async function runLakeTrips(job: LakeTripsJob, hooks: LakeTripsHooks = {}): Promise<LakeTripsStats> {
  const cfg = job.config;
  let { from, to } = lakeDayRange(job.from, job.to);
  const stats: LakeTripsStats = { from: null, to: null, trips: 0, rows: 0, files: 0, removed: 0 };
  // an S3 lake is read through its local copy (brought up to date first); the outputs go to the lake itself
  const read = await readableLake(job.lake, { cacheDir: job.cacheDir, cacheMaxBytes: job.cacheMaxBytes });
  const q = await LakeQuery.openReadable(read);
  try {
    const files = await LakeFiles.list(read);
    if (from === null && to === null && cfg.date) {
      if (cfg.date.mode === 'previous_day') from = to = dayOf((job.now ?? Date.now()) * 1000) - 1;
      else ({ from, to } = lakeDayRange(cfg.date.start, cfg.date.end));
    }
    if (from === null || to === null) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const c of cfg.clusters)
        for (const device of c.devices)
          for (const d of files.days(device, c.tripMessage)) {
            if (d < lo) lo = d;
            if (d > hi) hi = d;
          }
      from ??= lo;
      to ??= hi;
      if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) return stats;
    }
    stats.from = isoDay(from);
    stats.to = isoDay(to);
    const rows = new LakeRows(q);

    // the trips of the range: bounds only, by the day they start on
    const byDay = new Map<number, { cluster: number; device: string; trip: Trip }[]>();
    for (const [ci, c] of cfg.clusters.entries())
      for (const device of c.devices)
        for (const trip of await findTrips(files, rows, device, c.tripMessage, cfg, from, to)) {
          const day = dayOf(trip.start);
          let list = byDay.get(day);
          if (!list) byDay.set(day, (list = []));
          list.push({ cluster: ci, device, trip });
        }

    const outputs = await listKeys(job.lake, 'aggregations/tripsummary/');
    for (let day = from; day <= to; day++) {
      const items = (byDay.get(day) ?? []).sort(
        (a, b) =>
          (a.device < b.device ? -1 : a.device > b.device ? 1 : 0) ||
          a.trip.start - b.trip.start ||
          a.cluster - b.cluster,
      );
      const out: TripRow[] = [];
      for (const { cluster, device, trip } of items) {
        const c = cfg.clusters[cluster];
        for (const agg of c.aggregations) out.push(...(await summarize(files, rows, device, c.name, agg, trip)));
      }
      stats.trips += items.length;
      stats.rows += out.length;
      const key = tripSummaryKey(day);
      if (out.length) {
        await job.lake.writeFile(key, (path) => writeTripSummaryTable(path, out));
        stats.files++;
      } else if (outputs.has(key)) {
        await job.lake.delete(key);
        stats.removed++;
      } else continue;
      hooks.onDay?.({ day: isoDay(day), trips: items.length, rows: out.length });
    }
  } finally {
    q.close();
  }
  return stats;
}

/** A device's trips that start on a day of [from, to], read day by day in time order. */
async function findTrips(
  files: LakeFiles,
  rows: LakeRows,
  device: string,
  message: string,
  cfg: TripsConfig,
  from: number,
  to: number,
): Promise<Trip[]> {
  const days = files.days(device, message);
  const splitter = new TripSplitter(cfg.gapUs, cfg.minLengthUs);
  const fromUs = from * US_PER_DAY;
  // the last row before the range, from the days that can hold one within a gap of it: rows of the range that
  // continue its trip belong to a trip of an earlier day
  for (let k = days.length - 1; k >= 0; k--) {
    const d = days[k];
    if (d >= from) continue;
    if ((d + 1) * US_PER_DAY <= fromUs - cfg.gapUs) break;
    const last = await rows.lastTime(files.files(device, message, d), fromUs);
    if (last !== null) {
      splitter.continueFrom(last);
      break;
    }
  }
  const trips: Trip[] = [];
  for (const d of days) {
    if (d < from) continue;
    // after the range, only rows that continue a trip it started
    if (d > to && !(splitter.openOwn && splitter.extends(d * US_PER_DAY))) break;
    const data = await rows.read(files.files(device, message, d), [], d * US_PER_DAY, (d + 1) * US_PER_DAY);
    let done = false;
    for (const t of data.t) {
      if (d > to && !splitter.extends(t)) {
        done = true;
        break;
      }
      const closed = splitter.push(t);
      if (closed) trips.push(closed);
    }
    if (done) break;
  }
  const closed = splitter.finish();
  if (closed) trips.push(closed);
  return trips;
}

/** The rows of one aggregation (message × its signals × its functions) over one trip. */
async function summarize(
  files: LakeFiles,
  rows: LakeRows,
  device: string,
  cluster: string,
  agg: TripAggregation,
  trip: Trip,
): Promise<TripRow[]> {
  const median = agg.functions.includes('median');
  const sums = new Map<string, SignalSummary>();
  let first = Number.NaN;
  let last = Number.NaN;
  for (const d of files.days(device, agg.message)) {
    if (d < dayOf(trip.start) || d > dayOf(trip.end)) continue;
    const data = await rows.read(
      files.files(device, agg.message, d),
      agg.signals,
      Math.max(trip.start, d * US_PER_DAY),
      Math.min(trip.end + 1, (d + 1) * US_PER_DAY),
    );
    if (data.t.length === 0) continue;
    if (Number.isNaN(first)) first = data.t[0];
    last = data.t[data.t.length - 1];
    for (const [signal, values] of data.values) {
      let s = sums.get(signal);
      if (!s) sums.set(signal, (s = new SignalSummary(median)));
      for (const v of values) if (v !== null && !Number.isNaN(v)) s.add(v);
    }
  }
  if (Number.isNaN(first)) return [];
  const duration = (last - first) / 1e6;
  const id = tripId(device, trip.start);
  const out: TripRow[] = [];
  for (const signal of agg.signals) {
    const s = sums.get(signal);
    if (!s || s.count === 0) continue;
    for (const fn of agg.functions)
      out.push({
        deviceId: device,
        message: agg.message,
        signal,
        aggregation: fn,
        signalValue: s.value(fn),
        signalCount: s.count,
        duration,
        tripStart: trip.start,
        tripEnd: trip.end,
        tripId: id,
        cluster,
      });
  }
  return out;
}

/** Writes a day's trip summaries: CSS's columns and types (TripStart/TripEnd as TIMESTAMP(MICROS, UTC)). */
export async function writeTripSummaryTable(path: string, rows: readonly TripRow[]): Promise<void> {
  const device = new StringColumn('DeviceID', false, { dictionary: true });
  const message = new StringColumn('Message', false, { dictionary: true });
  const signal = new StringColumn('Signal', false, { dictionary: true });
  const aggregation = new StringColumn('Aggregation', false, { dictionary: true });
  const value = new DoubleColumn('SignalValue', false);
  const count = new Int64Column('SignalCount', false);
  const duration = new DoubleColumn('Duration', false);
  const start = new TimestampUsColumn('TripStart', false);
  const end = new TimestampUsColumn('TripEnd', false);
  const id = new StringColumn('TripID', false, { dictionary: true });
  const cluster = new StringColumn('Cluster', false, { dictionary: true });
  await writeParquetRows(
    path,
    [device, message, signal, aggregation, value, count, duration, start, end, id, cluster],
    rows.length,
    (i) => {
      const r = rows[i];
      device.push(r.deviceId);
      message.push(r.message);
      signal.push(r.signal);
      aggregation.push(r.aggregation);
      value.push(r.signalValue);
      count.push(BigInt(r.signalCount));
      duration.push(r.duration);
      start.push(BigInt(r.tripStart));
      end.push(BigInt(r.tripEnd));
      id.push(r.tripId);
      cluster.push(r.cluster);
    },
  );
}
