/** The embedded SQLite time-series store. See README.md in this folder. */
export {
  type Bucket,
  type RangeQuery,
  type SeriesBuckets,
  type SeriesInfo,
  type SeriesSamples,
  type SeriesType,
  StoreError,
  type StoreErrorCode,
  type StoreOptions,
  type StoreWriteReport,
  type TimedValue,
  TimeSeriesStore,
} from './store.js';
