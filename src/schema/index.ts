/**
 * The zod vocabulary every component's config schema shares: durations and sizes read through the one units
 * grammar (src/units). A folder of its own so that commands which validate no config (`frames`, `decode`) do not
 * load zod with the grammar.
 */
export { type DurationSchemaOptions, durationMs, durationWholeMs, type SizeSchemaOptions, sizeBytes } from './units.js';
