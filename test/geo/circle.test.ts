import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { circleThrough } from '../../src/geo/index.js';
import { refCircle } from './reference.js';

test('circle through three points; null when collinear, coincident or not finite', () => {
  assert.deepEqual(circleThrough(0, 0, 2, 0, 0, 2), { x: 1, y: 1, r: Math.SQRT2 });
  const c = circleThrough(0, 0, 40, 0, 20, -20)!;
  assert.ok(Math.abs(c.x - 20) < 1e-12 && Math.abs(c.y) < 1e-12 && Math.abs(c.r - 20) < 1e-12);
  assert.equal(circleThrough(0, 0, 1, 1, 2, 2), null);
  assert.equal(circleThrough(0, 0, 10, 0, -5, 0), null);
  assert.equal(circleThrough(0, 0, 0, 0, 3, 4), null);
  assert.equal(circleThrough(0, 0, 1, 0, Number.NaN, 1), null);
});

test('the three points lie on the circle, as the reference has it (fast-check)', () => {
  const coord = fc.double({ min: -500, max: 500, noNaN: true });
  fc.assert(
    fc.property(coord, coord, coord, coord, coord, coord, (x0, y0, x1, y1, x2, y2) => {
      const c = circleThrough(x0, y0, x1, y1, x2, y2);
      const area = Math.abs((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0));
      if (area < 1) return; // nearly collinear: only well-shaped triangles are compared
      assert.ok(c !== null);
      const ref = refCircle(x0, y0, x1, y1, x2, y2);
      const tol = 1e-9 * Math.max(1, c.r);
      for (const [x, y] of [
        [x0, y0],
        [x1, y1],
        [x2, y2],
      ]) {
        assert.ok(Math.abs(Math.hypot(x - c.x, y - c.y) - c.r) <= tol);
      }
      assert.ok(Math.abs(c.x - ref.x) <= 1e-6 * Math.max(1, c.r) && Math.abs(c.r - ref.r) <= 1e-6 * Math.max(1, c.r));
    }),
    { numRuns: 2000 },
  );
});
