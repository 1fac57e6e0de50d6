/**
 * The root schema of a sigflow configuration file, assembled from the components' own schemas — nothing about a
 * component's keys is written here:
 *
 *   outbox:   src/outbox's outboxConfigSchema (where data lives, bounds, what to do when full)
 *   sinks:    a list; each entry is one sink plugin's schema (src/sinks, selected by `type`) plus `delivery`
 *             (src/outbox's sinkDeliveryConfigSchema: batching, retries, timeouts for that sink)
 *
 * Room is kept for the sections later issues add (`sources`, `pipelines`, `server`, `logging`): each is named
 * below and rejected with "planned, not built yet" until its component lands and replaces the placeholder with
 * its own schema. Adding a section = one key here, the component's schema as its value.
 */
import { z } from 'zod';
import { outboxConfigSchema, sinkDeliveryConfigSchema } from '../outbox/index.js';
import { SINK_PLUGINS, type SinkConfig, type SinkOptions } from '../sinks/index.js';

/** One `sinks:` entry as written: the sink's keys plus its optional `delivery` section. */
export type SinkEntryConfig = SinkConfig & { delivery?: z.input<typeof sinkDeliveryConfigSchema> };
/** One validated `sinks:` entry (defaults filled in). */
export type SinkEntry = SinkOptions & { delivery?: z.output<typeof sinkDeliveryConfigSchema> };

/** One `sinks:` entry: each registered plugin's schema, extended by `delivery`, selected by `type`. */
export const sinkEntrySchema = z.discriminatedUnion(
  'type',
  SINK_PLUGINS.map((p) => p.schema.extend({ delivery: sinkDeliveryConfigSchema.optional() })) as unknown as [
    z.ZodObject,
    ...z.ZodObject[],
  ],
) as unknown as z.ZodType<SinkEntry, SinkEntryConfig>;

/** A section a later issue fills in: accepted only when absent. */
function planned(section: string) {
  return z.never({ error: `the ${section} section is planned, not built yet (see docs/ARCHITECTURE.md)` }).optional();
}

export const configSchema = z
  .object({
    outbox: outboxConfigSchema,
    sinks: z.array(sinkEntrySchema).min(1, 'at least one sink (e.g. `- type: store` with a `path`)'),
    // ── planned sections (later issues replace each placeholder by its component's schema) ──
    sources: planned('sources'),
    pipelines: planned('pipelines'),
    server: planned('server'),
    logging: planned('logging'),
  })
  .strict()
  .superRefine((c, ctx) => {
    // the outbox keys each sink's cursor by its name
    const seen = new Map<string, number>();
    c.sinks.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first === undefined) seen.set(s.name, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: ['sinks', i, 'name'],
          message: `${JSON.stringify(s.name)} is already the name of sinks[${first}] (names must be unique: the outbox keeps each sink's position by name)`,
        });
    });
  });

/** A configuration file as written (defaults optional; durations and sizes as numbers or strings). */
export type SigflowConfigInput = z.input<typeof configSchema>;
/** A validated configuration (defaults filled in; durations in ms, sizes in bytes). */
export type SigflowConfig = z.output<typeof configSchema>;
