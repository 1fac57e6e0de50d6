/**
 * Every sink's config schema and a factory: `createSink(config)` builds the sink named by `config.type`.
 * Configuration files validate against `sinkConfigSchema` (a zod discriminated union on `type`).
 */
import { z } from 'zod';
import { ArchiveSink, type ArchiveSinkConfig, archiveSinkConfigSchema } from './archive/sink.js';
import { InfluxSink, type InfluxSinkConfig, influxSinkConfigSchema } from './influx/sink.js';
import { PostgresSink, type PostgresSinkConfig, postgresSinkConfigSchema } from './postgres/sink.js';
import type { Sink } from './sink.js';
import { createStoreSink, type StoreSinkConfig, storeSinkConfigSchema } from './store/sink.js';

export type { Sink, WriteResult } from './sink.js';

export const sinkConfigSchema = z.union([
  storeSinkConfigSchema,
  influxSinkConfigSchema,
  postgresSinkConfigSchema,
  archiveSinkConfigSchema,
]);
export type SinkConfig = StoreSinkConfig | InfluxSinkConfig | PostgresSinkConfig | ArchiveSinkConfig;

export class SinkConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SinkConfigError';
  }
}

/** Validates a sink config (naming the offending path) and builds the sink. */
export function createSink(config: unknown, where = 'sink'): Sink {
  const type = (config as { type?: unknown } | null)?.type;
  const schemas: Record<string, z.ZodType> = {
    store: storeSinkConfigSchema,
    influx: influxSinkConfigSchema,
    postgres: postgresSinkConfigSchema,
    archive: archiveSinkConfigSchema,
  };
  const schema = typeof type === 'string' ? schemas[type] : undefined;
  if (!schema)
    throw new SinkConfigError(
      `${where}: type must be one of ${Object.keys(schemas).join(', ')}, got ${JSON.stringify(type)}`,
    );
  const r = schema.safeParse(config);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SinkConfigError(`${where}.${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  switch (type) {
    case 'store':
      return createStoreSink(r.data as StoreSinkConfig);
    case 'influx':
      return new InfluxSink(r.data as InfluxSinkConfig);
    case 'postgres':
      return new PostgresSink(r.data as PostgresSinkConfig);
    default:
      return new ArchiveSink(r.data as ArchiveSinkConfig);
  }
}
