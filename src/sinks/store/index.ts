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
  // a local SQLite transaction: a partial batch is written after 100 ms, not 1 s (live data shows up sooner)
  deliveryDefaults: { flush_interval: 100 },
  renamed: {},
  create: (config: StoreSinkOptions) => createStoreSink(config),
} as const;
