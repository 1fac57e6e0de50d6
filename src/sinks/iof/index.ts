/**
 * The `iof` sink plugin: the Internet-of-Fish tables (SQLite) — raw backup, gps/tag/tbr rows, positions — and the
 * IoF project file the tables are made with (project.ts). See README.md.
 */
import { type IofSinkOptions, iofSinkConfigSchema } from './config.js';
import { createIofSink } from './sink.js';

export { type IofSinkConfig, type IofSinkOptions, iofSinkConfigSchema } from './config.js';
export { type BackupRow, type Detection, IofDatabase, type PositionRow } from './database.js';
export { IofIngest, type RawMessage } from './ingest.js';
export { Positioner, type PositionOutcome } from './positioning.js';
export { IofPostgres, type IofPostgresOptions, resetPositionsCopy } from './postgres.js';
export {
  cageKey,
  cageOfTag,
  checkProject,
  conversionFactor,
  DEFAULT_MQTT_TOPICS,
  DEPTH_DATA_TYPE,
  depthTag,
  type FormatProjectOptions,
  formatProject,
  IOF_TAG_ID_BYTES,
  type IofCage,
  type IofMqttTopic,
  type IofPositioning,
  type IofProject,
  IofProjectError,
  type IofProjectInput,
  type IofProtocol,
  type IofTag,
  type IofTbr,
  iofProjectSchema,
  isDepthDataType,
  isTimeZone,
  loadProject,
  ProjectIndex,
  type ProjectIssue,
  parseProjectText,
  projectIndex,
  saveProject,
} from './project.js';
export { createIofSink, IofSink, type IofSinkCounts } from './sink.js';

export const iofPlugin = {
  type: 'iof',
  description: 'the Internet-of-Fish tables (SQLite): raw backup, gps/tag/tbr rows, TDOA positions',
  schema: iofSinkConfigSchema,
  // a message already stored (same bytes) is skipped whole; rows keyed by (message, row), positions by
  // (first arrival, tag, frequency)
  idempotent: true,
  deliveryDefaults: { flush_interval: 100 },
  renamed: {},
  create: (config: IofSinkOptions) => createIofSink(config),
} as const;
