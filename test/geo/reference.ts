/**
 * An independent, deliberately plain reference for src/geo, written from the textbooks and not from the
 * production code (which must never import this file):
 *  - UTM: Snyder, "Map Projections — A Working Manual" (USGS Professional Paper 1395, 1987), transverse Mercator
 *    series for the ellipsoid, eqs. 8-9…8-10 (forward) and 8-17…8-25 (inverse), WGS84; no proj4.
 *  - the local frame as in the original Python (cart2pol / pol2cart);
 *  - Fang (1989) literally: y = g·x + h and a quadratic in x (eqs. 5–12), with its special case R_ab = 0;
 *  - the same decision rules, written out the long way.
 */

// ── UTM (Snyder) ─────────────────────────────────────────────────────────────────────────────────────────
const A_WGS84 = 6378137;
const F_WGS84 = 1 / 298.257223563;
const K0 = 0.9996;
const E2 = F_WGS84 * (2 - F_WGS84);
const EP2 = E2 / (1 - E2);
const DEG = Math.PI / 180;

export function refZone(lat: number, lon: number): number {
  let zone = Math.floor((lon + 180) / 6) + 1;
  if (zone > 60) zone = 1;
  if (lat >= 56 && lat < 64 && lon >= 3 && lon < 12) zone = 32;
  if (lat >= 72 && lat <= 84) {
    if (lon >= 0 && lon < 9) zone = 31;
    else if (lon >= 9 && lon < 21) zone = 33;
    else if (lon >= 21 && lon < 33) zone = 35;
    else if (lon >= 33 && lon < 42) zone = 37;
  }
  return zone;
}

function meridianArc(phi: number): number {
  const e4 = E2 * E2;
  const e6 = e4 * E2;
  return (
    A_WGS84 *
    ((1 - E2 / 4 - (3 * e4) / 64 - (5 * e6) / 256) * phi -
      ((3 * E2) / 8 + (3 * e4) / 32 + (45 * e6) / 1024) * Math.sin(2 * phi) +
      ((15 * e4) / 256 + (45 * e6) / 1024) * Math.sin(4 * phi) -
      ((35 * e6) / 3072) * Math.sin(6 * phi))
  );
}

export function refToUtm(
  lat: number,
  lon: number,
  zone: number,
  south: boolean,
): { easting: number; northing: number } {
  const phi = lat * DEG;
  const lambda0 = (zone * 6 - 183) * DEG;
  let dLon = lon * DEG - lambda0;
  while (dLon > Math.PI) dLon -= 2 * Math.PI;
  while (dLon < -Math.PI) dLon += 2 * Math.PI;
  const N = A_WGS84 / Math.sqrt(1 - E2 * Math.sin(phi) ** 2);
  const T = Math.tan(phi) ** 2;
  const C = EP2 * Math.cos(phi) ** 2;
  const A = dLon * Math.cos(phi);
  const M = meridianArc(phi);
  const x = K0 * N * (A + ((1 - T + C) * A ** 3) / 6 + ((5 - 18 * T + T * T + 72 * C - 58 * EP2) * A ** 5) / 120);
  const y =
    K0 *
    (M +
      N *
        Math.tan(phi) *
        ((A * A) / 2 +
          ((5 - T + 9 * C + 4 * C * C) * A ** 4) / 24 +
          ((61 - 58 * T + T * T + 600 * C - 330 * EP2) * A ** 6) / 720));
  return { easting: x + 500000, northing: south ? y + 10000000 : y };
}

export function refFromUtm(
  easting: number,
  northing: number,
  zone: number,
  south: boolean,
): { lat: number; lon: number } {
  const x = easting - 500000;
  const y = south ? northing - 10000000 : northing;
  const lambda0 = (zone * 6 - 183) * DEG;
  const e4 = E2 * E2;
  const e6 = e4 * E2;
  const M = y / K0;
  const mu = M / (A_WGS84 * (1 - E2 / 4 - (3 * e4) / 64 - (5 * e6) / 256));
  const e1 = (1 - Math.sqrt(1 - E2)) / (1 + Math.sqrt(1 - E2));
  const phi1 =
    mu +
    ((3 * e1) / 2 - (27 * e1 ** 3) / 32) * Math.sin(2 * mu) +
    ((21 * e1 * e1) / 16 - (55 * e1 ** 4) / 32) * Math.sin(4 * mu) +
    ((151 * e1 ** 3) / 96) * Math.sin(6 * mu) +
    ((1097 * e1 ** 4) / 512) * Math.sin(8 * mu);
  const C1 = EP2 * Math.cos(phi1) ** 2;
  const T1 = Math.tan(phi1) ** 2;
  const N1 = A_WGS84 / Math.sqrt(1 - E2 * Math.sin(phi1) ** 2);
  const R1 = (A_WGS84 * (1 - E2)) / (1 - E2 * Math.sin(phi1) ** 2) ** 1.5;
  const D = x / (N1 * K0);
  const phi =
    phi1 -
    ((N1 * Math.tan(phi1)) / R1) *
      ((D * D) / 2 -
        ((5 + 3 * T1 + 10 * C1 - 4 * C1 * C1 - 9 * EP2) * D ** 4) / 24 +
        ((61 + 90 * T1 + 298 * C1 + 45 * T1 * T1 - 252 * EP2 - 3 * C1 * C1) * D ** 6) / 720);
  const lambda =
    lambda0 +
    (D -
      ((1 + 2 * T1 + C1) * D ** 3) / 6 +
      ((5 - 2 * C1 + 28 * T1 - 3 * C1 * C1 + 8 * EP2 + 24 * T1 * T1) * D ** 5) / 120) /
      Math.cos(phi1);
  let lon = lambda / DEG;
  if (lon >= 180) lon -= 360;
  if (lon < -180) lon += 360;
  return { lat: phi / DEG, lon };
}

