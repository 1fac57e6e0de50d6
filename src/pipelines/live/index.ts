/** Live pipelines: the source contract, frames → records (README.md). */
export { Backoff, sleep } from './backoff.js';
export { type LiveDecodeConfig, liveDecodeConfigSchema } from './config.js';
export { type LiveDecodeCounters, LiveDecoder, type LiveDecoderOptions, type RecordMapping } from './decode.js';
export { AlignedSchedule, MIN_EVERY_MS, nextMultiple, type Tick } from './schedule.js';
export type { LiveSource, SourceContext } from './source.js';
