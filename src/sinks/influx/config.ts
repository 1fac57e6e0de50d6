/**
 * The `influx` sink's configuration (snake_case keys; durations and sizes through src/units; defaults live here
 * and nowhere else). See README.md for every key.
 */
import { z } from 'zod';
import { durationWholeMs, sizeBytes } from '../../schema/index.js';

export const influxSinkConfigSchema = z
  .object({
    type: z.literal('influx'),
    name: z.string().min(1).default('influx'),
    /** Base URL, e.g. http://127.0.0.1:8086 (a path prefix is kept); http:// or https:// only. */
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    /**
     * v1: InfluxDB 1.x `/write` (also VictoriaMetrics); v2: `/api/v2/write` (InfluxDB 2.x/3.x, VictoriaMetrics);
     * auto: asks `/ping` before the first write — a 1.x server (no 2.x API before 1.8) is written with v1 to
     * `database` (default: `bucket`), anything else with v2.
     */
    api: z.enum(['v1', 'v2', 'auto']).default('v1'),
    database: z.string().min(1).optional(),
    retention_policy: z.string().min(1).optional(),
    org: z.string().min(1).optional(),
    bucket: z.string().min(1).optional(),
    /** `Authorization: Token <token>` (v2; InfluxDB 1.8+ also accepts `user:password` as a token). */
    token: z.string().min(1).optional(),
    /** HTTP basic auth (v1). */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    precision: z.enum(['ns', 'us', 'ms', 's']).default('ns'),
    /** Gzip request bodies of at least this size; null = never. */
    gzip_min_bytes: sizeBytes({ allowZero: true }).nullable().prefault('64KiB'),
    /** Per request: no response within it → retry. A number is milliseconds. */
    timeout: durationWholeMs().prefault('30s'),
    /** v1: `CREATE DATABASE` before the first write (and again if the server says it is missing). */
    create_database: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.api === 'v1' && !c.database)
      ctx.addIssue({ code: 'custom', path: ['database'], message: 'api v1 needs a database' });
    if (c.api === 'v2' && !c.bucket)
      ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'api v2 needs a bucket' });
    if (c.api === 'auto' && !c.bucket && !c.database)
      ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'api auto needs a bucket (or a database)' });
    if (c.api === 'v2' && c.create_database)
      ctx.addIssue({
        code: 'custom',
        path: ['create_database'],
        message: 'create_database is for api v1 (or auto) only',
      });
    if (c.token && c.username)
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'give a token or a username, not both' });
  });

/** The config as written (defaults optional, durations and sizes as numbers or strings). */
export type InfluxSinkConfig = z.input<typeof influxSinkConfigSchema>;
/** The validated config (defaults filled in, `timeout` in ms, `gzip_min_bytes` in bytes). */
export type InfluxSinkOptions = z.output<typeof influxSinkConfigSchema>;

/** Keys renamed to snake_case / unit-less durations in issue 7: old name → new name (the old ones are rejected). */
export const influxRenamedKeys = {
  retentionPolicy: 'retention_policy',
  gzipMinBytes: 'gzip_min_bytes',
  timeoutMs: 'timeout',
  createDatabase: 'create_database',
} as const;