// ── local frame (as the original: cart2pol, rotate, pol2cart) ─────────────────────────────────────────
export interface RefFrame {
  zone: number;
  south: boolean;
  eA: number;
  nA: number;
  theta: number;
  b: number;
  cx: number;
  cy: number;
}

export function refFrame(
  a: { lat: number; lon: number },
  b: { lat: number; lon: number },
  c: { lat: number; lon: number },
): RefFrame {
  const zone = refZone(a.lat, a.lon);
  const south = a.lat < 0;
  const A = refToUtm(a.lat, a.lon, zone, south);
  const B = refToUtm(b.lat, b.lon, zone, south);
  const C = refToUtm(c.lat, c.lon, zone, south);
  const thetaB = Math.atan2(B.northing - A.northing, B.easting - A.easting);
  const rB = Math.hypot(B.easting - A.easting, B.northing - A.northing);
  const thetaC = Math.atan2(C.northing - A.northing, C.easting - A.easting);
  const rC = Math.hypot(C.easting - A.easting, C.northing - A.northing);
  return {
    zone,
    south,
    eA: A.easting,
    nA: A.northing,
    theta: thetaB,
    b: rB,
    cx: rC * Math.cos(thetaC - thetaB),
    cy: rC * Math.sin(thetaC - thetaB),
  };
}

export function refToLocal(f: RefFrame, lat: number, lon: number): { x: number; y: number } {
  const P = refToUtm(lat, lon, f.zone, f.south);
  const theta = Math.atan2(P.northing - f.nA, P.easting - f.eA);
  const r = Math.hypot(P.easting - f.eA, P.northing - f.nA);
  return { x: r * Math.cos(theta - f.theta), y: r * Math.sin(theta - f.theta) };
}

export function refToLatLon(f: RefFrame, x: number, y: number): { lat: number; lon: number } {
  const easting = Math.cos(f.theta) * x - Math.sin(f.theta) * y + f.eA;
  const northing = Math.sin(f.theta) * x + Math.cos(f.theta) * y + f.nA;
  return refFromUtm(easting, northing, f.zone, f.south);
}

// ── circle through three points (the original's formula) ─────────────────────────────────────────────
export function refCircle(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
): { x: number; y: number; r: number } {
  const m0 = x0 * x0 + y0 * y0;
  const m1 = x1 * x1 + y1 * y1;
  const m2 = x2 * x2 + y2 * y2;
  const a = x0 * (y1 - y2) - y0 * (x1 - x2) + x1 * y2 - x2 * y1;
  const b = m0 * (y2 - y1) + m1 * (y0 - y2) + m2 * (y1 - y0);
  const c = m0 * (x1 - x2) + m1 * (x2 - x0) + m2 * (x0 - x1);
  const x = -b / (2 * a);
  const y = -c / (2 * a);
  return { x, y, r: Math.hypot(x0 - x, y0 - y) };
}

// ── Fang (1989), literally ───────────────────────────────────────────────────────────────────────────
/** Real roots of p·t² + q·t + s = 0 (a slightly negative discriminant counts as zero; p = 0 is linear). */
function realRoots(p: number, q: number, s: number): number[] {
  if (Math.abs(p) < 1e-12 * (Math.abs(q) + Math.abs(s) + 1)) return q === 0 ? [] : [-s / q];
  let disc = q * q - 4 * p * s;
  if (disc < 0 && disc > -1e-9 * (q * q + Math.abs(4 * p * s))) disc = 0;
  if (disc < 0) return [];
  if (disc === 0) return [-q / (2 * p)];
  return [(-q + Math.sqrt(disc)) / (2 * p), (-q - Math.sqrt(disc)) / (2 * p)];
}

