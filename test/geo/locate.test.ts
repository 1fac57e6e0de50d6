import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  cageOf,
  type LatLon,
  LOCATE_REASONS,
  type LocateFix,
  type LocateResult,
  locate,
  locateInCage,
} from '../../src/geo/index.js';
import { refLocate } from './reference.js';

const V = 1500;
const a = { lat: 64.97286, lon: 11.72367 };
const b = { lat: 64.9732, lon: 11.72327 };
const c = { lat: 64.97284, lon: 11.72282 };
const cage = cageOf(a, b, c, 3)!;
const { frame, circle } = cage;

/** Exact arrival times (seconds after an emission at 0) at A, B, C from a tag at local (x, y) and depth. */
function arrivals(x: number, y: number, tagDepth: number): [number, number, number] {
  const z = tagDepth - 3;
  return [Math.hypot(x, y, z) / V, Math.hypot(x - frame.b, y, z) / V, Math.hypot(x - frame.cx, y - frame.cy, z) / V];
}

const fixOf = (r: LocateResult): LocateFix => {
  assert.ok(!('reason' in r), JSON.stringify(r));
  return r;
};
const reasonOf = (r: LocateResult) => ('reason' in r ? r.reason : 'ok');

test('a tag in the cage: local fix, lat/lon through the frame, z = tag depth − station depth', () => {
  const [x, y] = [circle.x + 5, circle.y - 7];
  const fix = fixOf(locate({ a, b, c, stationDepth: 3, tagDepth: 12.5, arrivals: arrivals(x, y, 12.5) }));
  assert.ok(Math.abs(fix.x - x) < 1e-9 && Math.abs(fix.y - y) < 1e-9);
  assert.equal(fix.z, 9.5);
  const ll = frame.toLatLon(x, y)!;
  assert.ok(Math.abs(fix.lat - ll.lat) < 1e-12 && Math.abs(fix.lon - ll.lon) < 1e-12);
  assert.ok(fix.candidates === 1 || fix.candidates === 2);
  // a tag placed by lat/lon comes back at that lat/lon
  const truth = { lat: 64.97295, lon: 11.72321 };
  const p = frame.toLocal(truth.lat, truth.lon)!;
  const back = fixOf(locate({ a, b, c, stationDepth: 3, tagDepth: 20, arrivals: arrivals(p.x, p.y, 20) }));
  assert.ok(Math.abs(back.lat - truth.lat) < 1e-10 && Math.abs(back.lon - truth.lon) < 1e-10);
});

test('R_ab = 0, R_ac = 0 and both exactly zero give the right point', () => {
  // on AB's bisector (x = b/2): A and B hear it at the same instant
  const y = circle.y - 9;
  const [ta, , tc] = arrivals(frame.b / 2, y, 8);
  const fab = fixOf(locate({ a, b, c, stationDepth: 3, tagDepth: 8, arrivals: [ta, ta, tc] }));
  assert.ok(Math.abs(fab.x - frame.b / 2) < 1e-9 && Math.abs(fab.y - y) < 1e-6, JSON.stringify(fab));
  // on AC's bisector: A and C at the same instant
  const len = Math.hypot(frame.cx, frame.cy);
  const [px, py] = [frame.cx / 2 + (6 * frame.cy) / len, frame.cy / 2 - (6 * frame.cx) / len];
  const [ta2, tb2] = arrivals(px, py, 15);
  const fac = fixOf(locate({ a, b, c, stationDepth: 3, tagDepth: 15, arrivals: [ta2, tb2, ta2] }));
  assert.ok(Math.abs(fac.x - px) < 1e-6 && Math.abs(fac.y - py) < 1e-6, JSON.stringify(fac));
  // all three at once: the cage centre (the circumcentre), at any depth
  const fc0 = fixOf(locate({ a, b, c, stationDepth: 3, tagDepth: 25, arrivals: [7, 7, 7] }));
  assert.ok(Math.abs(fc0.x - circle.x) < 1e-9 && Math.abs(fc0.y - circle.y) < 1e-9);
  assert.equal(fc0.candidates, 1);
  for (const [arr, depth] of [
    [[ta, ta, tc], 8],
    [[ta2, tb2, ta2], 15],
    [[7, 7, 7], 25],
  ] as const) {
    const ref = refLocate(a, b, c, 3, depth, arr);
    const prod = fixOf(locate({ a, b, c, stationDepth: 3, tagDepth: depth, arrivals: arr }));
    assert.ok(!('reason' in ref) && Math.abs(ref.x - prod.x) < 1e-6 && Math.abs(ref.y - prod.y) < 1e-6);
  }
});

