/**
 * The sink registry: one list of plugins (each `src/sinks/<type>/`, see plugin.ts). The config schema of a sink
 * (`sinkConfigSchema`, a union discriminated on `type`), `createSink` and the root config's `sinks` section all
 * come from this list — adding a sink is one folder and one entry in SINK_PLUGINS.
 */
import { z } from 'zod';
import type { Sink } from '../outbox/index.js';
import { archivePlugin } from './archive/index.js';
import { influxPlugin } from './influx/index.js';
import { iofPlugin } from './iof/index.js';
import { describeConfigIssues, SinkConfigError, underPath } from './issues.js';
import { lakePlugin } from './lake/index.js';
import { mqttPlugin } from './mqtt/index.js';
import type { SinkContext, SinkPlugin } from './plugin.js';
import { postgresPlugin } from './postgres/index.js';
import { storePlugin } from './store/index.js';
import { tentaPlugin } from './tenta/index.js';
import { thingsboardPlugin } from './thingsboard/index.js';

/** Every sink sigflow can write to. Add a sink: a folder beside these and one entry here. */
export const SINK_PLUGINS = [
  storePlugin,
  influxPlugin,
  postgresPlugin,
  archivePlugin,
  lakePlugin,
  iofPlugin,
  thingsboardPlugin,
  tentaPlugin,
  mqttPlugin,
] as const satisfies readonly SinkPlugin[];

type Plugins = typeof SINK_PLUGINS;
type SchemaOf<P> = P extends { schema: infer S } ? S : never;
/** Each plugin's schema, as a tuple (a homomorphic mapped type keeps tuples only through a type parameter). */
type SchemasOf<T extends readonly unknown[]> = { -readonly [K in keyof T]: SchemaOf<T[K]> };
type Schemas = SchemasOf<Plugins>;

/** A sink's config, selected by `type` (the plugins' schemas: snake_case keys, defaults in the schemas). */
export const sinkConfigSchema = z.discriminatedUnion('type', SINK_PLUGINS.map((p) => p.schema) as unknown as Schemas);
/** A sink config as written (defaults optional). */
export type SinkConfig = z.input<typeof sinkConfigSchema>;
/** A validated sink config (defaults filled in). */
export type SinkOptions = z.output<typeof sinkConfigSchema>;
export type SinkType = SinkConfig['type'];

/** The plugin registered for a `type`, or undefined. */
export function sinkPlugin(type: unknown): SinkPlugin | undefined {
  return (SINK_PLUGINS as readonly SinkPlugin[]).find((p) => p.type === type);
}

/** Renamed keys at a path relative to one sink config: the plugin's own, at the config's top level. */
export function sinkRenamedKeys(config: unknown): Readonly<Record<string, string>> | undefined {
  return sinkPlugin((config as { type?: unknown } | null)?.type)?.renamed;
}

/**
 * Validates a sink config, throwing SF_ERR_CONFIG_INVALID (SinkConfigError) that names the key path below
 * `where` (`sinks[1].retention_policy: expected string, got number`).
 */
export function parseSinkConfig(config: unknown, where = 'sink'): SinkOptions {
  const r = sinkConfigSchema.safeParse(config);
  if (r.success) return r.data;
  const renamed = sinkRenamedKeys(config);
  const problems = describeConfigIssues(r.error, config, (path) => (path.length === 0 ? renamed : undefined)).map(
    (line) => underPath(where, line),
  );
  throw new SinkConfigError(problems[0], problems[0].slice(0, problems[0].indexOf(': ')), problems);
}

/**
 * Validates a sink config (naming the offending key path) and builds the sink its `type` names. `context.info`
 * receives what a sink finds out once and is worth saying (the InfluxDB API `auto` chose).
 */
export function createSink(config: unknown, where = 'sink', context: SinkContext = {}): Sink {
  const c = parseSinkConfig(config, where);
  const plugin = sinkPlugin(c.type) as SinkPlugin;
  return plugin.create(c, context);
}

export type { Sink, WriteResult } from '../outbox/index.js';
export { ArchiveFormatError, ArchiveSink, listArchive, parseArchiveLine, readArchiveFile } from './archive/index.js';
export { filterSink, type MeasurementFilter, measurementFilterSchema, measurementTest } from './filter.js';
export { InfluxSink } from './influx/index.js';
export { describeConfigIssues, formatKeyPath, type RenamedAt, SinkConfigError, underPath } from './issues.js';
export { MqttSink } from './mqtt/index.js';
export type { SinkContext, SinkPlugin } from './plugin.js';
export { PostgresSink } from './postgres/index.js';
export { createStoreSink, StoreSink, storeSinkFor } from './store/index.js';
export { TentaSink } from './tenta/index.js';
export { ThingsboardSink } from './thingsboard/index.js';
export {
  archivePlugin,
  influxPlugin,
  iofPlugin,
  lakePlugin,
  mqttPlugin,
  postgresPlugin,
  storePlugin,
  tentaPlugin,
  thingsboardPlugin,
};
