/**
 * Synthetic fish: tags placed in two real cages, detections made as a TBR reports them (whole second +
 * millisecond), located by production and by the independent reference (reference.ts), and compared with the
 * truth. The truth lives in the local frame of the stations as the system knows them (their GPS positions,
 * rounded to 1e-5°); ranges are straight lines in that frame.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Cage,
  cageOf,
  type Detection,
  fixClockDrift,
  type LatLon,
  type LocateFix,
  locate,
  locateInCage,
} from '../../src/geo/index.js';
import { prng } from '../harness/prng.js';
import { refLocate } from './reference.js';

const V = 1500;
const STATION_DEPTH = 3;
const round5 = (v: number) => Math.round(v * 1e5) / 1e5;

interface Site {
  name: string;
  /** Station positions as surveyed (more digits than the GPS block carries). */
  surveyed: [LatLon, LatLon, LatLon];
}

const SITES: Site[] = [
  // Norway, the metadata workbook's cage (its positions already have 5 decimals); zone 32 N
  {
    name: 'Norway 64.97°N 11.72°E',
    surveyed: [
      { lat: 64.972863, lon: 11.723668 },
      { lat: 64.973198, lon: 11.723274 },
      { lat: 64.972838, lon: 11.722817 },
    ],
  },
  // Chile, a salmon-farm cage near Puerto Montt; zone 18 S, west and south; C clockwise of AB (cy < 0)
  {
    name: 'Chile 41.75°S 73.00°W',
    surveyed: [
      { lat: -41.750004, lon: -73.000003 },
      { lat: -41.750196, lon: -73.000497 },
      { lat: -41.749603, lon: -73.000204 },
    ],
  },
];

/** A TBR's report of an arrival `frac` seconds after whole second `t0`. */
function detect(t0: number, frac: number): Detection {
  let second = t0 + Math.floor(frac);
  let millisecond = Math.round((frac - Math.floor(frac)) * 1000);
  if (millisecond === 1000) {
    second++;
    millisecond = 0;
  }
  return { second, millisecond };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const summary = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return { median: quantile(s, 0.5), p95: quantile(s, 0.95), max: s[s.length - 1], n: s.length };
};
const cm = (v: number) => `${(v * 100).toFixed(1)} cm`;

/** Horizontal error of the fix from exact time differences perturbed by (eab, eac) seconds; NaN when no fix. */
function errorWith(cage: Cage, tagDepth: number, dab: number, dac: number, x: number, y: number, out: Float64Array) {
  const status = locateInCage(cage, tagDepth, 0, -dab, -dac, V, 1.1, out);
  return status === 'ok' ? Math.hypot(out[0] - x, out[1] - y) : Number.NaN;
}

/**
 * The largest error that millisecond rounding can cause at this point. Each arrival is rounded by up to ±0.5 ms,
 * so (Δt_ab, Δt_ac) is off by a point of the hexagon |e_ab| ≤ 1, |e_ac| ≤ 1, |e_ab − e_ac| ≤ 1 ms (the cube of
 * the three roundings seen through the two differences; its corners are the cube's). The fix depends smoothly
 * and one-to-one on the differences inside the cage, so the image of the hexagon is bounded by the image of its
 * edges, and the farthest fix from the truth is on an edge: sampled at 8 points per edge (the 6 corners
 * included). Infinity when a sample gives no fix (the point is where rounding can lose the fix altogether).
 */
function roundingBound(cage: Cage, tagDepth: number, dab: number, dac: number, x: number, y: number): number {
  const corners = [
    [1, 1],
    [1, 0],
    [0, -1],
    [-1, -1],
    [-1, 0],
    [0, 1],
  ];
  const out = new Float64Array(4);
  let worst = 0;
  for (let k = 0; k < 6; k++) {
    const [p, q] = [corners[k], corners[(k + 1) % 6]];
    for (let s = 0; s < 8; s++) {
      const f = s / 8;
      const eab = ((1 - f) * p[0] + f * q[0]) / 1000;
      const eac = ((1 - f) * p[1] + f * q[1]) / 1000;
      const e = errorWith(cage, tagDepth, dab + eab, dac + eac, x, y, out);
      if (Number.isNaN(e)) return Number.POSITIVE_INFINITY;
      worst = Math.max(worst, e);
    }
  }
  return worst;
}

/**
 * The RMS horizontal error that millisecond rounding should cause at a point, linearised: each arrival is off by
 * a uniform ±0.5 ms (variance 1/12 ms²), so (R_ab, R_ac) has covariance (v·1 ms)²/12 · [[2, 1], [1, 2]]; the fix
 * moves by J⁻¹ of that, J = ∂(R_ab, R_ac)/∂(x, y).
 */
