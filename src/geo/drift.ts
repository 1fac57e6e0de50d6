/**
 * The clock-drift fix for a triplet of detections of one transmission (the original's
 * `_adjust_tstamp_drift_of_triplet`): the receivers' milliseconds are trusted, their whole seconds may be one off.
 */

/** One detection's time as a TBR reports it. */
export interface Detection {
  /** Whole UNIX seconds. */
  second: number;
  /** 0–999. */
  millisecond: number;
}

/** An inter-arrival gap of at least this (seconds) means a whole-second drift: sound covers 1 km in 0.667 s. */
export const DRIFT_GAP = 0.667;

/**
 * Sorts the three detections by full time (second + millisecond / 1000). If either gap, 1st→2nd or 2nd→3rd, is ≥
 * 0.667 s, the 1st and 3rd detections take the 2nd's whole second, keeping their milliseconds — except that a
 * millisecond more than 500 away from the 2nd's is put in the neighbouring second on the 2nd's side (…369.995
 * beside …370.005 stays in 369), so a real 10 ms gap across a second boundary is not turned into 990 ms. That is
 * the original's intent; its code set the seconds equal unconditionally. Without such a gap nothing changes.
 * Returns the detections in the order given, and whether any was changed. Callers still check that the triplet
 * lies within their window (the original: seconds within 2 s).
 */
export function fixClockDrift(detections: readonly [Detection, Detection, Detection]): {
  detections: [Detection, Detection, Detection];
  adjusted: boolean;
} {
  const out = detections.map((d) => ({ second: d.second, millisecond: d.millisecond })) as [
    Detection,
    Detection,
    Detection,
  ];
  const time = (d: Detection) => d.second + d.millisecond / 1000;
  const order = [0, 1, 2].sort((i, j) => time(detections[i]) - time(detections[j]));
  const [first, second, third] = order.map((i) => detections[i]);
  if (time(second) - time(first) < DRIFT_GAP && time(third) - time(second) < DRIFT_GAP) {
    return { detections: out, adjusted: false };
  }
  let adjusted = false;
  for (const i of [order[0], order[2]]) {
    const ms = detections[i].millisecond;
    const s = second.second + (ms - second.millisecond > 500 ? -1 : second.millisecond - ms > 500 ? 1 : 0);
    if (s !== out[i].second) {
      out[i].second = s;
      adjusted = true;
    }
  }
  return { detections: out, adjusted };
}
