/**
 * Events and trip summaries over the lake (src/pipelines/lake/events.ts, trips.ts), from synthetic CANedge logs
 * written into a lake and read back with DuckDB:
 * - an event active across a file boundary and midnight gives exactly one Start and one Stop (CSS's per-file
 *   evaluation gives neither for the same data); re-running one day alone gives that day the same rows (the state
 *   comes from the days before it); the expected events come from a literal re-implementation of CSS's rule (in
 *   this file) over the concatenated series, resampled here for the raster event;
 * - the detector gives the same events whatever the chunking, equal to that re-implementation;
 * - a trip over midnight is one trip, on the day it starts; every summary value equals a straightforward
 *   recomputation from the generated frames; a late upload is taken in by recomputing its day ± 1;
 * - bad events.json / aggregations.json: SF_ERR_LAKE_EVENTS_CONFIG naming the key path.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SigflowError } from '../../src/errors/index.js';
import { FolderLakeStore, type LakeStore } from '../../src/formats/lake/index.js';
import { type WriteFrame, writeBusLog } from '../../src/formats/mdf4/writer.js';
import {
  type DetectedEvent,
  detectEvents,
  type EventRule,
  finishEvents,
  newEventState,
  parseEventsConfig,
  runLakeEvents,
} from '../../src/pipelines/lake/events.js';
import { writeLake } from '../../src/pipelines/lake/index.js';
import { parseAggregationsConfig, runLakeTrips } from '../../src/pipelines/lake/trips.js';
import { decoderConfigFrom, expandInputs } from '../../src/pipelines/logdecode/index.js';
import { prng } from '../harness/prng.js';
import { duck } from './lake-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-lake-events-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Midnight starting 2026-06-15 (UTC), µs. Times below are seconds from it. */
const MID_US = Date.UTC(2026, 5, 15) * 1000;
const us = (sec: number) => MID_US + Math.round(sec * 1e6);

const DBC = `VERSION ""
BO_ 257 Speed: 8 Vector__XXX
 SG_ Speed : 0|16@1+ (0.5,0) [0|32767.5] "km/h" Vector__XXX
BO_ 258 Odo: 8 Vector__XXX
 SG_ Odo : 0|32@1+ (1,0) [0|4294967295] "m" Vector__XXX
BO_ 259 GnssPos: 8 Vector__XXX
 SG_ Latitude : 0|32@1+ (0.25,0) [0|1000] "deg" Vector__XXX
 SG_ Longitude : 32|32@1+ (0.25,0) [0|1000] "deg" Vector__XXX
`;

const le32 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
};
const frame = (tUs: number, id: number, data: Uint8Array): WriteFrame => ({
  timeNs: BigInt(tUs) * 1000n,
  channel: 1,
  id,
  dlc: 8,
  data,
});
/** Speed in km/h (a multiple of 0.5: the DBC's scale, so the decoded value is exact). */
const speedFrame = (tUs: number, kmh: number) => {
  const b = new Uint8Array(8);
  le32(b, 0, kmh * 2);
  return frame(tUs, 257, b);
};
const odoFrame = (tUs: number, m: number) => {
  const b = new Uint8Array(8);
  le32(b, 0, m);
  return frame(tUs, 258, b);
};
const gpsFrame = (tUs: number, lat: number, lon: number) => {
  const b = new Uint8Array(8);
  le32(b, 0, lat * 4);
  le32(b, 4, lon * 4);
  return frame(tUs, 259, b);
};

function writeLog(root: string, device: string, session: number, split: number, frames: WriteFrame[]): void {
  frames.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  const dir = join(root, device, String(session).padStart(8, '0'));
  mkdirSync(dir, { recursive: true });
  writeBusLog(join(dir, `${String(split).padStart(8, '0')}.MF4`), frames, {
    layout: 'canedge-v2',
    startTimeNs: frames[0].timeNs,
    device: { serial: device },
  });
}

async function toLake(base: string): Promise<FolderLakeStore> {
  const dbc = join(base, 'can1-test.dbc');
  writeFileSync(dbc, DBC);
  const store = new FolderLakeStore(join(base, 'lake'));
  const { files } = await expandInputs([join(base, 'LOG')]);
  const stats = await writeLake({ inputs: files, config: decoderConfigFrom({ dbc: [dbc], channel: [] }), lake: store });
  assert.equal(stats.failed, 0);
  return store;
}

