/** The `store` sink plugin: the embedded SQLite time-series store (src/store), the default sink. See README.md. */
import { type StoreSinkOptions, storeSinkConfigSchema } from './config.js';
import { createStoreSink } from './sink.js';

export { type StoreSinkConfig, type StoreSinkOptions, storeSinkConfigSchema } from './config.js';
export { createStoreSink, StoreSink, storeSinkFor } from './sink.js';

export const storePlugin = {
  type: 'store',
  description: 'the embedded SQLite time-series store (src/store): the default sink and the query side',
  schema: storeSinkConfigSchema,
  idempotent: true,
  renamed: {},
  create: (config: StoreSinkOptions) => createStoreSink(config),
} as const;
