/**
 * UTM (WGS84) for the positioning frame: which zone a lat/lon belongs to, and the projection both ways through
 * proj4 (`+proj=utm`, Poder/Engsager series, nanometre-exact inside a zone). Bad inputs give null, never throw.
 */
import { createRequire } from 'node:module';
import type proj4Types from 'proj4';

/** proj4 is loaded on first use (a process that never positions a tag does not pay its ~10 MB). */
const require = createRequire(import.meta.url);

export interface LatLon {
  lat: number;
  lon: number;
}

export interface UtmPoint {
  easting: number;
  northing: number;
}

/** A UTM zone (1–60) and hemisphere (south: false northing 10 000 000 m). */
export interface UtmZone {
  zone: number;
  south: boolean;
}

/** Degrees east of 180°W, in [0, 360). */
function fromAntimeridian(lon: number): number {
  const w = lon + 180;
  return w >= 0 && w < 360 ? w : ((w % 360) + 360) % 360;
}

/**
 * The UTM zone of a point: 6° zones from 180°W, with the two exceptions of the UTM grid — 32V is widened over
 * south-west Norway (56–64°N, 3–12°E) and Svalbard (72–84°N, 0–42°E) uses 31X, 33X, 35X, 37X only. The
 * hemisphere follows the latitude (south when lat < 0). Null outside UTM's range (80°S–84°N) or for non-numbers.
 */
export function utmZoneOf(lat: number, lon: number): UtmZone | null {
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || lat < -80 || lat > 84) return null;
  const w = fromAntimeridian(lon);
  const l = w - 180;
  let zone = Math.floor(w / 6) + 1;
  if (lat >= 56 && lat < 64 && l >= 3 && l < 12) zone = 32;
  else if (lat >= 72 && l >= 0 && l < 42) zone = l < 9 ? 31 : l < 21 ? 33 : l < 33 ? 35 : 37;
  return { zone, south: lat < 0 };
}

const WGS84 = '+proj=longlat +datum=WGS84 +no_defs';
/** One converter per (zone, hemisphere), made on first use: index (zone − 1) · 2 + (south ? 1 : 0). */
const converters: (proj4Types.Converter | undefined)[] = [];

function converter(zone: number, south: boolean): proj4Types.Converter | null {
  if (!Number.isInteger(zone) || zone < 1 || zone > 60) return null;
  const i = (zone - 1) * 2 + (south ? 1 : 0);
  let c = converters[i];
  if (c === undefined) {
    c = (require('proj4') as typeof proj4Types)(
      WGS84,
      `+proj=utm +zone=${zone}${south ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`,
    );
    converters[i] = c;
  }
  return c;
}

/**
 * lat/lon (degrees, WGS84; west and south negative) → easting/northing in the given zone and hemisphere. The
 * zone need not be the point's own (a cage's three stations are projected in station A's zone). Null for
 * non-numbers, |lat| > 90, a zone outside 1–60 or a result that is not finite.
 */
export function toUtm(lat: number, lon: number, zone: number, south: boolean): UtmPoint | null {
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90) return null;
  const c = converter(zone, south);
  if (c === null) return null;
  const [easting, northing] = c.forward([lon, lat]);
  return Number.isFinite(easting) && Number.isFinite(northing) ? { easting, northing } : null;
}

/** easting/northing in a zone and hemisphere → lat/lon (degrees, lon in [-180, 180)). Null like toUtm. */
export function fromUtm(easting: number, northing: number, zone: number, south: boolean): LatLon | null {
  if (!Number.isFinite(easting) || !Number.isFinite(northing)) return null;
  const c = converter(zone, south);
  if (c === null) return null;
  const [lon, lat] = c.inverse([easting, northing]);
  return Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon: fromAntimeridian(lon) - 180 } : null;
}