export function refFang(
  b: number,
  cx: number,
  cy: number,
  z: number,
  Rab: number,
  Rac: number,
): { x: number; y: number; z: number }[] {
  const c = Math.sqrt(cx * cx + cy * cy);
  const raw: { x: number; y: number }[] = [];
  if (Rab === 0 && Rac === 0) {
    const x = b / 2;
    raw.push({ x, y: (c * c - 2 * cx * x) / (2 * cy) });
  } else if (Rab === 0) {
    // x = b/2; eq. (4) squared is a quadratic in y
    const x = b / 2;
    const term = Rac * Rac - c * c + 2 * cx * x;
    const ys = realRoots(4 * (cy * cy - Rac * Rac), 4 * cy * term, term * term - 4 * Rac * Rac * (x * x + z * z));
    for (const y of ys) raw.push({ x, y });
  } else {
    const bR = b / Rab;
    const w = 1 - bR * bR;
    const g = (Rac * bR - cx) / cy; // (6)
    const h = (c * c - Rac * Rac + Rac * Rab * w) / (2 * cy); // (7)
    const d = -(w + g * g); // (10)
    const e = b * w - 2 * g * h; // (11)
    const f = ((Rab * Rab) / 4) * w * w - h * h; // (12)
    for (const x of realRoots(d, e, f - z * z)) raw.push({ x, y: g * x + h });
  }
  // keep only the points whose actual range differences are R_ab and R_ac (squaring admitted the others)
  const out: { x: number; y: number; z: number }[] = [];
  for (const p of raw) {
    const ra = Math.sqrt(p.x ** 2 + p.y ** 2 + z ** 2);
    const rb = Math.sqrt((p.x - b) ** 2 + p.y ** 2 + z ** 2);
    const rc = Math.sqrt((p.x - cx) ** 2 + (p.y - cy) ** 2 + z ** 2);
    if (Math.abs(ra - rb - Rab) < 1e-4 && Math.abs(ra - rc - Rac) < 1e-4) out.push({ x: p.x, y: p.y, z });
  }
  return out;
}

// ── the decision ────────────────────────────────────────────────────────────────────────────────────
export type RefResult =
  | { x: number; y: number; z: number; lat: number; lon: number; candidates: number }
  | { reason: string; candidates: number };

export function refLocate(
  a: { lat: number; lon: number },
  b: { lat: number; lon: number },
  c: { lat: number; lon: number },
  stationDepth: number,
  tagDepth: number,
  arrivals: readonly number[],
  soundSpeed = 1500,
  cageMargin = 1.1,
): RefResult {
  const f = refFrame(a, b, c);
  const stations = [
    { x: 0, y: 0 },
    { x: f.b, y: 0 },
    { x: f.cx, y: f.cy },
  ];
  const z = tagDepth - stationDepth;
  const cands = refFang(
    f.b,
    f.cx,
    f.cy,
    z,
    soundSpeed * (arrivals[0] - arrivals[1]),
    soundSpeed * (arrivals[0] - arrivals[2]),
  );
  if (cands.length === 0) return { reason: 'no_solution', candidates: 0 };

  // order of arrival: walking the stations from first to last heard, distances must not decrease
  const byTime = [0, 1, 2].sort((i, j) => arrivals[i] - arrivals[j]);
  const consistent = cands.filter((p) => {
    const dist = stations.map((s) => Math.sqrt((p.x - s.x) ** 2 + (p.y - s.y) ** 2 + z * z));
    for (let k = 0; k < 2; k++) {
      const i = byTime[k];
      const j = byTime[k + 1];
      if (arrivals[j] - arrivals[i] > 1e-6 && dist[i] > dist[j] + 1e-3) return false;
    }
    return true;
  });
  if (consistent.length === 0) return { reason: 'order_mismatch', candidates: cands.length };

  const circle = refCircle(0, 0, f.b, 0, f.cx, f.cy);
  const inside = consistent
    .map((p) => ({ p, d: Math.hypot(p.x - circle.x, p.y - circle.y) }))
    .filter((q) => q.d <= cageMargin * circle.r)
    .sort((q1, q2) => q1.d - q2.d);
  if (inside.length === 0) return { reason: 'outside_cage', candidates: cands.length };
  if (
    inside.length === 2 &&
    inside[1].d - inside[0].d <= 1e-3 &&
    Math.hypot(inside[0].p.x - inside[1].p.x, inside[0].p.y - inside[1].p.y) > 1e-2
  ) {
    return { reason: 'ambiguous', candidates: cands.length };
  }
  const p = inside[0].p;
  const ll = refToLatLon(f, p.x, p.y);
  return { x: p.x, y: p.y, z, lat: ll.lat, lon: ll.lon, candidates: cands.length };
}
