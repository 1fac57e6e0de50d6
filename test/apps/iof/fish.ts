/**
 * Synthetic fish for the IoF tests: two real fish-farm cages — Norway (north, east; the metadata workbook's cage)
 * and Chile (south, west) — each with three TBRs whose GPS positions lie on the 1e-5° grid the GPS block carries;
 * depth tags placed inside the cages; arrival times computed from the true 3-D distances at 1500 m/s and rounded
 * to the millisecond as a TBR reports them (whole second + millisecond); the messages the TBRs would send, encoded
 * by the independent encoder; and the positions the independent reference (test/geo/reference.ts) computes from
 * the same timestamps.
 */
import assert from 'node:assert/strict';
import type { IofProjectInput } from '../../../src/sinks/iof/index.js';
import { encodeIof, type IofMessage, prng, type TagPacket } from '../../codecs/bitfield/iof-encoder.js';
import { refFrame, refLocate, refToLatLon } from '../../geo/reference.js';

export const STATION_DEPTH = 3;
const V = 1500;

export interface Site {
  cage: string;
  tbrs: [number, number, number];
  stations: [{ lat: number; lon: number }, { lat: number; lon: number }, { lat: number; lon: number }];
  /** Depth tags of this cage: tag ids, on `frequency` (kHz). */
  tagIds: number[];
  frequency: number;
}

export const SITES: Site[] = [
  {
    cage: 'norway',
    tbrs: [501, 502, 503],
    stations: [
      { lat: 64.97286, lon: 11.72367 },
      { lat: 64.9732, lon: 11.72327 },
      { lat: 64.97284, lon: 11.72282 },
    ],
    tagIds: [10, 11, 12, 13, 14, 15],
    frequency: 69,
  },
  {
    cage: 'chile',
    tbrs: [601, 602, 603],
    stations: [
      { lat: -41.75, lon: -73.0 },
      { lat: -41.7502, lon: -73.0005 },
      { lat: -41.7496, lon: -73.0002 },
    ],
    tagIds: [20, 21, 22, 23, 24, 25],
    frequency: 71,
  },
];

/** A tag of the Norwegian cage that is not a depth tag (acceleration): never positioned. */
export const NON_DEPTH_TAG = { tag_id: 40, frequency: 69 };
export const DEPTH_FACTOR = 0.2;

export function fishProject(): IofProjectInput {
  return {
    name: 'fish',
    time_zone: 'Europe/Oslo',
    tbrs: SITES.flatMap((s) =>
      s.tbrs.map((id) => ({ tbr_serial_id: id, frequency: s.frequency, include: true, cage_name: s.cage })),
    ),
    positioning: { enabled: true, active_cages: SITES.map((s) => s.cage) },
    cages: SITES.map((s) => ({
      name: s.cage,
      cagename: s.cage,
      tbrs: s.tbrs,
      tbr_depth: STATION_DEPTH,
      lines_depth: [0, 10, 20],
      circles_depth: [0, 10],
      radius: 25,
      center_x: 20,
      center_y: 10,
      lat_a: s.stations[0].lat,
      lon_a: s.stations[0].lon,
      lat_b: s.stations[1].lat,
      lon_b: s.stations[1].lon,
      lat_c: s.stations[2].lat,
      lon_c: s.stations[2].lon,
    })),
    tags: [
      ...SITES.flatMap((s) =>
        s.tagIds.map((id) => ({
          tag_id: id,
          frequency: s.frequency,
          protocol: 'S256',
          conversion_factor: DEPTH_FACTOR,
          data_type: 'Depth [m]',
          cage_name: s.cage,
          include: true,
        })),
      ),
      {
        ...NON_DEPTH_TAG,
        protocol: 'S256',
        conversion_factor: 0.01,
        data_type: 'Acceleration [m/s^2]',
        cage_name: 'norway',
        include: true,
      },
    ],
    mqtt_topics: [{ topic: 'lora/#', qos: 1 }],
  } as IofProjectInput;
}

/** One transmission and what each TBR of its cage reports (undefined: not heard). */
export interface Transmission {
  site: Site;
  tagId: number;
  frequency: number;
  depthRaw: number;
  /** True local position (the reference frame of the stations' GPS positions). */
  truth: { x: number; y: number; lat: number; lon: number };
  heard: ({ second: number; millisecond: number } | undefined)[];
  /** The true arrival times at A, B, C, seconds after t0 (before rounding to the millisecond). */
  exact: number[];
  /** What must come of it: a position (the reference's), or none and why. */
  expect: { x: number; y: number; z: number; lat: number; lon: number } | { none: string };
}