async function keysOf(store: LakeStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out.sort();
}

// ---- CSS's rule, re-implemented literally from its description (a whole series at once) ----

interface Point {
  t: number;
  v: number | null;
}

/**
 * CSS's per-file logic over a whole series: `below`/`above` per row; a rise is a row above upper with a row below
 * lower somewhere before it, the first of its run of rows not below lower; a fall the reverse.
 */
function cssEvents(points: readonly Point[], rule: EventRule): DetectedEvent[] {
  const below = points.map((p) => p.v !== null && (rule.exactMatch ? p.v === rule.lower : p.v <= rule.lower));
  const above = points.map((p) => p.v !== null && (rule.exactMatch ? p.v === rule.upper : p.v >= rule.upper));
  const out: DetectedEvent[] = [];
  let wasBelow = false;
  let wasAbove = false;
  let riseGroup = 0;
  let fallGroup = 0;
  const rose = new Set<number>();
  const fell = new Set<number>();
  points.forEach((p, i) => {
    if (i > 0 && below[i] !== below[i - 1]) riseGroup++;
    if (i > 0 && above[i] !== above[i - 1]) fallGroup++;
    if (above[i] && wasBelow && !rose.has(riseGroup)) {
      rose.add(riseGroup);
      out.push({ t: p.t, type: rule.risingAsStart ? 'Start' : 'Stop', value: p.v as number });
    }
    if (below[i] && wasAbove && !fell.has(fallGroup)) {
      fell.add(fallGroup);
      out.push({ t: p.t, type: rule.risingAsStart ? 'Stop' : 'Start', value: p.v as number });
    }
    wasBelow ||= below[i];
    wasAbove ||= above[i];
  });
  return out;
}

/** pandas' resample(step).ffill(limit=1) as CSS uses it: each grid point takes the last value at or before it if
 * less than one step old; points without one are dropped. */
function resample(points: readonly Point[], step: number): Point[] {
  const vals = points.filter((p) => p.v !== null);
  if (!vals.length) return [];
  const out: Point[] = [];
  let k = 0;
  for (let g = Math.ceil(vals[0].t / step) * step; g < vals[vals.length - 1].t + step; g += step) {
    while (k + 1 < vals.length && vals[k + 1].t <= g) k++;
    if (vals[k].t <= g && g - vals[k].t < step) out.push({ t: g, v: vals[k].v });
  }
  return out;
}

test('detector: any chunking gives CSS’s events over the whole series; a raster sees what it samples', () => {
  const rules: EventRule[] = [
    { lower: 5, upper: 10, risingAsStart: true, exactMatch: false, rasterUs: null },
    { lower: 5, upper: 10, risingAsStart: false, exactMatch: false, rasterUs: null },
    { lower: 0, upper: 1, risingAsStart: true, exactMatch: true, rasterUs: null },
  ];
  const next = prng(7);
  for (let round = 0; round < 40; round++) {
    const points: Point[] = [];
    let t = 1_000_000;
    for (let i = 0; i < 400; i++) {
      t += 1 + Math.floor(next() * 3) * 500_000;
      const r = next();
      // integers 0..14 and some nulls: every side, values between, exact thresholds
      points.push({ t, v: r < 0.05 ? null : Math.floor(next() * 15) });
    }
    for (const rule of rules) {
      const want = cssEvents(points, rule);
      const state = newEventState();
      const got: DetectedEvent[] = [];
      for (let i = 0; i < points.length; ) {
        const n = Math.floor(next() * 50);
        const chunk = points.slice(i, i + n);
        got.push(...detectEvents({ t: chunk.map((p) => p.t), v: chunk.map((p) => p.v) }, rule, state));
        i += n;
      }
      assert.deepEqual(got, want, `round ${round}, rule ${JSON.stringify(rule)}`);
    }
  }

  // a raster of 1 s: a spike superseded before its grid point is not seen; a value exactly on a grid point is that
  // point's; each value stands for one grid point at most
  const rule: EventRule = { lower: 5, upper: 10, risingAsStart: true, exactMatch: false, rasterUs: 1_000_000 };
  const s = (sec: number) => Math.round(sec * 1e6);
  const series = [
    { t: s(0.3), v: 0 }, // → grid 1 s: low
    { t: s(1.2), v: 20 }, // superseded by 1.7 before grid 2 s
    { t: s(1.7), v: 0 }, // → grid 2 s
    { t: s(2.5), v: 20 }, // → grid 3 s: Start
    { t: s(3.4), v: 0 }, // superseded by the value at 4 s exactly
    { t: s(4), v: 20 }, // → grid 4 s: still high, nothing
    { t: s(4.5), v: 0 }, // → grid 5 s: Stop; 6 s, 7 s, 8 s hold nothing
    { t: s(8.2), v: 20 }, // → grid 9 s: Start, placed only by finishEvents (no later value)
  ];
  const whole = newEventState();
  const all = [
    ...detectEvents({ t: series.map((p) => p.t), v: series.map((p) => p.v) }, rule, whole),
    ...finishEvents(rule, whole, Number.POSITIVE_INFINITY),
  ];
  assert.deepEqual(all, [
    { t: s(3), type: 'Start', value: 20 },
    { t: s(5), type: 'Stop', value: 0 },
    { t: s(9), type: 'Start', value: 20 },
  ]);
  assert.deepEqual(all, cssEvents(resample(series, 1_000_000), rule));
  // the same in two chunks split between 1.2 and 1.7, with the end of a "day" at 2 s in between
  const st = newEventState();
  const parts = [
    ...detectEvents({ t: series.slice(0, 2).map((p) => p.t), v: series.slice(0, 2).map((p) => p.v) }, rule, st),
    ...finishEvents(rule, st, s(2)), // 1.2's grid point is 2 s: not before 2 s, so it stays held
    ...detectEvents({ t: series.slice(2).map((p) => p.t), v: series.slice(2).map((p) => p.v) }, rule, st),
    ...finishEvents(rule, st, Number.POSITIVE_INFINITY),
  ];
  assert.deepEqual(parts, all);
});

