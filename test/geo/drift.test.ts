import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Detection, fixClockDrift } from '../../src/geo/index.js';

const d = (second: number, millisecond: number): Detection => ({ second, millisecond });

test('no gap of 0.667 s: nothing changes, even across a second boundary', () => {
  const same = [d(100, 10), d(100, 25), d(100, 3)] as const;
  assert.deepEqual(fixClockDrift(same), { detections: [d(100, 10), d(100, 25), d(100, 3)], adjusted: false });
  const straddle = [d(100, 995), d(101, 5), d(101, 12)] as const;
  assert.deepEqual(fixClockDrift(straddle), { detections: straddle.map((x) => ({ ...x })), adjusted: false });
});

test('a receiver one second off is brought to the 2nd detection’s second, milliseconds kept', () => {
  // 3rd a second late
  assert.deepEqual(fixClockDrift([d(100, 10), d(100, 25), d(101, 3)]), {
    detections: [d(100, 10), d(100, 25), d(100, 3)],
    adjusted: true,
  });
  // 1st a second early, given out of order: results come back in the order given
  assert.deepEqual(fixClockDrift([d(100, 25), d(99, 10), d(100, 3)]), {
    detections: [d(100, 25), d(100, 10), d(100, 3)],
    adjusted: true,
  });
  // the one that drifted was the middle one in time: it sorts last and is corrected against the new middle
  assert.deepEqual(fixClockDrift([d(100, 10), d(101, 12), d(100, 25)]), {
    detections: [d(100, 10), d(100, 12), d(100, 25)],
    adjusted: true,
  });
});

test('the original’s docstring example: the 10 ms gap across the boundary survives', () => {
  // 1556555369.995, 1556555370.005, 1556555371.010: the 3rd is a second late. The original set all three to
  // …370 (giving 370.995, a 990 ms spread); the intent — trust milliseconds, fix the second — gives 369.995.
  const r = fixClockDrift([d(1556555369, 995), d(1556555370, 5), d(1556555371, 10)]);
  assert.deepEqual(r.detections, [d(1556555369, 995), d(1556555370, 5), d(1556555370, 10)]);
  assert.ok(r.adjusted);
});

test('the threshold is 0.667 s on either gap', () => {
  assert.equal(fixClockDrift([d(100, 0), d(100, 666), d(100, 700)]).adjusted, false);
  const r = fixClockDrift([d(100, 0), d(100, 667), d(100, 700)]);
  // 1st: 0 ms is 667 ms from the 2nd → the nearer second is 101 (101.000 is 333 ms away)
  assert.deepEqual(r.detections, [d(101, 0), d(100, 667), d(100, 700)]);
});
