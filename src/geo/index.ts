/** Public API of src/geo: UTM, the cage's local frame, the cage circle, TDOA fixes and the locate decision. */
export { type Circle, circleThrough } from './circle.js';
export { type Detection, DRIFT_GAP, fixClockDrift } from './drift.js';
export { LocalFrame, type XY } from './frame.js';
export {
  type Cage,
  cageOf,
  DEFAULT_CAGE_MARGIN,
  DEFAULT_SOUND_SPEED,
  LOCATE_REASONS,
  type LocateFix,
  type LocateInput,
  type LocateReason,
  type LocateRejection,
  type LocateResult,
  locate,
  locateInCage,
} from './locate.js';
export { solveTdoa, type TdoaCandidate, tdoaCandidates } from './tdoa.js';
export { fromUtm, type LatLon, toUtm, type UtmPoint, type UtmZone, utmZoneOf } from './utm.js';