test('events: active over a file boundary and midnight → one Start, one Stop; one day alone: the same', async () => {
  const base = join(work, 'events');
  const root = join(base, 'LOG');
  const speed: Point[] = [];
  const gps: { t: number; lat: number; lon: number }[] = [];
  let g = 0;
  /** One log: speed every second from `a` to `b` (s from midnight), a position every 10 s (+0.5 s) before `gpsEnd`. */
  const log = (split: number, a: number, b: number, kmh: (s: number) => number, gpsEnd = b) => {
    const frames: WriteFrame[] = [];
    for (let sec = a; sec <= b; sec++) {
      frames.push(speedFrame(us(sec), kmh(sec)));
      speed.push({ t: us(sec), v: kmh(sec) });
    }
    for (let sec = a + 0.5; sec < gpsEnd; sec += 10, g++) {
      const p = { t: us(sec), lat: 50 + g * 0.25, lon: 10 + g * 0.25 };
      frames.push(gpsFrame(p.t, p.lat, p.lon));
      gps.push(p);
    }
    writeLog(root, 'AABBCCDD', 1, split, frames);
  };
  // 23:50–23:55:59 low (2), a while between thresholds (8) in the middle
  log(1, -600, -241, (s) => (s >= -450 && s < -440 ? 8 : 2));
  // 23:56–00:02:59: high from its first row (15, then 20), between (7) from 23:59 over midnight; no position after
  // midnight (the 15th's events take the 14th's last)
  log(2, -240, 179, (s) => (s === -240 ? 15 : s < -60 ? 20 : 7), 0);
  // 00:05–00:10: between (8), low (3) in its last row only (the raster event's Stop: placed at the end of the day)
  log(3, 300, 600, (s) => (s < 600 ? 8 : 3), 300);
  const store = await toLake(base);

  const config = parseEventsConfig(
    JSON.stringify({
      general: {
        include_gps_data: true,
        signal_latitude: 'Latitude',
        signal_longitude: 'Longitude',
        messages_gps: ['CAN1_GnssPos'],
      },
      events: [
        {
          event_name: 'HighSpeed',
          messages_match_type: 'equals',
          messages_filtered_list: [['CAN1_Speed']],
          trigger_signals: ['Speed'],
          lower_threshold: 5,
          upper_threshold: 10,
          rising_as_start: true,
          exact_match: false,
          raster: '',
        },
        {
          event_name: 'Slow',
          messages_match_type: 'contains',
          messages_filtered_list: 'Speed',
          trigger_signals: ['Speed'],
          lower_threshold: 5,
          upper_threshold: 10,
          rising_as_start: false,
          exact_match: false,
          raster: '',
        },
        {
          event_name: 'HighSpeed5s',
          messages_match_type: 'all_messages',
          trigger_signals: ['Speed'],
          lower_threshold: 5,
          upper_threshold: 10,
          rising_as_start: true,
          exact_match: false,
          raster: '5s',
        },
      ],
    }),
  );

  // the scenario is what CSS gets wrong: each lake file on its own (fresh state) gives no event at all
  const rule = config.events[0];
  const files = [
    speed.filter((p) => p.t <= us(-241)),
    speed.filter((p) => p.t >= us(-240) && p.t < MID_US),
    speed.filter((p) => p.t >= MID_US && p.t <= us(179)),
    speed.filter((p) => p.t >= us(300)),
  ];
  assert.equal(gps.filter((p) => p.t >= MID_US).length, 0);
  for (const f of files)
    assert.deepEqual(detectEvents({ t: f.map((p) => p.t), v: f.map((p) => p.v) }, rule, newEventState()), []);

  const stats = await runLakeEvents({ lake: store, config });
  assert.equal(stats.devices, 1);

  // expected: CSS's rule over the whole concatenated series (resampled for the raster event), GPS the last at or
  // before each event
  const posAt = (t: number) => {
    const before = gps.filter((p) => p.t <= t);
    return before.length ? before[before.length - 1] : null;
  };
  const expected = config.events.flatMap((e) =>
    cssEvents(e.rasterUs === null ? speed : resample(speed, e.rasterUs), e).map((ev) => ({
      t: ev.t,
      EventName: e.name,
      DeviceID: 'AABBCCDD',
      EventId: `${e.name}_AABBCCDD_${new Date(ev.t / 1000).toISOString().replace(/[-:]/g, '').slice(0, 15)}`,
      Message: 'CAN1_Speed',
      Signal: 'Speed',
      EventType: ev.type,
      EventValue: ev.type === 'Start' ? 1 : 0,
      SignalValue: ev.value,
      Latitude: posAt(ev.t)?.lat ?? null,
      Longitude: posAt(ev.t)?.lon ?? null,
    })),
  );
  // …which is, by the scenario's design, one Start at 23:56:00 and one Stop at 00:10:00 for HighSpeed
  assert.deepEqual(
    expected.filter((e) => e.EventName === 'HighSpeed').map((e) => [e.EventType, e.t, e.SignalValue]),
    [
      ['Start', us(-240), 15],
      ['Stop', us(600), 3],
    ],
  );
  assert.equal(expected.length, 6);

  const file = (day: string) => `${store.folder}/aggregations/events/${day}/AABBCCDD_events.parquet`;
  const read = async (day: string) =>
    (await duck(`SELECT epoch_us(t)::DOUBLE AS t, * EXCLUDE (t) FROM '${file(day)}'`)).map((r) => ({
      ...r,
      EventValue: Number(r.EventValue),
    }));
  const byTime = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    Number(a.t) - Number(b.t) || String(a.EventName).localeCompare(String(b.EventName));
  assert.deepEqual(await keysOf(store, 'aggregations/events/'), [
    'aggregations/events/2026/06/14/AABBCCDD_events.parquet',
    'aggregations/events/2026/06/15/AABBCCDD_events.parquet',
  ]);
  const day14 = await read('2026/06/14');
  const day15 = await read('2026/06/15');
  assert.deepEqual(day14.sort(byTime), expected.filter((e) => e.t < MID_US).sort(byTime));
  assert.deepEqual(day15.sort(byTime), expected.filter((e) => e.t >= MID_US).sort(byTime));
  // CSS's schema
  const schema = await duck(
    `SELECT name, type, logical_type FROM parquet_schema('${file('2026/06/14')}') WHERE name <> 'root'`,
  );
  assert.deepEqual(
    schema.map((c) => [c.name, c.type]),
    [
      ['t', 'INT64'],
      ['EventName', 'BYTE_ARRAY'],
      ['DeviceID', 'BYTE_ARRAY'],
      ['EventId', 'BYTE_ARRAY'],
      ['Message', 'BYTE_ARRAY'],
      ['Signal', 'BYTE_ARRAY'],
      ['EventType', 'BYTE_ARRAY'],
      ['EventValue', 'INT64'],
      ['SignalValue', 'DOUBLE'],
      ['Latitude', 'DOUBLE'],
      ['Longitude', 'DOUBLE'],
    ],
  );
  assert.match(String(schema[0].logical_type), /MICROS/);

  // the 15th alone: its rows come out the same — the Stop needs the state the 14th left (nothing on the 15th is
  // above the upper threshold); without looking back, it is gone and the day's file is removed
  const only = await runLakeEvents({ lake: store, config, from: '2026-06-15', to: '2026-06-15' });
  assert.deepEqual([only.files, only.events], [1, 3]);
  assert.deepEqual((await read('2026/06/15')).sort(byTime), day15);
  const blind = await runLakeEvents({ lake: store, config, from: '2026-06-15', to: '2026-06-15', lookbackDays: 0 });
  assert.deepEqual([blind.files, blind.removed], [0, 1]);
  assert.deepEqual(await keysOf(store, 'aggregations/events/'), [
    'aggregations/events/2026/06/14/AABBCCDD_events.parquet',
  ]);
  await runLakeEvents({ lake: store, config, from: '2026-06-15' });
  assert.deepEqual((await read('2026/06/15')).sort(byTime), day15);
  // the 14th alone: unchanged too
  await runLakeEvents({ lake: store, config, to: '2026-06-14' });
  assert.deepEqual((await read('2026/06/14')).sort(byTime), day14);
});

