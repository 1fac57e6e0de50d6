import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fromUtm, toUtm, utmZoneOf } from '../../src/geo/index.js';
import { refFromUtm, refToUtm, refZone } from './reference.js';

test('zones: 6° from 180°W, hemisphere from the latitude, the Norway and Svalbard exceptions, null outside UTM', () => {
  assert.deepEqual(utmZoneOf(0, -180), { zone: 1, south: false });
  assert.deepEqual(utmZoneOf(0, 179.999), { zone: 60, south: false });
  assert.deepEqual(utmZoneOf(0, 180), { zone: 1, south: false }, '180°E is 180°W');
  assert.deepEqual(utmZoneOf(-0.0001, 3), { zone: 31, south: true });
  assert.deepEqual(utmZoneOf(-41.75, -73), { zone: 18, south: true });
  assert.deepEqual(utmZoneOf(64.97286, 11.72367), { zone: 32, south: false }, 'the Norway cage (north of 32V)');
  assert.deepEqual(utmZoneOf(60.39, 5.32), { zone: 32, south: false }, 'Bergen: 32V, not 31');
  assert.deepEqual(utmZoneOf(55.99, 5.32), { zone: 31, south: false }, 'south of band V');
  assert.deepEqual(utmZoneOf(64, 5.32), { zone: 31, south: false }, 'band W is not widened');
  assert.deepEqual(utmZoneOf(60, 2.99), { zone: 31, south: false });
  assert.deepEqual(utmZoneOf(60, 12), { zone: 33, south: false });
  assert.deepEqual(utmZoneOf(78.22, 15.65), { zone: 33, south: false }, 'Longyearbyen');
  assert.deepEqual(utmZoneOf(78, 8.99), { zone: 31, south: false });
  assert.deepEqual(utmZoneOf(78, 9), { zone: 33, south: false });
  assert.deepEqual(utmZoneOf(78, 21), { zone: 35, south: false });
  assert.deepEqual(utmZoneOf(78, 33), { zone: 37, south: false });
  assert.deepEqual(utmZoneOf(78, 42), { zone: 38, south: false });
  assert.deepEqual(utmZoneOf(71.99, 8), { zone: 32, south: false }, 'south of band X');
  assert.deepEqual(utmZoneOf(84, 8), { zone: 31, south: false });
  assert.equal(utmZoneOf(84.01, 0), null);
  assert.equal(utmZoneOf(-80.01, 0), null);
  assert.equal(utmZoneOf(Number.NaN, 0), null);
  assert.equal(utmZoneOf(0, Number.POSITIVE_INFINITY), null);
});

test('zones agree with the reference everywhere in UTM range (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.double({ min: -80, max: 84, noNaN: true }),
      fc.double({ min: -180, max: 179.999999, noNaN: true }),
      (lat, lon) => {
        assert.equal(utmZoneOf(lat, lon)?.zone, refZone(lat, lon));
      },
    ),
    { numRuns: 5000 },
  );
});

// Published values: the Python `utm` package's test table (metres), and the Eiffel Tower in pygeodesy's tests (mm).
const KNOWN: [string, number, number, number, boolean, number, number, number][] = [
  ['Aachen', 50.77535, 6.08389, 32, false, 294409, 5628898, 1],
  ['New York', 40.71435, -74.00597, 18, false, 583960, 4507523, 1],
  ['Wellington', -41.28646, 174.77624, 60, true, 313784, 5427057, 1],
  ['Cape Town', -33.92487, 18.42406, 34, true, 261878, 6243186, 1],
  ['Mendoza', -32.89018, -68.84405, 19, true, 514586, 6360877, 1],
  ['Fairbanks', 64.83778, -147.71639, 6, false, 466013, 7190568, 1],
  ['Ben Nevis', 56.7968, -5.00601, 30, false, 377486, 6296562, 1],
  ['Eiffel Tower', 48.8582, 2.2945, 31, false, 448251.795, 5411932.678, 0.001],
];

test('published coordinates in both hemispheres, east and west', () => {
  for (const [name, lat, lon, zone, south, e, n, tol] of KNOWN) {
    assert.deepEqual(utmZoneOf(lat, lon), { zone, south }, name);
    const u = toUtm(lat, lon, zone, south)!;
    assert.ok(Math.abs(u.easting - e) <= tol / 2 + 0.5e-3, `${name} easting ${u.easting} vs ${e}`);
    assert.ok(Math.abs(u.northing - n) <= tol / 2 + 0.5e-3, `${name} northing ${u.northing} vs ${n}`);
    const back = fromUtm(e, n, zone, south)!;
    assert.ok(Math.abs(back.lat - lat) < 1e-5 * tol + 1e-8 && Math.abs(back.lon - lon) < 2e-5 * tol + 1e-8, name);
  }
});

test('the grid: central meridian at 500 000 m, equator at 0 m north and 10 000 000 m south', () => {
  for (let zone = 1; zone <= 60; zone++) {
    const cm = zone * 6 - 183;
    const north = toUtm(0, cm, zone, false)!;
    const south = toUtm(0, cm, zone, true)!;
    assert.ok(Math.abs(north.easting - 500000) < 1e-6 && Math.abs(north.northing) < 1e-6, `zone ${zone}`);
    assert.ok(Math.abs(south.northing - 10000000) < 1e-6, `zone ${zone} south`);
    assert.ok(toUtm(-45, cm - 1, zone, true)!.easting < 500000, 'west of the central meridian: easting < 500 km');
  }
});

test('round trips in every zone, both hemispheres, to 1e-9° (and the reference within 2 mm / 5e-8°)', () => {
  for (let zone = 1; zone <= 60; zone++) {
    for (const lat of [-79.5, -55, -41.75, -12.3, -0.001, 0.001, 12.3, 47.1, 64.97, 83.5]) {
      for (const dLon of [-3.4, -1.7, 0, 0.9, 2.95]) {
        const lon = zone * 6 - 183 + dLon;
        const south = lat < 0;
        const u = toUtm(lat, lon, zone, south)!;
        const back = fromUtm(u.easting, u.northing, zone, south)!;
        const wrapped = lon < -180 ? lon + 360 : lon >= 180 ? lon - 360 : lon;
        assert.ok(Math.abs(back.lat - lat) < 1e-9 && Math.abs(back.lon - wrapped) < 1e-9, `${zone} ${lat} ${lon}`);
        const r = refToUtm(lat, lon, zone, south);
        assert.ok(
          Math.abs(u.easting - r.easting) < 2e-3 && Math.abs(u.northing - r.northing) < 2e-3,
          `ref ${zone} ${lat} ${lon}`,
        );
        const rb = refFromUtm(u.easting, u.northing, zone, south);
        assert.ok(
          Math.abs(rb.lat - lat) < 5e-8 && Math.abs(rb.lon - wrapped) < 5e-8,
          `ref inverse ${zone} ${lat} ${lon}`,
        );
      }
    }
  }
});

test('bad inputs give null, not a throw', () => {
  assert.equal(toUtm(91, 0, 31, false), null);
  assert.equal(toUtm(Number.NaN, 0, 31, false), null);
  assert.equal(toUtm(0, 0, 0, false), null);
  assert.equal(toUtm(0, 0, 61, false), null);
  assert.equal(toUtm(0, 0, 3.5, false), null);
  assert.equal(fromUtm(Number.POSITIVE_INFINITY, 0, 31, false), null);
  assert.equal(fromUtm(500000, 0, 0, false), null);
});
