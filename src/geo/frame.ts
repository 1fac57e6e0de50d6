/**
 * The local positioning frame of a cage: station A at the origin, station B on the +x axis, all three stations
 * projected to UTM in A's zone and hemisphere. Metres; x, y horizontal (a rotated easting/northing, so the frame
 * keeps its handedness: C = (cx, cy) with cy < 0 when C lies clockwise of AB).
 */
import { fromUtm, type LatLon, toUtm, utmZoneOf } from './utm.js';

export interface XY {
  x: number;
  y: number;
}

export class LocalFrame {
  /** Station A's UTM zone and hemisphere, used for all three stations and every point. */
  readonly zone: number;
  readonly south: boolean;
  /** Station A's easting/northing (the origin). */
  readonly originEasting: number;
  readonly originNorthing: number;
  /** Angle of AB from the UTM easting axis, radians, counter-clockwise (towards north). */
  readonly theta: number;
  /** B = (b, 0), b > 0. */
  readonly b: number;
  /** C = (cx, cy). */
  readonly cx: number;
  readonly cy: number;
  private readonly cos: number;
  private readonly sin: number;

  private constructor(zone: number, south: boolean, e0: number, n0: number, theta: number, b: number, c: XY) {
    this.zone = zone;
    this.south = south;
    this.originEasting = e0;
    this.originNorthing = n0;
    this.theta = theta;
    this.cos = Math.cos(theta);
    this.sin = Math.sin(theta);
    this.b = b;
    this.cx = c.x;
    this.cy = c.y;
  }

  /**
   * The frame of stations A, B, C. Null when a position is not a valid lat/lon inside UTM's range or when A and
   * B coincide (no direction for the x axis). C may be anywhere (collinear stations are the caller's check —
   * see circleThrough).
   */
  static fromStations(a: LatLon, b: LatLon, c: LatLon): LocalFrame | null {
    const z = utmZoneOf(a.lat, a.lon);
    if (z === null) return null;
    const ua = toUtm(a.lat, a.lon, z.zone, z.south);
    const ub = toUtm(b.lat, b.lon, z.zone, z.south);
    const uc = toUtm(c.lat, c.lon, z.zone, z.south);
    if (ua === null || ub === null || uc === null) return null;
    const eb = ub.easting - ua.easting;
    const nb = ub.northing - ua.northing;
    const distB = Math.hypot(eb, nb);
    if (!(distB >= 1e-6)) return null;
    const theta = Math.atan2(nb, eb);
    const ec = uc.easting - ua.easting;
    const nc = uc.northing - ua.northing;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const cLocal = { x: cos * ec + sin * nc, y: -sin * ec + cos * nc };
    return new LocalFrame(z.zone, z.south, ua.easting, ua.northing, theta, distB, cLocal);
  }

  /** Easting/northing offsets from A → local x, y (rotation by −theta). */
  private rotate(de: number, dn: number): XY {
    return { x: this.cos * de + this.sin * dn, y: -this.sin * de + this.cos * dn };
  }

  /** lat/lon → local x, y (metres). Null for an invalid lat/lon. */
  toLocal(lat: number, lon: number): XY | null {
    const u = toUtm(lat, lon, this.zone, this.south);
    return u === null ? null : this.rotate(u.easting - this.originEasting, u.northing - this.originNorthing);
  }

  /** local x, y (metres) → lat/lon: rotate back by theta, translate to A, inverse UTM. Null for non-numbers. */
  toLatLon(x: number, y: number): LatLon | null {
    const e = this.originEasting + this.cos * x - this.sin * y;
    const n = this.originNorthing + this.sin * x + this.cos * y;
    return fromUtm(e, n, this.zone, this.south);
  }
}
