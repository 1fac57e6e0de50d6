/**
 * The zod vocabulary every component's config schema shares: durations and sizes read through the one units
 * grammar (src/units), and booleans/numbers that may arrive as text from the environment. A folder of its own so
 * that commands which validate no config (`frames`, `decode`) do not load zod with the grammar.
 */

export {
  type ConfigIssue,
  configIssues,
  describeConfigIssues,
  describeIssue,
  formatKeyPath,
  type RenamedAt,
} from './issues.js';
export { boolFlag, numberish } from './scalars.js';
export { type DurationSchemaOptions, durationMs, durationWholeMs, type SizeSchemaOptions, sizeBytes } from './units.js';
