/**
 * The `postgres` sink's configuration (snake_case keys; durations through src/units; defaults live here and
 * nowhere else). See README.md for every key.
 */
import { z } from 'zod';
import { durationWholeMs } from '../../schema/index.js';

export const postgresSinkConfigSchema = z
  .object({
    type: z.literal('postgres'),
    name: z.string().min(1).default('postgres'),
    /** postgres://user:password@host:port/database */
    connection_string: z.string().min(1),
    /** Schema holding sigflow's tables (created if missing). */
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
      .default('sigflow'),
    /** 'auto': make `samples` a hypertable when the timescaledb extension is available; 'off': never. */
    timescale: z.enum(['auto', 'off']).default('auto'),
    /** Hypertable chunk interval (TimescaleDB only). A number is milliseconds. */
    chunk_interval: durationWholeMs({ long: true }).prefault('1d'),
    /** Server-side statement timeout. A number is milliseconds. */
    statement_timeout: durationWholeMs().prefault('30s'),
    /** Connecting to the server. A number is milliseconds. */
    connect_timeout: durationWholeMs().prefault('10s'),
    pool_size: z.number().int().min(1).max(16).default(2),
    /**
     * Series ids kept in memory (about 200 bytes each). Beyond it the oldest half is forgotten and looked up again
     * when next written, so high-cardinality tags cost round trips, not unbounded memory.
     */
    series_cache_size: z.number().int().min(1).default(100_000),
  })
  .strict();

/** The config as written (defaults optional, durations as numbers of ms or strings). */
export type PostgresSinkConfig = z.input<typeof postgresSinkConfigSchema>;
/** The validated config (defaults filled in, durations in ms). */
export type PostgresSinkOptions = z.output<typeof postgresSinkConfigSchema>;

/** Keys renamed to snake_case / unit-less durations in issue 7: old name → new name (the old ones are rejected). */
export const postgresRenamedKeys = {
  connectionString: 'connection_string',
  chunkIntervalNs: 'chunk_interval',
  statementTimeoutMs: 'statement_timeout',
  connectTimeoutMs: 'connect_timeout',
  poolSize: 'pool_size',
  seriesCacheSize: 'series_cache_size',
} as const;
