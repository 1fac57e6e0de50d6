/** Logs → the Parquet data lake, and queries over it. See README.md. */
export { DEFAULT_LEASE_MS, type LakeClaims, PgClaims, StoreClaims } from './claims.js';
export { type CompactOptions, type CompactStats, compactLake } from './compact.js';
export {
  type DetectedEvent,
  detectEvents,
  type EventRule,
  type EventState,
  type EventsConfig,
  finishEvents,
  type LakeEventsJob,
  type LakeEventsStats,
  newEventState,
  parseEventsConfig,
  runLakeEvents,
} from './events.js';
export {
  LakeQuery,
  type LakeQueryOptions,
  type LakeQueryResult,
  type LakeView,
  type ReadableLake,
  readableLake,
} from './query.js';
export { type LakeSeries, type LakeSeriesQuery, LakeSource } from './source.js';
export {
  type LakeTripsJob,
  type LakeTripsStats,
  parseAggregationsConfig,
  runLakeTrips,
  SignalSummary,
  TRIP_FUNCTIONS,
  type TripFunction,
  TripSplitter,
  type TripsConfig,
} from './trips.js';
export { dbcFingerprint, type LakeWriteHooks, type LakeWriteJob, type LakeWriteStats, writeLake } from './write.js';
