/**
 * Downsampling that never lies: a series of real (time, value) points reduced to at most `maxPoints`, each output
 * point one of the input points (its own value with its own time), in time order, never more points than came
 * in. Methods:
 * - `minmax` (default): the time the points span (first to last, not the requested window: no bucket is wasted
 *   on a part of the window without data) is cut into equal time buckets; each bucket keeps its minimum and
 *   its maximum point (one point when they are the same), so every peak and every dip survives.
 * - `min` / `max`: each bucket keeps its minimum / maximum point (the old backend's MIN/MAX, but the value keeps
 *   its own timestamp).
 * - `nearest`: each bucket keeps its first point (the old backend's NEAREST).
 * Buckets are at least `intervalMs` wide when one is given (Grafana's interval), and never so many that the
 * output exceeds `maxPoints`. A series is made of segments (sessions): a `[null, null]` break goes between two
 * non-empty segments and counts against `maxPoints` too.
 */

export type DownsampleMethod = 'minmax' | 'min' | 'max' | 'nearest';

export const DOWNSAMPLE_METHODS: readonly DownsampleMethod[] = ['minmax', 'min', 'max', 'nearest'];

/** Points of one segment: times (epoch ms) and values, sorted by time, between `lo` (incl.) and `hi` (excl.). */
export interface Segment {
  t: Float64Array;
  v: Float64Array;
  lo: number;
  hi: number;
}

/** One output point, or a break (`[null, null]`). */
export type Point = [number, number] | [null, null];

export interface DownsampleOptions {
  maxPoints: number;
  intervalMs?: number;
  method?: DownsampleMethod;
}

function count(segments: readonly Segment[]): { points: number; breaks: number } {
  let points = 0;
  let nonEmpty = 0;
  for (const s of segments) {
    const n = s.hi - s.lo;
    points += n;
    if (n > 0) nonEmpty++;
  }
  return { points, breaks: Math.max(0, nonEmpty - 1) };
}

/**
 * Reduces the segments to at most `maxPoints` output points (breaks included), as Grafana's `[value, time]`
 * pairs. With fewer points than that, every point is returned.
 */
export function downsample(segments: readonly Segment[], opts: DownsampleOptions): Point[] {
  const { points, breaks } = count(segments);
  const max = Math.max(1, Math.floor(opts.maxPoints));
  const method = opts.method ?? 'minmax';
  if (points + breaks <= max) return all(segments);
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of segments) {
    if (s.hi <= s.lo) continue;
    first = Math.min(first, s.t[s.lo]);
    last = Math.max(last, s.t[s.hi - 1]);
  }
  // the last point belongs to the last bucket: the span reaches just past it
  const span = Math.max(last - first, 1e-6) * (1 + 1e-12) + 1e-9;
  const perBucket = method === 'minmax' ? 2 : 1;
  // buckets from the budget (breaks first), then no narrower than the interval
  let buckets = Math.max(1, Math.floor((max - breaks) / perBucket));
  if (opts.intervalMs && opts.intervalMs > 0)
    buckets = Math.max(1, Math.min(buckets, Math.ceil(span / opts.intervalMs)));
  // a bucket split by a session break is emitted once per segment: shrink until the output fits
  for (;;) {
    const out = bucketed(segments, first, span, buckets, method);
    if (out.length <= max || buckets === 1) return out.length <= max ? out : out.slice(0, max);
    buckets = Math.max(1, Math.floor((buckets * max) / out.length) - 1);
  }
}

function all(segments: readonly Segment[]): Point[] {
  const out: Point[] = [];
  for (const s of segments) {
    if (s.hi <= s.lo) continue;
    if (out.length > 0) out.push([null, null]);
    for (let i = s.lo; i < s.hi; i++) out.push([s.v[i], s.t[i]]);
  }
  return out;
}

function bucketed(
  segments: readonly Segment[],
  fromMs: number,
  span: number,
  buckets: number,
  method: DownsampleMethod,
): Point[] {
  const out: Point[] = [];
  const scale = buckets / span;
  for (const s of segments) {
    if (s.hi <= s.lo) continue;
    if (out.length > 0) out.push([null, null]);
    const { t, v } = s;
    let i = s.lo;
    while (i < s.hi) {
      const b = bucketOf(t[i], fromMs, scale, buckets);
      const first = i;
      let minI = i;
      let maxI = i;
      i++;
      while (i < s.hi && bucketOf(t[i], fromMs, scale, buckets) === b) {
        const x = v[i];
        // NaN never wins a comparison: a NaN first point is replaced by the first real one
        if (x < v[minI] || (Number.isNaN(v[minI]) && !Number.isNaN(x))) minI = i;
        if (x > v[maxI] || (Number.isNaN(v[maxI]) && !Number.isNaN(x))) maxI = i;
        i++;
      }
      if (method === 'min') out.push([v[minI], t[minI]]);
      else if (method === 'max') out.push([v[maxI], t[maxI]]);
      else if (method === 'nearest') out.push([v[first], t[first]]);
      else {
        const a = Math.min(minI, maxI);
        const z = Math.max(minI, maxI);
        out.push([v[a], t[a]]);
        if (z !== a) out.push([v[z], t[z]]);
      }
    }
  }
  return out;
}

function bucketOf(t: number, fromMs: number, scale: number, buckets: number): number {
  const b = Math.floor((t - fromMs) * scale);
  return b < 0 ? 0 : b >= buckets ? buckets - 1 : b;
}

/** Index of the first element of sorted `t` (between lo and hi) that is ≥ x. */
export function lowerBound(t: Float64Array, x: number, lo = 0, hi = t.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element of sorted `t` (between lo and hi) that is > x. */
export function upperBound(t: Float64Array, x: number, lo = 0, hi = t.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
