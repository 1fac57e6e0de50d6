/**
 * The root schema of a sigflow configuration file, assembled from the components' own schemas:
 *
 *   outbox:    src/outbox's outboxConfigSchema (where data lives, bounds, what to do when full)
 *   sinks:     a list; each entry is one sink plugin's schema (src/sinks, selected by `type`) plus `delivery`
 *              (src/outbox's sinkDeliveryConfigSchema: batching, retries, timeouts for that sink)
 *   pipelines: the units of `sigflow run`: a source (src/sources, by `type`) and a decode section
 *              (src/pipelines/live)
 *   runtime, logging, server: the process's own (restarts and stopping, log lines and stats, the HTTP endpoint)
 */
import { z } from 'zod';
import type { HttpAuth } from '../io/index.js';
import { outboxConfigSchema, sinkDeliveryConfigSchema } from '../outbox/index.js';
import { liveDecodeConfigSchema } from '../pipelines/live/index.js';
import { durationWholeMs, numberish, sizeBytes } from '../schema/index.js';
import {
  type MeasurementFilter,
  measurementFilterSchema,
  SINK_PLUGINS,
  type SinkConfig,
  type SinkOptions,
} from '../sinks/index.js';
import { sourceConfigSchema, sourcePlugin } from '../sources/index.js';
import { formatDuration } from '../units/index.js';

/** One `sinks:` entry as written: the sink's keys plus its optional `delivery` section. */
export type SinkEntryConfig = SinkConfig & {
  delivery?: z.input<typeof sinkDeliveryConfigSchema>;
  measurements?: z.input<typeof measurementFilterSchema>;
};
/** One validated `sinks:` entry (defaults filled in). */
export type SinkEntry = SinkOptions & {
  delivery?: z.output<typeof sinkDeliveryConfigSchema>;
  /** Which records the sink is given, by measurement (src/sinks/filter.ts). */
  measurements?: MeasurementFilter;
};

/**
 * A plugin's `delivery` section: the outbox's schema, with the plugin's own default flush interval where it has one
 * (the local store: a write is a cheap local transaction, so records need not wait a second to be seen).
 */
function deliveryOf(p: object) {
  const flush = (p as { deliveryDefaults?: { flush_interval?: number } }).deliveryDefaults?.flush_interval;
  if (flush === undefined) return sinkDeliveryConfigSchema.optional();
  return sinkDeliveryConfigSchema
    .extend({ flush_interval: durationWholeMs({ allowZero: true }).default(flush) })
    .prefault({});
}

/** One `sinks:` entry: each registered plugin's schema, extended by `delivery`, selected by `type`. */
export const sinkEntrySchema = z.discriminatedUnion(
  'type',
  SINK_PLUGINS.map((p) =>
    p.schema.extend({ delivery: deliveryOf(p), measurements: measurementFilterSchema.optional() }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
) as unknown as z.ZodType<SinkEntry, SinkEntryConfig>;

/**
 * One `pipelines:` entry: a unit of `sigflow run` — its source (src/sources, selected by `type`) and how its frames
 * become records (src/pipelines/live). Its name keys its counters, metrics and log lines.
 */
export const pipelineEntrySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (at most 64)'),
    source: sourceConfigSchema,
    /** DBC decoding of a source of frames (serial, replay); a source of records (mqtt) has none. */
    decode: liveDecodeConfigSchema.optional(),
    /**
     * Where the unit runs: `process` (a child process of its own: a crash or a leak ends that unit only) or
     * `inline` (inside sigflow run: ~40 MB less per unit, no isolation). Default: the source's (inline for the
     * procedures system-checks and exec, process for the others).
     */
    isolation: z.enum(['process', 'inline']).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const produces = sourcePlugin(p.source.type)?.produces;
    if (produces === 'frames' && !p.decode)
      ctx.addIssue({
        code: 'custom',
        path: ['decode'],
        message: `a ${p.source.type} source reads CAN frames: give a decode section (dbc: …)`,
      });
    if (produces === 'records' && p.decode)
      ctx.addIssue({
        code: 'custom',
        path: ['decode'],
        message: `a ${p.source.type} source makes records itself (its payload section): remove decode`,
      });
  });

