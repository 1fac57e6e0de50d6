/** Public API of the units grammar: instants, durations and sizes, for flags and config alike. */
export {
  type DurationSchemaOptions,
  durationMs,
  durationWholeMs,
  type SizeSchemaOptions,
  sizeBytes,
} from './schema.js';
export { formatSize, parseSize, type SizeOptions } from './size.js';
export {
  DURATION_UNITS_NS,
  type DurationOptions,
  formatDuration,
  formatTime,
  parseDuration,
  parseTime,
} from './time.js';