function report(t: number): { second: number; millisecond: number } {
  let second = Math.floor(t);
  let millisecond = Math.round((t - second) * 1000);
  if (millisecond === 1000) {
    second++;
    millisecond = 0;
  }
  return { second, millisecond };
}

/**
 * `perSite` transmissions per cage of depth tags inside it, plus the cases that must give no position: heard by
 * two TBRs only, far outside the cage, a non-depth tag. Transmissions are 90 s apart per tag (no overlap in ±5 s).
 */
export function transmissions(perSite: number, seed = 7, t0 = 1_700_000_000): Transmission[] {
  const rnd = prng(seed);
  const out: Transmission[] = [];
  SITES.forEach((site, si) => {
    const f = refFrame(...site.stations);
    const st = [
      { x: 0, y: 0 },
      { x: f.b, y: 0 },
      { x: f.cx, y: f.cy },
    ];
    // the circle through the stations (the cage): centre (b/2, (cx² + cy² − b·cx) / 2cy)
    const ux = f.b / 2;
    const uy = (f.cx * f.cx + f.cy * f.cy - f.b * f.cx) / (2 * f.cy);
    const r = Math.hypot(ux, uy);
    const make = (k: number, kind: 'in' | 'two' | 'outside' | 'nondepth') => {
      const tagId = kind === 'nondepth' ? NON_DEPTH_TAG.tag_id : site.tagIds[k % site.tagIds.length];
      const frequency = kind === 'nondepth' ? NON_DEPTH_TAG.frequency : site.frequency;
      const depthRaw = 5 + Math.floor(rnd() * 140); // 1–29 m
      const dz = depthRaw * DEPTH_FACTOR - STATION_DEPTH;
      let x = 0;
      let y = 0;
      for (let tries = 0; tries < 1000; tries++) {
        const ang = rnd() * 2 * Math.PI;
        const rad = kind === 'outside' ? 3 * r : Math.sqrt(rnd()) * 0.95 * r;
        x = ux + rad * Math.cos(ang);
        y = uy + rad * Math.sin(ang);
        if (kind !== 'outside') break;
        // outside, and so is the other point with the same time differences (else the data says "inside")
        const exact = st.map((s) => Math.sqrt((x - s.x) ** 2 + (y - s.y) ** 2 + dz * dz) / V);
        const ref = refLocate(
          site.stations[0],
          site.stations[1],
          site.stations[2],
          STATION_DEPTH,
          depthRaw * DEPTH_FACTOR,
          exact,
        );
        if ('reason' in ref && ref.reason === 'outside_cage') break;
      }
      const start = t0 + si * 100_000 + k * 90 + rnd();
      const exact = st.map((s) => start - t0 + Math.sqrt((x - s.x) ** 2 + (y - s.y) ** 2 + dz * dz) / V);
      const heard: Transmission['heard'] = exact.map((e) => report(t0 + e));
      if (kind === 'two') heard[2] = undefined;
      const ll = refToLatLon(f, x, y);
      let expect: Transmission['expect'];
      if (kind === 'two') expect = { none: 'heard by two TBRs' };
      else if (kind === 'nondepth') expect = { none: 'not a depth tag' };
      else {
        const times = heard.map(
          (h) =>
            (h as { second: number; millisecond: number }).second -
            t0 +
            (h as { millisecond: number }).millisecond / 1000,
        );
        const ref = refLocate(
          site.stations[0],
          site.stations[1],
          site.stations[2],
          STATION_DEPTH,
          depthRaw * DEPTH_FACTOR,
          times,
        );
        expect = 'reason' in ref ? { none: ref.reason } : ref;
      }
      out.push({ site, tagId, frequency, depthRaw, truth: { x, y, lat: ll.lat, lon: ll.lon }, heard, exact, expect });
    };
    for (let k = 0; k < perSite; k++) make(k, 'in');
    make(perSite, 'two');
    make(perSite + 1, 'outside');
    make(perSite + 2, 'nondepth');
  });
  return out;
}

/**
 * The messages the TBRs send: per TBR, a GPS message (3D fix) before everything, then its detections in time
 * order, up to 5 per message, each message's reference timestamp its first detection's second.
 */