test('outside the cage: beyond cageMargin × radius of its centre', () => {
  const far = arrivals(circle.x + 100, circle.y + 40, 10);
  assert.equal(reasonOf(locate({ a, b, c, stationDepth: 3, tagDepth: 10, arrivals: far })), 'outside_cage');
  // just inside and just outside the 1.1 margin, due "north" of the centre in the local frame
  const at = (k: number) => arrivals(circle.x, circle.y + k * circle.r, 10);
  assert.equal(reasonOf(locate({ a, b, c, stationDepth: 3, tagDepth: 10, arrivals: at(1.09) })), 'ok');
  assert.equal(reasonOf(locate({ a, b, c, stationDepth: 3, tagDepth: 10, arrivals: at(1.11) })), 'outside_cage');
  assert.equal(reasonOf(locate({ a, b, c, stationDepth: 3, tagDepth: 10, arrivals: at(1.11), cageMargin: 1.2 })), 'ok');
  const rej = locate({ a, b, c, stationDepth: 3, tagDepth: 10, arrivals: far });
  assert.ok('reason' in rej && rej.candidates >= 1);
  assert.ok('reason' in refLocate(a, b, c, 3, 10, far));
});

test('arrivals no point can produce: no_solution', () => {
  // B 100 ms before A: 150 m of range difference over a 42 m baseline
  assert.equal(reasonOf(locate({ a, b, c, stationDepth: 3, tagDepth: 5, arrivals: [0.1, 0, 0.05] })), 'no_solution');
  // nearer to B than A by almost the baseline, and nearer to A than C by almost AC: the hyperbolas miss
  const tb = -(frame.b - 0.5) / V;
  const tc = (Math.hypot(frame.cx, frame.cy) - 0.5) / V;
  const r = locate({ a, b, c, stationDepth: 3, tagDepth: 5, arrivals: [0, tb, tc] });
  assert.deepEqual(r, { reason: 'no_solution', candidates: 0 });
  assert.deepEqual(refLocate(a, b, c, 3, 5, [0, tb, tc]), { reason: 'no_solution', candidates: 0 });
});

test('bad input and bad stations are reasons, not throws', () => {
  const ok = { a, b, c, stationDepth: 3, tagDepth: 5, arrivals: arrivals(20, 10, 5) };
  assert.equal(reasonOf(locate({ ...ok, arrivals: [0, Number.NaN, 0] })), 'bad_input');
  assert.equal(reasonOf(locate({ ...ok, tagDepth: Number.POSITIVE_INFINITY })), 'bad_input');
  assert.equal(reasonOf(locate({ ...ok, stationDepth: Number.NaN })), 'bad_input');
  assert.equal(reasonOf(locate({ ...ok, soundSpeed: 0 })), 'bad_input');
  assert.equal(reasonOf(locate({ ...ok, cageMargin: -1 })), 'bad_input');
  assert.equal(reasonOf(locate({ ...ok, b: a })), 'bad_stations');
  const onAB = frame.toLatLon(2 * frame.b, 0)!; // C on the line AB
  assert.equal(reasonOf(locate({ ...ok, c: onAB })), 'bad_stations', 'collinear');
  assert.equal(reasonOf(locate({ ...ok, a: { lat: 88, lon: 0 } })), 'bad_stations');
  // stations 20 m apart on one parallel (or one meridian): projected, not exactly collinear, but no cage — their
  // circle was 3,200 km wide and a fish was placed near the pole (review)
  const onParallel = [10.4, 10.4004, 10.4008].map((lon) => ({ lat: 63.4, lon }));
  const onMeridian = [63.4, 63.4002, 63.4004].map((lat) => ({ lat, lon: 10.4 }));
  for (const [s0, s1, s2] of [onParallel, onMeridian]) {
    assert.equal(cageOf(s0, s1, s2, 3), null);
    for (const arrivals of [
      [0, 0, 0],
      [0, 0.005, 0.01],
    ] as [number, number, number][])
      assert.equal(reasonOf(locate({ a: s0, b: s1, c: s2, stationDepth: 3, tagDepth: 5, arrivals })), 'bad_stations');
  }
  // a thin but real triangle is still a cage: its largest angle 170°
  const thin = frame.toLatLon(frame.b / 2, (frame.b / 2) * Math.tan((5 * Math.PI) / 180))!;
  assert.notEqual(cageOf(a, b, thin, 3), null);
  assert.equal(reasonOf(locate(ok)), 'ok', 'and the cache does not keep a bad cage');
  for (const r of ['bad_input', 'bad_stations', 'no_solution', 'order_mismatch', 'ambiguous', 'outside_cage']) {
    assert.ok((LOCATE_REASONS as readonly string[]).includes(r));
  }
});

