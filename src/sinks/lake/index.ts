/** The `lake` sink plugin: records into the Parquet data lake (CSS's layout). See README.md. */
import { type LakeSinkOptions, lakeSinkConfigSchema } from './config.js';
import { LakeSink } from './sink.js';

export { type LakeSinkConfig, type LakeSinkOptions, lakeSinkConfigSchema } from './config.js';
export { LakeSink } from './sink.js';

export const lakePlugin = {
  type: 'lake',
  description: 'the Parquet data lake (CSS layout): one file per batch, device, message and day, in a folder or S3',
  schema: lakeSinkConfigSchema,
  // a file's name is the hash of its rows: the same batch written again replaces its files
  idempotent: true,
  renamed: {},
  create: (config: LakeSinkOptions) => new LakeSink(config),
} as const;
