/** The record model {time (ns bigint), measurement, tags, fields} and canonical tag sets. See README.md. */

export {
  type EncodedBatch,
  formatFloat,
  LineEncoder,
  MAX_NANO_TIME,
  MIN_NANO_TIME,
  type Precision,
  toPrecision,
} from './line-protocol.js';
export {
  type FieldValue,
  MAX_RECORD_TIME_MS,
  msToNs,
  NS_PER_MS,
  NS_PER_S,
  nsToIso,
  nsToMs,
  secondsToNs,
  type TelemetryRecord,
  validateRecord,
} from './record.js';
export { canonicalTags, TagKeyOrder } from './tags.js';