/** A cage anywhere in UTM's range: A, then B and C 15–80 m away, the angle at A between 40° and 140°. */
const site = fc
  .record({
    lat: fc.double({ min: -79.9, max: 83.9, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true, maxExcluded: true }),
    db: fc.double({ min: 15, max: 80, noNaN: true }),
    dc: fc.double({ min: 15, max: 80, noNaN: true }),
    heading: fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
    turn: fc.double({ min: (40 * Math.PI) / 180, max: (140 * Math.PI) / 180, noNaN: true }),
    clockwise: fc.boolean(),
  })
  .map(({ lat, lon, db, dc, heading, turn, clockwise }) => {
    const off = (d: number, ang: number): LatLon => ({
      lat: lat + (d * Math.sin(ang)) / 111000,
      lon: lon + (d * Math.cos(ang)) / (111000 * Math.cos((lat * Math.PI) / 180)),
    });
    return { a: { lat, lon }, b: off(db, heading), c: off(dc, heading + (clockwise ? -turn : turn)) };
  });

test('exact arrival times give the true point back within 1 mm, anywhere (fast-check)', () => {
  const unit = fc.double({ min: 0, max: 1, noNaN: true });
  fc.assert(
    fc.property(site, unit, unit, fc.double({ min: 0, max: 40, noNaN: true }), (s, u, w, tagDepth) => {
      const k = cageOf(s.a, s.b, s.c, 3);
      fc.pre(k !== null);
      const [r, ang] = [k.circle.r * Math.sqrt(u), 2 * Math.PI * w];
      const [x, y] = [k.circle.x + r * Math.cos(ang), k.circle.y + r * Math.sin(ang)];
      const z = tagDepth - 3;
      const t0 = 1234.567; // seconds after some whole second
      const ta = t0 + Math.hypot(x, y, z) / V;
      const tb = t0 + Math.hypot(x - k.frame.b, y, z) / V;
      const tc = t0 + Math.hypot(x - k.frame.cx, y - k.frame.cy, z) / V;
      const out = new Float64Array(4);
      assert.equal(locateInCage(k, tagDepth, ta, tb, tc, V, 1.1, out), 'ok');
      assert.ok(Math.hypot(out[0] - x, out[1] - y) < 1e-3, `${out[0] - x} ${out[1] - y}`);
    }),
    { numRuns: 3000 },
  );
});

test('locateInCage in a loop (informative)', (t) => {
  const out = new Float64Array(4);
  const n = 200_000;
  const times = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const [ta, tb, tc] = arrivals(circle.x + ((i % 37) - 18), circle.y + ((i % 23) - 11), 10);
    times.set([Math.round(ta * 1000) / 1000, Math.round(tb * 1000) / 1000, Math.round(tc * 1000) / 1000], 3 * i);
  }
  let ok = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (locateInCage(cage, 10, times[3 * i], times[3 * i + 1], times[3 * i + 2], V, 1.1, out) === 'ok') ok++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  assert.ok(ok > 0.9 * n);
  t.diagnostic(`${Math.round(n / seconds).toLocaleString('en')} locateInCage calls/s (${ok} fixes of ${n})`);
});
