/** The `influx` sink plugin: line protocol over HTTP (InfluxDB 1.x, 2.x/3.x, VictoriaMetrics). See README.md. */
import { type InfluxSinkOptions, influxRenamedKeys, influxSinkConfigSchema } from './config.js';
import { InfluxSink } from './sink.js';

export { type InfluxSinkConfig, type InfluxSinkOptions, influxRenamedKeys, influxSinkConfigSchema } from './config.js';
export { parseRetryAfter } from './http.js';
export { createInfluxSink, InfluxSink, mapRejectedLines } from './sink.js';

export const influxPlugin = {
  type: 'influx',
  description: 'InfluxDB line protocol over HTTP: InfluxDB 1.x (/write), 2.x/3.x (/api/v2/write), VictoriaMetrics',
  schema: influxSinkConfigSchema,
  // same measurement + tag set + field + time overwrites (VictoriaMetrics only with -dedup.minScrapeInterval)
  idempotent: true,
  renamed: influxRenamedKeys,
  create: (config: InfluxSinkOptions, context?: { info?: (message: string) => void }) =>
    new InfluxSink(config, context?.info ? { info: context.info } : null),
} as const;
