import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { downsample, type Point, type Segment } from '../../src/query/index.js';

function seg(t: number[], v: number[]): Segment {
  return { t: Float64Array.from(t), v: Float64Array.from(v), lo: 0, hi: t.length };
}

const real = (out: Point[]) => out.filter((p): p is [number, number] => p[0] !== null);

test('fewer points than maxPoints: every point, breaks between sessions', () => {
  const out = downsample([seg([1, 2], [10, 20]), seg([], []), seg([5], [50])], { maxPoints: 10 });
  assert.deepEqual(out, [
    [10, 1],
    [20, 2],
    [null, null],
    [50, 5],
  ]);
});

test('minmax: each bucket keeps its minimum and maximum with their own times, in time order', () => {
  // the points span [0, 100]: 4 buckets of 25 ms; values chosen so min and max are mid-bucket
  const t = [0, 5, 10, 20, 30, 40, 45, 60, 70, 80, 100];
  const v = [3, 9, 1, 4, 5, 5, 5, 7, -2, 8, 0];
  const out = downsample([seg(t, v)], { maxPoints: 8 });
  assert.deepEqual(out, [
    [9, 5], // bucket 0: max 9 at 5, min 1 at 10
    [1, 10],
    [5, 30], // bucket 1 [25, 50): all 5 → one point
    [7, 60], // bucket 2 [50, 75): max 7 at 60, min -2 at 70
    [-2, 70],
    [8, 80], // bucket 3 [75, 100]: max 8 at 80, min 0 at 99
    [0, 100],
  ]);
});

test('min / max / nearest keep one real point per bucket (the value with its own time)', () => {
  const t = [0, 10, 20, 39];
  const v = [5, 1, 7, 3];
  const o = { maxPoints: 2 };
  assert.deepEqual(downsample([seg(t, v)], { ...o, method: 'min' }), [
    [1, 10],
    [3, 39],
  ]);
  assert.deepEqual(downsample([seg(t, v)], { ...o, method: 'max' }), [
    [5, 0],
    [7, 20],
  ]);
  assert.deepEqual(downsample([seg(t, v)], { ...o, method: 'nearest' }), [
    [5, 0],
    [7, 20],
  ]);
});

test('property: at most maxPoints, only real pairs in time order, global min and max kept, never upsampled', () => {
  const series = fc
    .array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.double({ noNaN: true, min: -1e6, max: 1e6 })), {
      maxLength: 400,
    })
    .map((pts) => pts.sort((a, b) => a[0] - b[0]));
  fc.assert(
    fc.property(
      fc.array(series, { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 300 }),
      fc.constantFrom('minmax', 'min', 'max', 'nearest' as const),
      (sessions, maxPoints, method) => {
        const segments = sessions.map((s) =>
          seg(
            s.map((p) => p[0]),
            s.map((p) => p[1]),
          ),
        );
        const out = downsample(segments, { maxPoints, method });
        const total = sessions.reduce((n, s) => n + s.length, 0);
        assert.ok(out.length <= Math.max(maxPoints, 0), `${out.length} > ${maxPoints}`);
        const pts = real(out);
        assert.ok(pts.length <= total);
        const input = new Set(sessions.flat().map((p) => `${p[0]}:${p[1]}`));
        for (const [v, t] of pts) assert.ok(input.has(`${t}:${v}`), `(${v}, ${t}) is not an input point`);
        // within a session, times never go backwards
        let last = -1;
        for (const p of out) {
          if (p[1] === null) last = -1;
          else {
            assert.ok(p[1] >= last);
            last = p[1];
          }
        }
        const nonEmpty = sessions.filter((s) => s.length > 0).length;
        if (total + Math.max(0, nonEmpty - 1) <= maxPoints) assert.equal(pts.length, total);
        else if (method === 'minmax' && maxPoints >= 2 + 3 * Math.max(0, nonEmpty - 1)) {
          const all = sessions.flat().map((p) => p[1]);
          const values = pts.map((p) => p[0]);
          assert.ok(values.includes(Math.min(...all)), 'global minimum lost');
          assert.ok(values.includes(Math.max(...all)), 'global maximum lost');
        }
      },
    ),
    { numRuns: 1500 },
  );
});
