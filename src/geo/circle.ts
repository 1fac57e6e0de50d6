/** The circle through three points (a cage's outline from its three stations). */

export interface Circle {
  /** Centre. */
  x: number;
  y: number;
  /** Radius. */
  r: number;
}

/**
 * The circle through (x0, y0), (x1, y1), (x2, y2): the circumcentre from the perpendicular bisectors, computed
 * relative to the first point. Null when the points are collinear or coincide (|sin| of the angle at the first
 * point ≤ 1e-9) or are not finite.
 */
export function circleThrough(x0: number, y0: number, x1: number, y1: number, x2: number, y2: number): Circle | null {
  const ux = x1 - x0;
  const uy = y1 - y0;
  const vx = x2 - x0;
  const vy = y2 - y0;
  const u2 = ux * ux + uy * uy;
  const v2 = vx * vx + vy * vy;
  const cross = ux * vy - uy * vx;
  if (!(Math.abs(cross) > 1e-9 * Math.sqrt(u2 * v2))) return null;
  // centre c (relative to p0) satisfies 2 c·u = |u|², 2 c·v = |v|²
  const cx = (vy * u2 - uy * v2) / (2 * cross);
  const cy = (ux * v2 - vx * u2) / (2 * cross);
  return { x: x0 + cx, y: y0 + cy, r: Math.hypot(cx, cy) };
}
