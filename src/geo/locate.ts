/**
 * One tag position from one triplet of detections: the TDOA candidates (tdoa.ts) and the decision between them —
 * order of arrival, then the cage circle. Either a fix or one reason from a small closed set the caller can
 * count (LOCATE_REASONS).
 */
import { type Circle, circleThrough } from './circle.js';
import { LocalFrame } from './frame.js';
import { solveTdoa } from './tdoa.js';
import type { LatLon } from './utm.js';

/** Why a triplet gave no position. */
export const LOCATE_REASONS = [
  /** a number is not finite, sound speed or cage margin ≤ 0 */
  'bad_input',
  /**
   * stations outside UTM's range, A = B, or the three (nearly) collinear — the circle through them wider than
   * 5 × their longest side (their largest angle over 174°); or a fix outside UTM's range
   */
  'bad_stations',
  /** no real point fits both range differences (the arrivals are inconsistent with the geometry) */
  'no_solution',
  /** every candidate contradicts the order of arrival (cannot happen for verified candidates; a guard) */
  'order_mismatch',
  /** two distinct candidates (over 1 cm apart) inside the margin, equally near the centre (within 1 mm) */
  'ambiguous',
  /** no candidate within cageMargin × radius of the cage centre */
  'outside_cage',
] as const;
export type LocateReason = (typeof LOCATE_REASONS)[number];

export const DEFAULT_SOUND_SPEED = 1500;
export const DEFAULT_CAGE_MARGIN = 1.1;

/** What locating needs of a cage, computed once per station layout. */
export interface Cage {
  readonly frame: LocalFrame;
  /** The circle through the three stations, in the local frame. */
  readonly circle: Circle;
  /** Depth of all three stations (metres, positive down). */
  readonly stationDepth: number;
}

/**
 * The circle through a cage's stations is at most this many times their longest side (R = L / (2 sin θ) for the
 * largest angle θ: 5 allows θ up to 174°). Stations on a line are never exactly collinear once projected (UTM
 * bends a parallel), and their circle of thousands of kilometres made the cage-margin test accept anything: a fish
 * placed 3,200 km away.
 */
const MAX_RADIUS_PER_SIDE = 5;

/**
 * The cage of stations A, B, C at one depth; null when they give no frame, no circle or a nearly collinear one
 * ('bad_stations').
 */
export function cageOf(a: LatLon, b: LatLon, c: LatLon, stationDepth: number): Cage | null {
  if (!Number.isFinite(stationDepth)) return null;
  const frame = LocalFrame.fromStations(a, b, c);
  if (frame === null) return null;
  const circle = circleThrough(0, 0, frame.b, 0, frame.cx, frame.cy);
  if (circle === null) return null;
  const longest = Math.max(frame.b, Math.hypot(frame.cx, frame.cy), Math.hypot(frame.cx - frame.b, frame.cy));
  return circle.r <= MAX_RADIUS_PER_SIDE * longest ? { frame, circle, stationDepth } : null;
}

/** Arrival-time differences up to this are ties (seconds). */
const TIE_TIME = 1e-6;
/** Range differences up to this are ties (metres). */
const TIE_RANGE = 1e-3;
/** Two candidates this close in distance to the centre (metres) cannot be told apart by the cage rule… */
const TIE_CENTRE = 1e-3;
/** …unless they are this close to each other (metres): then they are one place and the nearer is taken. */
const SAME_PLACE = 1e-2;

const scratch = new Float64Array(4);

/** Signs of (t_i − t_j) and (d_i − d_j) may not disagree beyond the tie tolerances. */
function sameOrder(dt: number, dd: number): boolean {
  return !((dt > TIE_TIME && dd < -TIE_RANGE) || (dt < -TIE_TIME && dd > TIE_RANGE));
}

/**
 * The hot-loop form: locates one triplet in a prepared cage, writes x, y, z (local frame, metres; z = tag depth −
 * station depth, positive down) and the number of candidates to out[0..3], and returns 'ok' or the reason. No
 * allocation. Arrival times are seconds; pass them relative to a recent instant (e.g. the triplet's first whole
 * second) — absolute UNIX seconds as doubles carry only ~0.2 µs (0.3 mm of range).
 */