function predictedRms(stations: number[][], x: number, y: number, z: number): number {
  const unit = stations.map(([sx, sy]) => {
    const r = Math.hypot(x - sx, y - sy, z);
    return [(x - sx) / r, (y - sy) / r];
  });
  const [j11, j12] = [unit[0][0] - unit[1][0], unit[0][1] - unit[1][1]];
  const [j21, j22] = [unit[0][0] - unit[2][0], unit[0][1] - unit[2][1]];
  const det = j11 * j22 - j12 * j21;
  const inv = [
    [j22 / det, -j12 / det],
    [-j21 / det, j11 / det],
  ];
  const s = (V * 0.001) ** 2 / 12;
  const cov = [
    [2 * s, s],
    [s, 2 * s],
  ];
  let trace = 0;
  for (let i = 0; i < 2; i++) {
    for (let k = 0; k < 2; k++) for (let l = 0; l < 2; l++) trace += inv[i][k] * cov[k][l] * inv[i][l];
  }
  return Math.sqrt(trace);
}

for (const [siteIndex, site] of SITES.entries()) {
  test(`synthetic fish, ${site.name}: production = reference, and the error is what 1 ms allows`, (t) => {
    const [a, b, c] = site.surveyed.map((p) => ({ lat: round5(p.lat), lon: round5(p.lon) }));
    const cage = cageOf(a, b, c, STATION_DEPTH)!;
    const { frame, circle } = cage;
    const stations = [
      [0, 0],
      [frame.b, 0],
      [frame.cx, frame.cy],
    ];
    const rand = prng(1000 + siteIndex);
    const out = new Float64Array(4);
    const errors: number[] = [];
    const predicted: number[] = [];
    const ratios: number[] = [];
    const reasons: Record<string, number> = {};
    let straddles = 0;
    let drifted = 0;
    let sensitive = 0;
    let twoCandidates = 0;
    const N = 400;
    for (let i = 0; i < N; i++) {
      // the tag: uniform in the cage circle, the last 20% in its outer tenth
      const rr = i < 0.8 * N ? circle.r * Math.sqrt(rand()) : circle.r * (0.9 + 0.1 * rand());
      const ang = 2 * Math.PI * rand();
      const x = circle.x + rr * Math.cos(ang);
      const y = circle.y + rr * Math.sin(ang);
      const tagDepth = 30 * rand();
      const z = tagDepth - STATION_DEPTH;
      const ranges = stations.map(([sx, sy]) => Math.hypot(x - sx, y - sy, z));
      // emission at t0 + u; every 4th one just before a whole second, so the three arrivals straddle it
      const t0 = 1_700_000_000 + 10 * i;
      const u = i % 4 === 0 ? 1 - Math.min(...ranges) / V - 0.02 * rand() : rand();
      let dets = ranges.map((r) => detect(t0, u + r / V)) as [Detection, Detection, Detection];
      if (new Set(dets.map((d) => d.second)).size > 1) straddles++;
      // every 10th: one receiver's clock a whole second off, as the drift fix expects
      if (i % 10 === 5) {
        const k = Math.floor(3 * rand());
        dets = dets.map((d, j) => (j === k ? { ...d, second: d.second + (rand() < 0.5 ? -1 : 1) } : d)) as typeof dets;
        drifted++;
      }
      const fixed = fixClockDrift(dets);
      assert.equal(fixed.adjusted, i % 10 === 5, `drift fix at ${i}`);
      const arrivals = fixed.detections.map((d) => d.second - t0 + d.millisecond / 1000) as [number, number, number];

      const prod = locate({ a, b, c, stationDepth: STATION_DEPTH, tagDepth, arrivals });
      const ref = refLocate(a, b, c, STATION_DEPTH, tagDepth, arrivals);
      if ('reason' in prod) {
        assert.ok('reason' in ref && ref.reason === prod.reason, `${i}: ${JSON.stringify({ prod, ref })}`);
        reasons[prod.reason] = (reasons[prod.reason] ?? 0) + 1;
        continue;
      }
      assert.ok(!('reason' in ref), `${i}: reference says ${JSON.stringify(ref)}`);
      const fix = prod as LocateFix;
      assert.ok(Math.abs(fix.x - ref.x) < 0.01 && Math.abs(fix.y - ref.y) < 0.01 && Math.abs(fix.z - ref.z) < 0.01);
      assert.ok(Math.abs(fix.lat - ref.lat) < 1e-7 && Math.abs(fix.lon - ref.lon) < 1e-7, `${i} lat/lon`);
      assert.equal(fix.z, z);
      reasons.ok = (reasons.ok ?? 0) + 1;
      if (fix.candidates === 2) twoCandidates++;
      const err = Math.hypot(fix.x - x, fix.y - y);
      errors.push(err);
      predicted.push(predictedRms(stations, x, y, z));

      // the spread is what millisecond timing allows
      const bound = roundingBound(cage, tagDepth, (ranges[0] - ranges[1]) / V, (ranges[0] - ranges[2]) / V, x, y);
      if (!Number.isFinite(bound)) sensitive++;
      else ratios.push(err / bound);
      assert.ok(err <= bound + 0.001, `${i}: error ${err} > rounding bound ${bound}`);

      // and exact times give the exact point
      const exact = locateInCage(cage, tagDepth, ranges[0] / V, ranges[1] / V, ranges[2] / V, V, 1.1, out);
      assert.equal(exact, 'ok');
      assert.ok(Math.hypot(out[0] - x, out[1] - y) < 1e-6);
    }
    const e = summary(errors);
    const ratio = summary(ratios);
    const rms = summary(predicted);
    t.diagnostic(
      `${site.name}: cage radius ${circle.r.toFixed(1)} m, b ${frame.b.toFixed(1)} m, C (${frame.cx.toFixed(1)}, ` +
        `${frame.cy.toFixed(1)}) m, zone ${frame.zone}${frame.south ? 'S' : 'N'}`,
    );
    t.diagnostic(`outcomes ${JSON.stringify(reasons)}; ${twoCandidates} fixes chose between two candidates`);
    t.diagnostic(`${straddles} triplets straddle a second, ${drifted} had a receiver a second off (fixed)`);
    t.diagnostic(`error to truth (1 ms timing): median ${cm(e.median)}, p95 ${cm(e.p95)}, max ${cm(e.max)} (n ${e.n})`);
    t.diagnostic(`predicted RMS error from ±0.5 ms rounding: median ${cm(rms.median)}, p95 ${cm(rms.p95)}`);
    t.diagnostic(
      `error / rounding bound: median ${ratio.median.toFixed(2)}, p95 ${ratio.p95.toFixed(2)}, max ` +
        `${ratio.max.toFixed(2)}; ${sensitive} points where the bound is unbounded (rounding can lose the fix)`,
    );
    assert.ok(straddles >= N / 8, 'straddling triplets exercised');
    assert.ok((reasons.ok ?? 0) >= 0.95 * N, 'nearly every tag in the cage is located');
    // 1 ms is 1.5 m of range: each arrival difference is off by up to ±1 ms (σ 0.41 ms = 0.61 m of range
    // difference), and with 40–50 m baselines and tags up to 27 m below the stations the fix moves by about as
    // much or more. The median error must be what that predicts (for a 2-D Gaussian, median/RMS ≈ 0.83).
    assert.ok(e.median > 0.6 * rms.median && e.median < 1.1 * rms.median, `median ${e.median} vs RMS ${rms.median}`);
    assert.ok(e.median < 1, `median error ${e.median}`);
  });
}

