/** Public API of the units grammar: instants, durations and sizes, for flags and config alike (the zod types for
 * config files are in src/schema). */
export { formatSize, parseSize, type SizeOptions } from './size.js';
export {
  DURATION_UNITS_NS,
  type DurationOptions,
  formatDuration,
  formatTime,
  parseDuration,
  parseTime,
  parseTimerMs,
  TIMER_MAX_MS,
  timerTooLong,
} from './time.js';
export { localDateHour, rfc3339InZone, wallClockToInstant, zoneOffsetMs } from './zone.js';
