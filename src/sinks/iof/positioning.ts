/**
 * Positioning around one depth-tag detection (src/geo does the math): the same tag and frequency heard by each
 * of its cage's three TBRs within ±window of it (per TBR, the detection nearest in time), whole seconds within
 * 2 s of each other after the clock-drift fix, the stations where each TBR's latest good GPS fix puts them, then
 * Fang's TDOA with the tag's depth, order of arrival and the cage check. A position row per located triplet,
 * keyed by (first arrival, tag, frequency): live (each batch's new detections) and batch (`sigflow iof position
 * --all`, every detection in the order stored) run this same function, so they give the same rows.
 */
import { type Cage, cageOf, fixClockDrift, type LocateReason, locateInCage } from '../../geo/index.js';
import { localDateHour } from '../../units/index.js';
import type { Detection, IofDatabase } from './database.js';
import type { ProjectIndex } from './project.js';

/** What one attempt came to: a new position, one already stored, or why none. */
export type PositionOutcome =
  | 'positioned'
  | 'known'
  | 'incomplete'
  | 'spread'
  | 'no_station_fix'
  | 'no_depth'
  | LocateReason;

/** The seconds of a triplet's detections may differ by at most this much (the original's threshold). */
const MAX_SECONDS_SPREAD = 2;

export class Positioner {
  private readonly cages = new Map<string, Cage | null>();
  private readonly out = new Float64Array(4);
  readonly counts = new Map<PositionOutcome, number>();

  constructor(
    private readonly db: IofDatabase,
    private readonly index: ProjectIndex,
  ) {}

  private count(o: PositionOutcome): PositionOutcome {
    this.counts.set(o, (this.counts.get(o) ?? 0) + 1);
    return o;
  }

  /** Tries to position the transmission `d` belongs to. */
  detection(d: Detection): PositionOutcome | undefined {
    const cage = this.index.cageOfTag(d.tag_id, d.frequency);
    if (!cage?.tbrs.includes(d.tbr_serial_id)) return undefined;
    const p = this.index.project.positioning;
    const window = Number(this.index.windowNs / 1_000_000_000n);
    const t = d.timestamp + d.millisecond / 1000;
    const near = this.db.detections(
      d.tag_id,
      d.frequency,
      d.timestamp - Math.ceil(window),
      d.timestamp + Math.ceil(window),
    );
    const picked: Detection[] = [];
    for (const tbr of cage.tbrs) {
      let best: Detection | undefined;
      let bestGap = Number.POSITIVE_INFINITY;
      for (const x of near) {
        if (x.tbr_serial_id !== tbr) continue;
        const gap = Math.abs(x.timestamp + x.millisecond / 1000 - t);
        if (gap <= window && gap < bestGap) {
          best = x;
          bestGap = gap;
        }
      }
      if (!best) return this.count('incomplete');
      picked.push(best);
    }
    const seconds = picked.map((x) => x.timestamp);
    if (Math.max(...seconds) - Math.min(...seconds) > MAX_SECONDS_SPREAD) return this.count('spread');
    const fixed = fixClockDrift([
      { second: picked[0].timestamp, millisecond: picked[0].millisecond },
      { second: picked[1].timestamp, millisecond: picked[1].millisecond },
      { second: picked[2].timestamp, millisecond: picked[2].millisecond },
    ]).detections;
    if (d.tag_data === null) return this.count('no_depth');
    // The first arrival: the position's key and the time the stations are looked up at (the same whichever
    // detection of the triplet asks — live, the last to arrive; in a batch, the first).
    const first = fixed.reduce((m, x) => (x.second * 1000 + x.millisecond < m.second * 1000 + m.millisecond ? x : m));
    const stations = cage.tbrs.map((tbr) => this.db.stationFix(tbr, first.second, p.max_pdop));
    const [a, b, c] = stations;
    if (!a || !b || !c) return this.count('no_station_fix');
    const key = `${a.latitude},${a.longitude},${b.latitude},${b.longitude},${c.latitude},${c.longitude},${cage.tbr_depth}`;
    let geometry = this.cages.get(key);
    if (geometry === undefined) {
      geometry = cageOf(
        { lat: a.latitude, lon: a.longitude },
        { lat: b.latitude, lon: b.longitude },
        { lat: c.latitude, lon: c.longitude },
        cage.tbr_depth,
      );
      this.cages.set(key, geometry);
    }
    if (geometry === null) return this.count('bad_stations');
    // Arrivals relative to the earliest whole second: small numbers keep µs precision.
    const base = Math.min(...fixed.map((x) => x.second));
    const at = fixed.map((x) => x.second - base + x.millisecond / 1000);
    const out = this.out;
    const status = locateInCage(geometry, d.tag_data, at[0], at[1], at[2], p.sound_speed, p.cage_margin, out);
    if (status !== 'ok') return this.count(status);
    const ll = geometry.frame.toLatLon(out[0], out[1]);
    if (!ll) return this.count('bad_stations');
    const { date, hour } = localDateHour(first.second * 1000 + first.millisecond, this.index.project.time_zone);
    const stored = this.db.insertPosition({
      timestamp: first.second,
      millisecond: first.millisecond,
      date,
      hour,
      tag_id: d.tag_id,
      frequency: d.frequency,
      cage_name: cage.name,
      x: out[0],
      y: out[1],
      z: out[2],
      latitude: ll.lat,
      longitude: ll.lon,
      tbr_a: cage.tbrs[0],
      tbr_b: cage.tbrs[1],
      tbr_c: cage.tbrs[2],
    });
    return this.count(stored ? 'positioned' : 'known');
  }
}