test('what GPS rounding of the stations (1e-5°) adds, for the record', (t) => {
  for (const [siteIndex, site] of SITES.entries()) {
    const [a, b, c] = site.surveyed.map((p) => ({ lat: round5(p.lat), lon: round5(p.lon) }));
    const cage = cageOf(a, b, c, STATION_DEPTH)!;
    // the stations where they really are, seen in the frame the system builds from their rounded positions
    const real = site.surveyed.map((p) => cage.frame.toLocal(p.lat, p.lon)!);
    const rand = prng(2000 + siteIndex);
    const out = new Float64Array(4);
    const errors: number[] = [];
    for (let i = 0; i < 400; i++) {
      const rr = cage.circle.r * Math.sqrt(rand());
      const ang = 2 * Math.PI * rand();
      const x = cage.circle.x + rr * Math.cos(ang);
      const y = cage.circle.y + rr * Math.sin(ang);
      const tagDepth = 30 * rand();
      const ranges = real.map((s) => Math.hypot(x - s.x, y - s.y, tagDepth - STATION_DEPTH));
      if (locateInCage(cage, tagDepth, ranges[0] / V, ranges[1] / V, ranges[2] / V, V, 1.1, out) === 'ok') {
        errors.push(Math.hypot(out[0] - x, out[1] - y));
      }
    }
    const e = summary(errors);
    t.diagnostic(
      `${site.name}: exact times, stations off by their rounding: median ${cm(e.median)}, p95 ${cm(e.p95)}, ` +
        `max ${cm(e.max)} (n ${e.n}/400)`,
    );
  }
});