export function locateInCage(
  cage: Cage,
  tagDepth: number,
  ta: number,
  tb: number,
  tc: number,
  soundSpeed: number,
  cageMargin: number,
  out: Float64Array,
): 'ok' | LocateReason {
  out[3] = 0;
  if (
    !Number.isFinite(tagDepth + ta + tb + tc) ||
    !(soundSpeed > 0 && soundSpeed < Number.POSITIVE_INFINITY) ||
    !(cageMargin > 0 && cageMargin < Number.POSITIVE_INFINITY)
  ) {
    return 'bad_input';
  }
  const { b, cx, cy } = cage.frame;
  const z = tagDepth - cage.stationDepth;
  const n = solveTdoa(b, cx, cy, z, soundSpeed * (ta - tb), soundSpeed * (ta - tc), scratch);
  out[3] = n;
  if (n === 0) return 'no_solution';

  const { x: ox, y: oy, r } = cage.circle;
  const limit = cageMargin * r;
  const zz = z * z;
  let ordered = 0;
  let best = -1;
  let bestD = Number.POSITIVE_INFINITY;
  let otherD = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const x = scratch[2 * i];
    const y = scratch[2 * i + 1];
    // (1) order of arrival: sorting the stations by range must give the order of their arrival times
    const ra = Math.sqrt(x * x + y * y + zz);
    const rb = Math.sqrt((x - b) * (x - b) + y * y + zz);
    const rc = Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy) + zz);
    if (!(sameOrder(ta - tb, ra - rb) && sameOrder(ta - tc, ra - rc) && sameOrder(tb - tc, rb - rc))) continue;
    ordered++;
    // (2) the cage: within cageMargin × radius of its centre; of two, the one nearer the centre
    const d = Math.hypot(x - ox, y - oy);
    if (d > limit) continue;
    if (d < bestD) {
      otherD = bestD;
      bestD = d;
      best = i;
    } else otherD = d;
  }
  if (ordered === 0) return 'order_mismatch';
  if (best < 0) return 'outside_cage';
  if (otherD - bestD <= TIE_CENTRE && Math.hypot(scratch[0] - scratch[2], scratch[1] - scratch[3]) > SAME_PLACE) {
    return 'ambiguous';
  }
  out[0] = scratch[2 * best];
  out[1] = scratch[2 * best + 1];
  out[2] = z;
  return 'ok';
}

export interface LocateInput {
  a: LatLon;
  b: LatLon;
  c: LatLon;
  /** Depth of the three stations (metres, positive down). */
  stationDepth: number;
  /** Depth of the tag (metres, positive down). */
  tagDepth: number;
  /** Arrival times at A, B, C in seconds (see locateInCage on precision). */
  arrivals: readonly [number, number, number];
  /** m/s, default 1500. */
  soundSpeed?: number;
  /** Multiple of the cage radius a fix may lie from the cage centre, default 1.1. */
  cageMargin?: number;
}

export interface LocateFix {
  /** Local frame, metres: A at the origin, B on +x; z = tag depth − station depth (positive down). */
  x: number;
  y: number;
  z: number;
  lat: number;
  lon: number;
  /** How many genuine candidates the TDOA solution had (2: the cage rule chose). */
  candidates: number;
}

export interface LocateRejection {
  reason: LocateReason;
  /** Genuine TDOA candidates found before the decision rejected them (0 for no_solution). */
  candidates: number;
}

export type LocateResult = LocateFix | LocateRejection;

let lastKey: readonly number[] = [];
let lastCage: Cage | null = null;

/** The cage of these stations, remembered for the next call with the same stations. */
function cachedCage(a: LatLon, b: LatLon, c: LatLon, stationDepth: number): Cage | null {
  const key = [a.lat, a.lon, b.lat, b.lon, c.lat, c.lon, stationDepth];
  if (!key.every((v, i) => v === lastKey[i])) {
    lastCage = cageOf(a, b, c, stationDepth);
    lastKey = key;
  }
  return lastCage;
}

/**
 * The whole decision for one triplet, with the local fix converted back to lat/lon. Builds the cage from the
 * stations (remembering the last one); in a loop over many triplets of one cage, prefer cageOf + locateInCage.
 */
export function locate(input: LocateInput): LocateResult {
  if (!Number.isFinite(input.stationDepth)) return { reason: 'bad_input', candidates: 0 };
  const cage = cachedCage(input.a, input.b, input.c, input.stationDepth);
  if (cage === null) return { reason: 'bad_stations', candidates: 0 };
  const out = new Float64Array(4);
  const [ta, tb, tc] = input.arrivals;
  const status = locateInCage(
    cage,
    input.tagDepth,
    ta,
    tb,
    tc,
    input.soundSpeed ?? DEFAULT_SOUND_SPEED,
    input.cageMargin ?? DEFAULT_CAGE_MARGIN,
    out,
  );
  if (status !== 'ok') return { reason: status, candidates: out[3] };
  const ll = cage.frame.toLatLon(out[0], out[1]);
  if (ll === null) return { reason: 'bad_stations', candidates: out[3] };
  return { x: out[0], y: out[1], z: out[2], lat: ll.lat, lon: ll.lon, candidates: out[3] };
}