/** The process's own sections (sigflow run): how units are restarted and stopped, logs, the HTTP endpoint. */
export const runtimeConfigSchema = z
  .object({
    /** A crashed unit restarts after restart_initial, doubling up to restart_max. */
    restart_initial: durationWholeMs().prefault('1s'),
    restart_max: durationWholeMs().prefault('1m'),
    /** This many crashes within crash_loop_window: the unit is marked failed (alarm) and left stopped. */
    crash_loop_count: numberish({ integer: true, min: 1 }).default(5),
    crash_loop_window: durationWholeMs({ long: true }).prefault('5m'),
    /** On SIGINT/SIGTERM: time for the units to stop and hand over their last records… */
    stop_timeout: durationWholeMs().prefault('10s'),
    /** …then for the sinks to take what is pending (what is left stays in the outbox for the next start). */
    drain_timeout: durationWholeMs({ allowZero: true }).prefault('30s'),
  })
  .strict();

export const loggingConfigSchema = z
  .object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    /** auto: readable lines on a terminal, JSON (pino) otherwise. */
    format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    /** A stats line per unit this often (0 = none; `1s` is the serial logger's once a second). */
    stats_interval: durationWholeMs({ allowZero: true }).prefault('10s'),
  })
  .strict();

/** A `listen` address, host:port (`[::1]:1883` for IPv6; port 0 = any free one), with its default. */
function listenAddress(dflt: string) {
  return z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, `expected host:port, e.g. ${dflt}`)
    .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'the port is 0–65535 (0: any free one)')
    .default(dflt);
}

export const brokerConfigSchema = z
  .object({
    /** host:port of the embedded MQTT broker (aedes, MQTT 3.1.1); 127.0.0.1 only unless told otherwise. */
    listen: listenAddress('127.0.0.1:1883'),
  })
  .strict();

