/**
 * The source registry: one list of plugins (each `src/sources/<type>/`, see plugin.ts). A pipeline's `source:`
 * schema (a union discriminated on `type`) and `createSource` come from this list.
 */
import { z } from 'zod';
import type { LiveSource } from '../pipelines/live/index.js';
import { candumpPlugin } from './candump/index.js';
import { execPlugin } from './exec/index.js';
import { mqttPlugin } from './mqtt/index.js';
import type { SourceEnv, SourcePlugin } from './plugin.js';
import { replayPlugin } from './replay/index.js';
import { serialPlugin } from './serial/index.js';
import { systemChecksPlugin } from './system-checks/index.js';

/** Every source sigflow can read from. Add a source: a folder beside these and one entry here. */
export const SOURCE_PLUGINS = [
  serialPlugin,
  replayPlugin,
  mqttPlugin,
  candumpPlugin,
  systemChecksPlugin,
  execPlugin,
] as const satisfies readonly SourcePlugin[];

type SchemaOf<P> = P extends { schema: infer S } ? S : never;
type SchemasOf<T extends readonly unknown[]> = { -readonly [K in keyof T]: SchemaOf<T[K]> };

/** A pipeline's `source:`, selected by `type`. */
export const sourceConfigSchema = z.discriminatedUnion(
  'type',
  SOURCE_PLUGINS.map((p) => p.schema) as unknown as SchemasOf<typeof SOURCE_PLUGINS>,
);
export type SourceConfig = z.input<typeof sourceConfigSchema>;
export type SourceOptions = z.output<typeof sourceConfigSchema>;

export function sourcePlugin(type: unknown): SourcePlugin | undefined {
  return (SOURCE_PLUGINS as readonly SourcePlugin[]).find((p) => p.type === type);
}

/** Builds the source of a validated `source:` section. */
export function createSource(config: SourceOptions, env: SourceEnv): LiveSource {
  return (sourcePlugin(config.type) as SourcePlugin).create(config as never, env);
}

export type { SourceEnv, SourcePlugin } from './plugin.js';
export { candumpPlugin, execPlugin, mqttPlugin, replayPlugin, serialPlugin, systemChecksPlugin };
