/** The query area: log catalog → decode → column cache → downsampling, for the server. See README.md. */
export { type CacheStats, ColumnCache, SingleFlight, type Sized } from './cache.js';
export { type CatalogOptions, entryStartMs, LogCatalog } from './catalog.js';
export { type DbcSpec, dbcSpec, LoadedDbc, loadDbcSpec, loadDbcs, type SignalRef, signalNames } from './dbcs.js';
export {
  type ColumnRequest,
  type DecodedFile,
  decodeFileColumns,
  type Interface,
  type SignalColumn,
} from './decode.js';
export {
  DOWNSAMPLE_METHODS,
  type DownsampleMethod,
  type DownsampleOptions,
  downsample,
  lowerBound,
  type Point,
  type Segment,
  upperBound,
} from './downsample.js';
export {
  type Annotation,
  type EngineOptions,
  type EngineStats,
  QueryEngine,
  type QueryReport,
  type SeriesOut,
  type SeriesQuery,
} from './engine.js';
export { DecodePool, defaultWorkers } from './pool.js';
export {
  type RecordSource,
  type StoreSeries,
  type StoreSeriesQuery,
  StoreSource,
  storeSeriesName,
} from './store-source.js';
export { msToNs, nsToMs } from './time.js';
