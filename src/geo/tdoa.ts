/**
 * TDOA position fix from three stations with the tag's depth known — Fang (1989), "Simple solutions for
 * hyperbolic and related position fixes", solved as a quadratic in the range r_a (see README.md "tdoa.ts").
 *
 * Frame: A = (0, 0, 0), B = (b, 0, 0), C = (cx, cy, 0); the tag at (x, y, z) with z known. Inputs are range
 * differences R_ab = r_a − r_b = v(t_a − t_b) and R_ac = r_a − r_c = v(t_a − t_c).
 */

export interface TdoaCandidate {
  x: number;
  y: number;
  z: number;
}

/** |a| below this (dimensionless) makes the quadratic linear; its other root is ≥ ~1e12 station spacings away. */
const LINEAR = 1e-12;
/** A negative discriminant within this fraction of its terms is rounding: taken as a double root. */
const DISCRIMINANT = 1e-10;
/** Candidates must reproduce R_ab and R_ac within this fraction of the geometry's scale (b + c + |z|); two
 * candidates closer than that are one (a double root split by rounding). */
const VERIFY = 1e-6;

/**
 * All real, genuine candidates: writes x, y of up to two into `out` (out[0], out[1], then out[2], out[3]) and
 * returns how many (0, 1 or 2). No allocation. Needs b > 0 and cy ≠ 0 (non-collinear stations); otherwise, or for
 * non-finite inputs, returns 0.
 *
 * Fang's range equations r_b = r_a − R_ab, r_c = r_a − R_ac, squared and differenced with r_a² = x² + y² + z²:
 *   2·R_ab·r_a = R_ab² − b² + 2·b·x                   (3)
 *   2·R_ac·r_a = R_ac² − c² + 2·cx·x + 2·cy·y         (4)
 * give x and y linear in r_a (x = x0 + x1·r_a from (3), then y = y0 + y1·r_a from (4)); substituted into
 * x² + y² + z² = r_a² this is a quadratic in r_a. The same roots as Fang's quadratic in x through y = g·x + h,
 * without its divisions by R_ab: R_ab = 0 (x = b/2), R_ac = 0 and both zero (the circumcentre) need no branch.
 * Squaring admits points on the other branches (r_a < 0, r_b or r_c < 0): every root is checked against the
 * actual distances and dropped unless r_a − r_b = R_ab and r_a − r_c = R_ac hold.
 */
export function solveTdoa(
  b: number,
  cx: number,
  cy: number,
  z: number,
  rab: number,
  rac: number,
  out: Float64Array,
): number {
  if (!(b > 0) || cy === 0 || !Number.isFinite(cx + cy + z + rab + rac)) return 0;
  const c2 = cx * cx + cy * cy;
  const x1 = rab / b;
  const x0 = (b * b - rab * rab) / (2 * b);
  const y1 = (rac - cx * x1) / cy;
  const y0 = (c2 - rac * rac - 2 * cx * x0) / (2 * cy);
  const qa = x1 * x1 + y1 * y1 - 1;
  const qb = 2 * (x0 * x1 + y0 * y1);
  const qc = x0 * x0 + y0 * y0 + z * z;
  const scale = b + Math.sqrt(c2) + Math.abs(z);

  let r1: number;
  let r2 = Number.NaN;
  if (Math.abs(qa) <= LINEAR) {
    if (qb === 0) return 0;
    r1 = -qc / qb;
  } else {
    let disc = qb * qb - 4 * qa * qc;
    if (disc < 0) {
      const floor = DISCRIMINANT * scale * scale * 1e-8; // (1e-9·scale)²: for terms that underflow
      if (disc < -DISCRIMINANT * (qb * qb + Math.abs(4 * qa * qc)) - floor) return 0;
      disc = 0;
    }
    const sq = Math.sqrt(disc);
    const q = -0.5 * (qb >= 0 ? qb + sq : qb - sq);
    if (q === 0) r1 = 0;
    else {
      r1 = q / qa;
      if (sq > 0) r2 = qc / q;
    }
  }

  let n = 0;
  const tol = VERIFY * scale;
  for (let k = 0; k < 2; k++) {
    const r = k === 0 ? r1 : r2;
    if (!(r >= -tol)) continue; // NaN (no second root) or the r_a < 0 branch
    const x = x0 + x1 * r;
    const y = y0 + y1 * r;
    const zz = z * z;
    const ra = Math.sqrt(x * x + y * y + zz);
    const rb = Math.sqrt((x - b) * (x - b) + y * y + zz);
    const rc = Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy) + zz);
    if (!(Math.abs(ra - rb - rab) <= tol && Math.abs(ra - rc - rac) <= tol)) continue;
    if (n === 1 && Math.abs(x - out[0]) + Math.abs(y - out[1]) <= tol) continue; // (nearly) a double root
    out[2 * n] = x;
    out[2 * n + 1] = y;
    n++;
  }
  return n;
}

/** solveTdoa's candidates as objects, for callers outside a hot loop. */
export function tdoaCandidates(
  b: number,
  cx: number,
  cy: number,
  z: number,
  rab: number,
  rac: number,
): TdoaCandidate[] {
  const out = new Float64Array(4);
  const n = solveTdoa(b, cx, cy, z, rab, rac, out);
  const list: TdoaCandidate[] = [];
  for (let i = 0; i < n; i++) list.push({ x: out[2 * i], y: out[2 * i + 1], z });
  return list;
}
