/** The `postgres` sink plugin: narrow series + samples tables, upsert on (series, time). See README.md. */
import { type PostgresSinkOptions, postgresRenamedKeys, postgresSinkConfigSchema } from './config.js';
import { PostgresSink } from './sink.js';

export {
  type PostgresSinkConfig,
  type PostgresSinkOptions,
  postgresRenamedKeys,
  postgresSinkConfigSchema,
} from './config.js';
export { classifyPgError, createPostgresSink, PostgresSink } from './sink.js';

export const postgresPlugin = {
  type: 'postgres',
  description: 'PostgreSQL (TimescaleDB when available): a series catalogue and samples upserted on (series, time)',
  schema: postgresSinkConfigSchema,
  idempotent: true,
  renamed: postgresRenamedKeys,
  create: (config: PostgresSinkOptions) => new PostgresSink(config),
} as const;