// ---- trips ----

const FUNCTIONS = [
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

/** Every function over values in time order, computed plainly. */
function summary(values: number[], fn: (typeof FUNCTIONS)[number]): number {
  const deltas = values.slice(1).map((v, i) => v - values[i]);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  switch (fn) {
    case 'avg':
      return sum(values) / values.length;
    case 'median':
      return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    case 'min':
      return sorted[0];
    case 'max':
      return sorted[sorted.length - 1];
    case 'sum':
      return sum(values);
    case 'first':
      return values[0];
    case 'last':
      return values[values.length - 1];
    case 'delta_sum':
      return sum(deltas);
    case 'delta_sum_pos':
      return sum(deltas.filter((d) => d > 0));
    case 'delta_sum_neg':
      return sum(deltas.filter((d) => d < 0));
  }
}

test('trips: one over midnight is one trip on its start day; values equal a recomputation; late upload', async () => {
  const base = join(work, 'trips');
  const root = join(base, 'LOG');
  const speed: Point[] = [];
  const odo: Point[] = [];
  let k = 0;
  let j = 0;
  /** A log: speed every second from `a` to `b` (s from midnight), odometer every 5 s (at +2.5 s) to `odoEnd`. */
  const log = (session: number, split: number, a: number, b: number, odoEnd = b) => {
    const frames: WriteFrame[] = [];
    for (let sec = a; sec <= b; sec++, k++) {
      const v = ((k * 7919) % 200) / 2;
      frames.push(speedFrame(us(sec), v));
      speed.push({ t: us(sec), v });
    }
    for (let sec = a + 2.5; sec <= odoEnd; sec += 5, j++) {
      const v = 1000 + ((j * 37) % 50);
      frames.push(odoFrame(us(sec), v));
      odo.push({ t: us(sec), v });
    }
    writeLog(root, '11223344', session, split, frames);
  };
  log(1, 1, -1800, 600); // 23:30 → 00:10, one file over midnight
  log(1, 2, 601, 1800, 1860); // → 00:30; the odometer goes on a minute after the trip's last row
  log(2, 1, 3600, 4800); // 01:00 → 01:20: a 30-minute gap before it, a trip of its own
  log(2, 2, 6000, 6120); // 01:40 → 01:42: 2 minutes, shorter than trip_min_length_min, dropped
  let store = await toLake(base);

  const aggregations = {
    config: {
      date: { mode: 'specific_period', start_date: '2026-06-14', end_date: '2026-06-15' },
      trip: { trip_gap_min: 10, trip_min_length_min: 5 },
    },
    device_clusters: [{ devices: ['11223344'], cluster: 'fleet' }],
    cluster_details: [
      {
        clusters: ['fleet'],
        details: {
          trip_identifier: { message: 'CAN1_Speed' },
          aggregations: [
            { message: 'CAN1_Speed', signal: ['Speed'], aggregation: [...FUNCTIONS] },
            { message: 'CAN1_Odo', signal: ['Odo'], aggregation: ['first', 'last', 'delta_sum_neg', 'median'] },
          ],
        },
      },
    ],
  };
  const config = parseAggregationsConfig(JSON.stringify(aggregations));

  /** The expected rows: trips split by gaps > 10 min in the speed rows, kept when ≥ 5 min, values from the frames. */
  const expected = () => {
    const times = speed.map((p) => p.t).sort((a, b) => a - b);
    const trips: [number, number][] = [];
    for (const t of times) {
      const cur = trips[trips.length - 1];
      if (cur && t - cur[1] <= 600e6) cur[1] = t;
      else trips.push([t, t]);
    }
    const rows: Record<string, unknown>[] = [];
    for (const [start, end] of trips.filter(([a, b]) => b - a >= 300e6)) {
      const iso = new Date(start / 1000).toISOString();
      // CSS's %Y%m%dT%H%M%S.%f: microseconds (whole seconds here: 000000)
      const id = `11223344_${iso.slice(0, 19).replace(/[-:]/g, '')}.${iso.slice(20, 23)}000`;
      for (const agg of aggregations.cluster_details[0].details.aggregations) {
        const series = (agg.message === 'CAN1_Speed' ? speed : odo)
          .filter((p) => p.t >= start && p.t <= end)
          .sort((a, b) => a.t - b.t);
        const values = series.map((p) => p.v as number);
        for (const fn of agg.aggregation)
          rows.push({
            DeviceID: '11223344',
            Message: agg.message,
            Signal: agg.signal[0],
            Aggregation: fn,
            SignalValue: summary(values, fn as (typeof FUNCTIONS)[number]),
            SignalCount: values.length,
            Duration: (series[series.length - 1].t - series[0].t) / 1e6,
            TripStart: start,
            TripEnd: end,
            TripID: id,
            Cluster: 'fleet',
          });
      }
    }
    return rows;
  };
  const read = async (day: string) =>
    (
      await duck(
        `SELECT * EXCLUDE (TripStart, TripEnd, SignalCount), epoch_us(TripStart)::DOUBLE AS TripStart,
           epoch_us(TripEnd)::DOUBLE AS TripEnd, SignalCount::DOUBLE AS SignalCount
         FROM '${store.folder}/aggregations/tripsummary/${day}/${day.replaceAll('/', '')}.parquet'`,
      )
    ).map((r) => ({ ...r }));
  const order = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    Number(a.TripStart) - Number(b.TripStart) ||
    String(a.Message).localeCompare(String(b.Message)) ||
    String(a.Aggregation).localeCompare(String(b.Aggregation));

  const stats = await runLakeTrips({ lake: store, config });
  assert.deepEqual([stats.from, stats.to, stats.trips, stats.files], ['2026-06-14', '2026-06-15', 2, 2]);
  const want = expected();
  // by design: trip 1 from 23:30 (the 14th) to 00:30 (the 15th), trip 2 01:00–01:20; the 2-minute one dropped
  assert.deepEqual(
    [...new Set(want.map((r) => `${r.TripStart}-${r.TripEnd}`))],
    [`${us(-1800)}-${us(1800)}`, `${us(3600)}-${us(4800)}`],
  );
  assert.deepEqual(want[0].TripID, '11223344_20260614T233000.000000');
  const day14 = await read('2026/06/14');
  const day15 = await read('2026/06/15');
  assert.deepEqual(day14.sort(order), want.filter((r) => Number(r.TripStart) < MID_US).sort(order));
  assert.deepEqual(day15.sort(order), want.filter((r) => Number(r.TripStart) >= MID_US).sort(order));
  assert.equal(day14.length, FUNCTIONS.length + 4);

  // one day at a time gives the same files: the 14th reads on into the 15th to end its trip, the 15th knows the
  // rows after its midnight belong to the 14th's trip
  for (const k of await keysOf(store, 'aggregations/tripsummary/')) await store.delete(k);
  await runLakeTrips({ lake: store, config, from: '2026-06-15', to: '2026-06-15' });
  assert.deepEqual(await keysOf(store, 'aggregations/tripsummary/'), [
    'aggregations/tripsummary/2026/06/15/20260615.parquet',
  ]);
  assert.deepEqual((await read('2026/06/15')).sort(order), day15);
  await runLakeTrips({ lake: store, config, from: '2026-06-14', to: '2026-06-14' });
  assert.deepEqual((await read('2026/06/14')).sort(order), day14);

  // a late upload on the 15th, 00:31:40–00:35, within 10 minutes of trip 1's end: trip 1 (the 14th's) grows.
  // Recomputing the 15th alone leaves the 14th as it was; the upload's day ± 1 takes it in.
  log(3, 1, 1900, 2100);
  store = await toLake(base);
  await runLakeTrips({ lake: store, config, from: '2026-06-15', to: '2026-06-15' });
  assert.deepEqual((await read('2026/06/14')).sort(order), day14);
  await runLakeTrips({ lake: store, config, from: '2026-06-14', to: '2026-06-16' });
  const after = expected();
  assert.equal(after[0].TripEnd, us(2100));
  assert.deepEqual(
    (await read('2026/06/14')).sort(order),
    after.filter((r) => Number(r.TripStart) < MID_US).sort(order),
  );
  assert.deepEqual(
    (await read('2026/06/15')).sort(order),
    after.filter((r) => Number(r.TripStart) >= MID_US).sort(order),
  );
});

test('bad events.json / aggregations.json: SF_ERR_LAKE_EVENTS_CONFIG naming the file and the key path', () => {
  const event = {
    event_name: 'E',
    messages_match_type: 'equals',
    messages_filtered_list: [['CAN1_Speed']],
    trigger_signals: ['Speed'],
    lower_threshold: 5,
    upper_threshold: 10,
  };
  const refused = (f: () => unknown, where: string, text: RegExp) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof SigflowError);
      assert.equal(e.code, 'SF_ERR_LAKE_EVENTS_CONFIG');
      assert.equal(e.where, where);
      assert.match(e.message, text);
      return true;
    });
  // the event as given is fine
  assert.equal(parseEventsConfig({ events: [event] }, 'ev.json').events[0].rasterUs, null);
  refused(
    () => parseEventsConfig({ events: [event, { ...event, event_name: 'F', upper_threshold: '10' }] }, 'ev.json'),
    'ev.json: events[1].upper_threshold',
    /^ev\.json: events\[1\]\.upper_threshold: expected number, got string$/,
  );
  refused(
    () => parseEventsConfig({ events: [{ ...event, raster: 'fast' }] }),
    'events.json: events[0].raster',
    /events\[0\]\.raster: "fast" is not a raster/,
  );
  refused(
    () => parseEventsConfig({ events: [{ ...event, lower_threshold: 10 }] }),
    'events.json: events[0].upper_threshold',
    /must be above lower_threshold/,
  );
  refused(
    () => parseEventsConfig({ events: [{ ...event, rising_as_star: true }] }),
    'events.json: events[0].rising_as_star',
    /unknown key/,
  );
  refused(
    () => parseEventsConfig({ events: [{ ...event, messages_filtered_list: [[1]] }] }),
    'events.json: events[0].messages_filtered_list',
    /list of lists/,
  );
  refused(() => parseEventsConfig('{"events": ['), 'events.json: (root)', /not JSON/);

  const agg = {
    config: { trip: { trip_gap_min: 10, trip_min_length_min: 1 } },
    device_clusters: [{ devices: ['11223344'], cluster: 'c1' }],
    cluster_details: [
      {
        clusters: ['c1'],
        details: {
          trip_identifier: { message: 'CAN1_Speed' },
          aggregations: [{ message: 'CAN1_Speed', signal: ['Speed'], aggregation: ['avg'] }],
        },
      },
    ],
  };
  assert.equal(parseAggregationsConfig(agg).clusters[0].tripMessage, 'CAN1_Speed');
  const bad = structuredClone(agg) as unknown as {
    cluster_details: { details: { aggregations: { aggregation: string[] }[] } }[];
  };
  bad.cluster_details[0].details.aggregations[0].aggregation = ['avg', 'mean'];
  refused(
    () => parseAggregationsConfig(bad, 'agg.json'),
    'agg.json: cluster_details[0].details.aggregations[0].aggregation[1]',
    /expected "avg" \| "median"/,
  );
  refused(
    () => parseAggregationsConfig({ ...agg, config: {} }),
    'aggregations.json: config.trip',
    /config\.trip: missing/,
  );
  refused(
    () => parseAggregationsConfig({ ...agg, config: { ...agg.config, date: { mode: 'specific_period' } } }),
    'aggregations.json: config.date.start_date',
    /start_date: missing/,
  );
  refused(
    () => parseAggregationsConfig({ ...agg, device_clusters: [{ devices: [], cluster: 'c2' }] }),
    'aggregations.json: device_clusters[0].cluster',
    /"c2" is in no cluster_details/,
  );
});