export function messages(txs: readonly Transmission[], t0 = 1_700_000_000): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const site of SITES) {
    site.tbrs.forEach((tbr, i) => {
      out.push(
        encodeIof({
          tbr,
          refTimestamp: t0 - 100,
          gps: {
            slimStatus: 0,
            latitude: site.stations[i].lat,
            longitude: site.stations[i].lon,
            pdop: 1.1,
            fix: 3,
            sats: 12,
          },
          packets: [],
        }),
      );
      const dets = txs
        .filter((t) => t.site === site && t.heard[i])
        .map((t) => ({ t, h: t.heard[i] as { second: number; millisecond: number } }))
        .sort((a, b) => a.h.second - b.h.second || a.h.millisecond - b.h.millisecond);
      // up to 5 detections per message, all within 250 s of its reference second
      const groups: (typeof dets)[] = [];
      for (const d of dets) {
        const g = groups[groups.length - 1];
        if (g && g.length < 5 && d.h.second - g[0].h.second <= 250) g.push(d);
        else groups.push([d]);
      }
      for (const group of groups) {
        const ref = group[0].h.second;
        const m: IofMessage = {
          tbr,
          refTimestamp: ref,
          packets: group.map(
            (g): TagPacket => ({
              type: 'tag',
              offset: g.h.second - ref,
              protocol: 'S256',
              k: g.t.frequency - 69,
              tagId: g.t.tagId,
              data: [g.t.depthRaw],
              snr: 30,
              millisecond: g.h.millisecond,
            }),
          ),
        };
        out.push(encodeIof(m));
      }
    });
  }
  return out;
}

/** A gateway envelope around a message. */
export function envelope(bytes: Uint8Array, snr = 7.5): string {
  return JSON.stringify({ data: Buffer.from(bytes).toString('base64'), snr });
}

/**
 * Checks a positions table against the reference: one row per transmission the reference positions — keyed by its
 * first arrival, its cage, x/y/z within 1 cm and lat/lon within 1e-7° — and none for the others. Returns each
 * position's distance to the truth and what 1 ms of timing allows there: rounding moves each arrival by up to
 * ±0.5 ms and the error is (nearly) linear in those moves, so it is largest at a corner of that cube — the worst
 * corner around the true times.
 */
export function checkPositions(rows: readonly Record<string, number | string>[], txs: readonly Transmission[]) {
  const expected = txs.filter((x) => !('none' in x.expect));
  assert.equal(
    rows.length,
    expected.length,
    'one position per transmission the reference positions, none for the rest',
  );
  const errors: number[] = [];
  const bounds: number[] = [];
  for (const x of expected) {
    const e = x.expect as { x: number; y: number; z: number; lat: number; lon: number };
    const first = x.heard.reduce((m, h) =>
      h && (!m || h.second * 1000 + h.millisecond < m.second * 1000 + m.millisecond) ? h : m,
    );
    const row = rows.find(
      (r) => r.tag_id === x.tagId && r.frequency === x.frequency && r.timestamp === first?.second,
    ) as Record<string, number> | undefined;
    assert.ok(row, `position of tag ${x.tagId} at ${first?.second}`);
    assert.equal(row.millisecond, first?.millisecond);
    assert.equal(row.cage_name, x.site.cage);
    for (const k of ['x', 'y', 'z'] as const) assert.ok(Math.abs(row[k] - e[k]) < 0.01, `${k}: ${row[k]} vs ${e[k]}`);
    assert.ok(Math.abs(row.latitude - e.lat) < 1e-7 && Math.abs(row.longitude - e.lon) < 1e-7);
    errors.push(Math.hypot(row.x - x.truth.x, row.y - x.truth.y));
    let bound = 0;
    for (let c = 0; c < 8; c++) {
      const times = x.exact.map((v, i) => v + ((c >> i) & 1 ? 0.0005 : -0.0005));
      const s = x.site.stations;
      const r = refLocate(s[0], s[1], s[2], STATION_DEPTH, x.depthRaw * DEPTH_FACTOR, times);
      bound = 'reason' in r ? Number.POSITIVE_INFINITY : Math.max(bound, Math.hypot(r.x - x.truth.x, r.y - x.truth.y));
    }
    bounds.push(bound);
  }
  for (const x of txs.filter((x) => 'none' in x.expect))
    assert.ok(
      !rows.some((r) => r.tag_id === x.tagId && Math.abs((r.timestamp as number) - (x.heard[0]?.second ?? 0)) <= 2),
      (x.expect as { none: string }).none,
    );
  return { errors, bounds };
}

/** median, p95, max of distances, in metres. */
export function spread(errors: readonly number[]): string {
  const e = [...errors].sort((a, b) => a - b);
  const q = (f: number) => e[Math.min(e.length - 1, Math.floor(f * e.length))].toFixed(3);
  return `median ${q(0.5)} m, p95 ${q(0.95)} m, max ${e[e.length - 1].toFixed(3)} m`;
}
