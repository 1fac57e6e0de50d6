/**
 * The outbox section of sigflow's configuration (snake_case, as written in config files) and its mapping onto
 * OutboxOptions / SinkDelivery. Durations are milliseconds, sizes bytes.
 *
 *   outbox:
 *     data_dir: /var/lib/sigflow
 *     max_bytes: 1073741824
 *     max_age_ms: 604800000        # optional
 *     when_full: block             # block | drop_oldest | drop_newest
 *     synchronous: normal          # normal | full
 *     memory_cache_bytes: 8388608  # recent batches also kept in memory (encoded size; 0 = off)
 *   delivery (per sink):
 *     batch_size: 5000, flush_interval_ms: 1000, flush_jitter_ms: 100, concurrency: 1,
 *     backoff_initial_ms: 5000, backoff_factor: 2, backoff_max_ms: 30000, backoff_jitter: 0.2,
 *     max_attempts: (absent = forever), write_timeout_ms: 60000, retry_after_max_ms: 3600000
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Sink } from '../sinks/sink.js';
import type { OutboxOptions, SinkDelivery } from './outbox.js';

const ms = z.number().int().nonnegative();

export const outboxConfigSchema = z
  .object({
    data_dir: z.string().min(1),
    max_bytes: z
      .number()
      .int()
      .positive()
      .default(1024 ** 3),
    max_age_ms: z.number().int().positive().optional(),
    when_full: z.enum(['block', 'drop_oldest', 'drop_newest']).default('block'),
    block_timeout_ms: ms.default(60000),
    dead_letter_max_bytes: z.number().int().positive().optional(),
    synchronous: z.enum(['normal', 'full']).default('normal'),
    checkpoint_interval_ms: ms.default(1000),
    memory_cache_bytes: z
      .number()
      .int()
      .nonnegative()
      .default(8 * 1024 ** 2),
  })
  .strict();

export const sinkDeliveryConfigSchema = z
  .object({
    batch_size: z.number().int().positive().default(5000),
    flush_interval_ms: ms.default(1000),
    flush_jitter_ms: ms.default(100),
    concurrency: z.number().int().positive().default(1),
    backoff_initial_ms: ms.default(5000),
    backoff_factor: z.number().min(1).default(2),
    backoff_max_ms: ms.default(30000),
    backoff_jitter: z.number().min(0).lt(1).default(0.2),
    max_attempts: z.number().int().positive().optional(),
    write_timeout_ms: z.number().int().positive().default(60000),
    retry_after_max_ms: ms.default(3600000),
  })
  .strict();

export type OutboxConfig = z.input<typeof outboxConfigSchema>;
export type SinkDeliveryConfig = z.input<typeof sinkDeliveryConfigSchema>;

/** Validated config → options for Outbox.open. Throws a ZodError naming the offending key. */
export function outboxOptionsFromConfig(
  config: unknown,
  sinks: readonly { sink: Sink; delivery?: unknown }[],
  logger?: Logger,
): OutboxOptions {
  const c = outboxConfigSchema.parse(config);
  return {
    dataDir: c.data_dir,
    maxBytes: c.max_bytes,
    maxAgeMs: c.max_age_ms,
    whenFull: c.when_full,
    blockTimeoutMs: c.block_timeout_ms,
    deadLetterMaxBytes: c.dead_letter_max_bytes,
    synchronous: c.synchronous,
    checkpointIntervalMs: c.checkpoint_interval_ms,
    memoryCacheBytes: c.memory_cache_bytes,
    logger,
    sinks: sinks.map(({ sink, delivery }): SinkDelivery => {
      const d = sinkDeliveryConfigSchema.parse(delivery ?? {});
      return {
        sink,
        batchSize: d.batch_size,
        flushIntervalMs: d.flush_interval_ms,
        flushJitterMs: d.flush_jitter_ms,
        concurrency: d.concurrency,
        backoffInitialMs: d.backoff_initial_ms,
        backoffFactor: d.backoff_factor,
        backoffMaxMs: d.backoff_max_ms,
        backoffJitter: d.backoff_jitter,
        maxAttempts: d.max_attempts,
        writeTimeoutMs: d.write_timeout_ms,
        retryAfterMaxMs: d.retry_after_max_ms,
      };
    }),
  };
}
