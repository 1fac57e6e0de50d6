import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LocalFrame, toUtm } from '../../src/geo/index.js';
import { refFrame, refToLatLon, refToLocal } from './reference.js';

const NORWAY = {
  a: { lat: 64.97286, lon: 11.72367 },
  b: { lat: 64.9732, lon: 11.72327 },
  c: { lat: 64.97284, lon: 11.72282 },
};
// Chile (south and west); C lies clockwise of AB, so cy < 0
const CHILE = {
  a: { lat: -41.75, lon: -73.0 },
  b: { lat: -41.7502, lon: -73.0005 },
  c: { lat: -41.7496, lon: -73.0002 },
};

test('stations land on A = (0, 0), B = (b, 0), C = (cx, cy), as in the reference', () => {
  for (const [name, s] of Object.entries({ NORWAY, CHILE })) {
    const f = LocalFrame.fromStations(s.a, s.b, s.c)!;
    const r = refFrame(s.a, s.b, s.c);
    assert.equal(f.zone, r.zone, name);
    assert.equal(f.south, r.south, name);
    const a = f.toLocal(s.a.lat, s.a.lon)!;
    const b = f.toLocal(s.b.lat, s.b.lon)!;
    const c = f.toLocal(s.c.lat, s.c.lon)!;
    assert.ok(Math.hypot(a.x, a.y) < 1e-9, name);
    assert.ok(Math.abs(b.x - f.b) < 1e-9 && Math.abs(b.y) < 1e-9, name);
    assert.ok(Math.abs(c.x - f.cx) < 1e-9 && Math.abs(c.y - f.cy) < 1e-9, name);
    assert.ok(Math.abs(f.b - r.b) < 1e-3 && Math.abs(f.cx - r.cx) < 1e-3 && Math.abs(f.cy - r.cy) < 1e-3, name);
    assert.ok(Math.abs(f.theta - r.theta) < 1e-9, name);
    // orientation is kept: cy has the sign of (B − A) × (C − A) in easting/northing
    const [ua, ub, uc] = [s.a, s.b, s.c].map((p) => toUtm(p.lat, p.lon, f.zone, f.south)!);
    const cross =
      (ub.easting - ua.easting) * (uc.northing - ua.northing) - (ub.northing - ua.northing) * (uc.easting - ua.easting);
    assert.equal(Math.sign(f.cy), Math.sign(cross), name);
  }
  assert.equal(LocalFrame.fromStations(NORWAY.a, NORWAY.b, NORWAY.c)!.zone, 32);
  assert.ok(LocalFrame.fromStations(CHILE.a, CHILE.b, CHILE.c)!.south);
  assert.ok(LocalFrame.fromStations(CHILE.a, CHILE.b, CHILE.c)!.cy < 0);
  assert.ok(LocalFrame.fromStations(CHILE.a, CHILE.c, CHILE.b)!.cy > 0);
});

test('a cage across a zone boundary is projected in A’s zone', () => {
  const a = { lat: 10, lon: 5.99995 }; // zone 31
  const b = { lat: 10, lon: 6.0004 }; // zone 32 on its own
  const c = { lat: 10.0004, lon: 6.0001 };
  const f = LocalFrame.fromStations(a, b, c)!;
  assert.equal(f.zone, 31);
  const r = refFrame(a, b, c);
  assert.ok(Math.abs(f.b - r.b) < 1e-3 && Math.abs(f.cx - r.cx) < 1e-3 && Math.abs(f.cy - r.cy) < 1e-3);
  // 0.00045° of longitude at 10°N is 49.337 m on the ellipsoid; 3° east of zone 31's meridian k ≈ 1.00093
  assert.ok(Math.abs(f.b - 49.383) < 0.01, `b = ${f.b}`);
});

test('no frame for A = B or positions outside UTM', () => {
  assert.equal(LocalFrame.fromStations(NORWAY.a, NORWAY.a, NORWAY.c), null);
  assert.equal(LocalFrame.fromStations({ lat: 85, lon: 0 }, NORWAY.b, NORWAY.c), null);
  assert.equal(LocalFrame.fromStations(NORWAY.a, { lat: Number.NaN, lon: 0 }, NORWAY.c), null);
});

/** A station layout anywhere in UTM's range: A, then B and C 20 m – 2 km away in any direction. */
const layout = fc
  .record({
    lat: fc.double({ min: -79.9, max: 83.9, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true, maxExcluded: true }),
    db: fc.double({ min: 20, max: 2000, noNaN: true }),
    ab: fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
    dc: fc.double({ min: 20, max: 2000, noNaN: true }),
    ac: fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
  })
  .map(({ lat, lon, db, ab, dc, ac }) => {
    const off = (d: number, ang: number) => ({
      lat: lat + (d * Math.sin(ang)) / 111000,
      lon: lon + (d * Math.cos(ang)) / (111000 * Math.cos((lat * Math.PI) / 180)),
    });
    return { a: { lat, lon }, b: off(db, ab), c: off(dc, ac) };
  });

/** Longitude difference across the antimeridian (180°E = 180°W). */
const lonDiff = (p: number, q: number) => ((p - q + 540) % 360) - 180;

test('toLocal and toLatLon invert each other anywhere, and match the reference (fast-check)', () => {
  fc.assert(
    fc.property(
      layout,
      fc.double({ min: -3000, max: 3000, noNaN: true }),
      fc.double({ min: -3000, max: 3000, noNaN: true }),
      (s, x, y) => {
        const f = LocalFrame.fromStations(s.a, s.b, s.c)!;
        const ll = f.toLatLon(x, y)!;
        const back = f.toLocal(ll.lat, ll.lon)!;
        assert.ok(Math.abs(back.x - x) < 1e-6 && Math.abs(back.y - y) < 1e-6, `${back.x} ${back.y}`);
        const again = f.toLatLon(back.x, back.y)!;
        assert.ok(Math.abs(again.lat - ll.lat) < 1e-11 && Math.abs(lonDiff(again.lon, ll.lon)) < 1e-11);
        const r = refFrame(s.a, s.b, s.c);
        const rl = refToLocal(r, ll.lat, ll.lon);
        assert.ok(Math.abs(rl.x - x) < 1e-3 && Math.abs(rl.y - y) < 1e-3, `ref ${rl.x - x} ${rl.y - y}`);
        const rll = refToLatLon(r, x, y);
        const cosLat = Math.cos((ll.lat * Math.PI) / 180);
        assert.ok(Math.abs(rll.lat - ll.lat) < 2e-8 && Math.abs(lonDiff(rll.lon, ll.lon)) < 2e-8 / cosLat);
      },
    ),
    { numRuns: 2000 },
  );
});