/** The Grafana routes of `sigflow serve` on `sigflow run`'s HTTP endpoint (src/server). */
export const dashboardsConfigSchema = z
  .object({
    /** Serve the (first) store sink's file: what the pipelines stored, live. */
    store: z.boolean().default(true),
    /** Also a CANedge log tree: a folder, file:// URL or s3://bucket/prefix (credentials from the AWS chain). */
    logs: z.string().min(1).optional(),
    /** More DBC files for the log tree (its root's *.dbc are always loaded). */
    dbc: z.array(z.string().min(1)).default([]),
    /** Log bytes one request may decode, and what happens over it. */
    limit: sizeBytes().default(100 * 1024 * 1024),
    on_limit: z.enum(['error', 'partial']).default('error'),
    /** Memory for decoded log columns. */
    cache: sizeBytes().default(256 * 1024 * 1024),
    /** Bearer tokens accepted on the Grafana routes (none: no auth; use ${VAR}). */
    tokens: z.array(z.string().min(1)).default([]),
    /** Basic auth on the Grafana routes. */
    basic_auth: z
      .object({ user: z.string().min(1), password: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

/** Configs pushed by an uplink's server (ThingsBoard shared attribute, Tenta configurations/<sensor>). */
export const remoteConfigSchema = z
  .object({
    /** Accept pushed configs (validated, written, applied, acknowledged). Off unless said. */
    enabled: z.boolean().default(true),
    /** The measurement of the acknowledgement records (Tenta's sink routes it to acknowledgments/<sensor>). */
    ack_measurement: z.string().min(1).default('config_ack'),
  })
  .strict();

/** Software updates: a pushed config whose `updates.version` differs from the running one installs that version. */
export const updatesConfigSchema = z
  .object({
    /** Where release tarballs are (http or https); `{version}` is replaced by the version. */
    url: z.string().regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL'),
    /** The version to run; with it, `sha256` of its tarball (required: what is trusted is the checksum). */
    version: z.string().min(1).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, '64 hex digits')
      .optional(),
    /** How long a new version has to answer healthy before it is rolled back. */
    health_deadline: durationWholeMs().prefault('2m'),
  })
  .strict()
  .refine((u) => u.version === undefined || u.sha256 !== undefined, {
    message: 'a version needs the sha256 of its tarball',
    path: ['sha256'],
  });

/** Credentials the HTTP endpoint of `sigflow run` asks for (every route but /healthz and /readyz). */
export const httpAuthConfigSchema = z
  .object({
    /** Accepted bearer tokens (use ${VAR}). */
    tokens: z.array(z.string().min(1)).default([]),
    /** Accepted basic-auth user and password (what a browser asks for: the console). */
    basic_auth: z
      .object({ user: z.string().min(1), password: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.tokens.length > 0 || a.basic_auth !== undefined, {
    message: 'give tokens or basic_auth (or leave auth out)',
  });

/** An auth section of the config (`tokens`, `basic_auth`) as the HTTP credential check takes it. */
export function httpAuthOf(
  a: { tokens: string[]; basic_auth?: { user: string; password: string } } | undefined,
): HttpAuth | undefined {
  return a ? { tokens: a.tokens, basic: a.basic_auth } : undefined;
}

/** Where `sigflow run`'s HTTP endpoint listens unless `server.listen` says otherwise. */
export const DEFAULT_SERVER_LISTEN = '127.0.0.1:9464';

export const serverConfigSchema = z
  .object({
    /** host:port of /metrics, /healthz, /readyz, /status (127.0.0.1 only unless told otherwise). */
    listen: listenAddress(DEFAULT_SERVER_LISTEN),
    /** The Grafana routes (SimpleJson, simPod, Infinity) on the same address; off when absent. */
    dashboards: dashboardsConfigSchema.optional(),
    /**
     * The web console at /console/ on the same address (status, signals of the store sink, dead letters), behind
     * `auth` (and the dashboards' tokens or basic_auth when that section has them).
     */
    console: z.boolean().default(true),
    /** Credentials for every route but /healthz and /readyz (metrics, status, console, dashboards); none: open. */
    auth: httpAuthConfigSchema.optional(),
  })
  .strict();

export const configSchema = z
  .object({
    outbox: outboxConfigSchema,
    sinks: z.array(sinkEntrySchema).min(1, 'at least one sink (e.g. `- type: store` with a `path`)'),
    pipelines: z.array(pipelineEntrySchema).default([]),
    runtime: runtimeConfigSchema.prefault({}),
    logging: loggingConfigSchema.prefault({}),
    /** An embedded MQTT broker for a box with none (started before the units, stopped after them). */
    broker: brokerConfigSchema.optional(),
    /** Configs pushed by the uplinks' servers; absent: pushes are ignored (and said so in the log). */
    remote_config: remoteConfigSchema.optional(),
    /** Software updates over the air (src/update); a pushed config naming another version installs it. */
    updates: updatesConfigSchema.optional(),
    /** The HTTP endpoint of `sigflow run`; `server: false` for none. */
    server: z.union([z.literal(false), serverConfigSchema]).prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Map<string, number>();
    c.pipelines.forEach((p, i) => {
      const first = names.get(p.name);
      if (first === undefined) names.set(p.name, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'name'],
          message: `${JSON.stringify(p.name)} is already the name of pipelines[${first}] (names must be unique)`,
        });
    });
    // a stopping exec unit waits up to `grace` for its program's group: the supervisor must not kill it first
    c.pipelines.forEach((p, i) => {
      if (p.source.type === 'exec' && p.source.grace >= c.runtime.stop_timeout) {
        const ms = (v: number) => formatDuration(BigInt(v) * 1_000_000n);
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'source', 'grace'],
          message: `${ms(p.source.grace)} is not below runtime.stop_timeout (${ms(c.runtime.stop_timeout)}): a stopping unit would be killed before it could SIGKILL its program, leaving the program running — lower grace or raise runtime.stop_timeout`,
        });
      }
    });
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
export type PipelineEntry = z.output<typeof pipelineEntrySchema>;
export type RuntimeConfig = z.output<typeof runtimeConfigSchema>;
export type LoggingConfig = z.output<typeof loggingConfigSchema>;
export type ServerConfig = z.output<typeof serverConfigSchema>;
export type DashboardsConfig = z.output<typeof dashboardsConfigSchema>;
export type BrokerConfig = z.output<typeof brokerConfigSchema>;
export type RemoteConfigSettings = z.output<typeof remoteConfigSchema>;
export type UpdatesConfig = z.output<typeof updatesConfigSchema>;
/** A validated configuration (defaults filled in; durations in ms, sizes in bytes). */
export type SigflowConfig = z.output<typeof configSchema>;
