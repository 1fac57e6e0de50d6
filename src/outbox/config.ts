/**
 * The outbox's settings, in one place: the zod schemas below are the only source of their defaults and their
 * validation, for configuration files and for code alike.
 *
 *   - Config files (snake_case, durations and sizes in the units grammar; a bare number is ms / bytes):
 *       outbox:
 *         data_dir: /var/lib/sigflow
 *         max_bytes: 1GiB
 *         max_age: 7d                  # optional
 *         when_full: block             # block | drop_oldest | drop_newest
 *         synchronous: normal          # normal | full
 *         memory_cache_bytes: 8MiB     # recent batches also kept in memory (encoded size; 0 = off)
 *       delivery (per sink):
 *         batch_size: 5000, flush_interval: 1s, flush_jitter: 100ms, concurrency: 1, backoff_initial: 5s,
 *         backoff_factor: 2, backoff_max: 30s, backoff_jitter: 0.2, max_attempts: (absent = forever),
 *         write_timeout: 1m, retry_after_max: 1h
 *   - Code (`Outbox.open(options)`): the same settings in camelCase with numbers (`maxBytes`, `maxAgeMs`,
 *     `flushIntervalMs` …), translated key by key onto the same schemas by `resolveOutboxOptions`.
 *
 * Invalid values are SigflowError SF_ERR_CONFIG_INVALID naming the key path (`outbox.max_age`, or the option name
 * `maxAgeMs` from code). The key table is in src/outbox/README.md and docs/outbox.md.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { SigflowError } from '../errors/index.js';
import { durationWholeMs, sizeBytes } from '../schema/index.js';
import type { Synchronous, WhenFull } from './schema.js';
import type { Sink } from './sink.js';

export const outboxConfigSchema = z
  .object({
    data_dir: z.string().min(1),
    max_bytes: sizeBytes().default(1024 ** 3),
    /** Absent: no age limit. */
    max_age: durationWholeMs({ long: true }).optional(),
    when_full: z.enum(['block', 'drop_oldest', 'drop_newest']).default('block'),
    block_timeout: durationWholeMs({ allowZero: true }).default(60_000),
    /** Absent: the same as max_bytes. */
    dead_letter_max_bytes: sizeBytes({ allowZero: true }).optional(),
    synchronous: z.enum(['normal', 'full']).default('normal'),
    /** 0: never (the WAL is then fsynced only when SQLite checkpoints on its own). */
    checkpoint_interval: durationWholeMs({ allowZero: true }).default(1000),
    memory_cache_bytes: sizeBytes({ allowZero: true }).default(8 * 1024 ** 2),
  })
  .strict();

export const sinkDeliveryConfigSchema = z
  .object({
    batch_size: z.number().int().positive().default(5000),
    flush_interval: durationWholeMs({ allowZero: true }).default(1000),
    flush_jitter: durationWholeMs({ allowZero: true }).default(100),
    concurrency: z.number().int().positive().default(1),
    backoff_initial: durationWholeMs({ allowZero: true }).default(5000),
    backoff_factor: z.number().min(1).default(2),
    backoff_max: durationWholeMs({ allowZero: true }).default(30_000),
    backoff_jitter: z.number().min(0).lt(1).default(0.2),
    /** Absent: retry forever. */
    max_attempts: z.number().int().positive().optional(),
    write_timeout: durationWholeMs().default(60_000),
    retry_after_max: durationWholeMs({ allowZero: true }).default(3_600_000),
  })
  .strict();

/** Settings only code passes (tests, tools); not part of configuration files. */
const codeOnlySchema = z.object({
  pollIntervalMs: durationWholeMs().default(1000),
  integrityCheck: z.boolean().default(true),
  lock: z.boolean().default(true),
});

/** Options of Outbox.open that configuration files do not have. */
type CodeOnlyOption = 'pollIntervalMs' | 'integrityCheck' | 'lock' | 'logger' | 'random' | 'now';

export type OutboxConfig = z.input<typeof outboxConfigSchema>;
export type SinkDeliveryConfig = z.input<typeof sinkDeliveryConfigSchema>;

/** One sink and how the outbox delivers to it (code options; see sinkDeliveryConfigSchema for the defaults). */
export interface SinkDelivery {
  sink: Sink;
  /** Records per write (default 5000). Stored batches are split or combined to this size. */
  batchSize?: number;
  /** Write a partial batch at the latest this long after the previous write (default 1000 ms)… */
  flushIntervalMs?: number;
  /** …plus a random 0…flushJitterMs (default 100 ms), so many sigflows don't flush in lockstep. */
  flushJitterMs?: number;
  /** Writes in flight at once (default 1, which keeps acceptance order). */
  concurrency?: number;
  /** Backoff after a failed write: first delay (default 5000 ms), factor (2), cap (30000 ms), ± jitter (0.2). */
  backoffInitialMs?: number;
  backoffFactor?: number;
  backoffMaxMs?: number;
  backoffJitter?: number;
  /** Attempts per batch before it is dead-lettered (default: absent or Infinity, retry forever). */
  maxAttempts?: number;
  /** A write that takes longer is aborted and retried (default 60000 ms). */
  writeTimeoutMs?: number;
  /** Longest Retry-After honoured (default 1 h); longer values are clamped to it. */
  retryAfterMaxMs?: number;
}

/** Options of Outbox.open (code). Defaults come from outboxConfigSchema; see docs/outbox.md. */
export interface OutboxOptions {
  /** Directory holding outbox.db (created if missing). Keep it outside versioned install directories. */
  dataDir: string;
  sinks: readonly SinkDelivery[];
  /** Disk budget for pending batches, in encoded bytes (default 1 GiB). */
  maxBytes?: number;
  /** Pending batches older than this are dropped and counted as expired (default: absent or Infinity, no limit). */
  maxAgeMs?: number;
  /** Default policy when the budget is full (default 'block'); enqueue() can override it per call. */
  whenFull?: WhenFull;
  /** How long a blocked enqueue waits for space before it fails with OutboxFullError (default 60000 ms). */
  blockTimeoutMs?: number;
  /** Budget for dead letters (default = maxBytes); beyond it the oldest are deleted and counted. */
  deadLetterMaxBytes?: number;
  /** 'normal' (default): survives a process kill; 'full': every accepted batch also survives a power cut. */
  synchronous?: Synchronous;
  /** With synchronous 'normal', fsync the WAL this often via a passive checkpoint (default 1000 ms; 0 = never). */
  checkpointIntervalMs?: number;
  /**
   * Recently enqueued batches are also kept in memory, up to this many encoded bytes (default 8 MiB; 0 = off), so
   * sinks that keep up skip reading them back and decoding them (src/outbox/hot.ts). The disk copy is unaffected.
   */
  memoryCacheBytes?: number;
  /** How often an idle loop looks for batches added by other processes (e.g. `outbox replay`), default 1000 ms. */
  pollIntervalMs?: number;
  /** Run PRAGMA quick_check on open (default true). */
  integrityCheck?: boolean;
  /** Take the data directory's lock (default true). */
  lock?: boolean;
  logger?: Logger;
  /** Source of randomness for jitter (tests make it deterministic). */
  random?: () => number;
  /** Clock (tests). */
  now?: () => number;
}

/** Code option → config key. The one table that ties the two spellings together (both directions). */
const OUTBOX_KEYS = {
  dataDir: 'data_dir',
  maxBytes: 'max_bytes',
  maxAgeMs: 'max_age',
  whenFull: 'when_full',
  blockTimeoutMs: 'block_timeout',
  deadLetterMaxBytes: 'dead_letter_max_bytes',
  synchronous: 'synchronous',
  checkpointIntervalMs: 'checkpoint_interval',
  memoryCacheBytes: 'memory_cache_bytes',
} as const satisfies { [K in keyof OutboxOptions]?: keyof OutboxConfig };

const DELIVERY_KEYS = {
  batchSize: 'batch_size',
  flushIntervalMs: 'flush_interval',
  flushJitterMs: 'flush_jitter',
  concurrency: 'concurrency',
  backoffInitialMs: 'backoff_initial',
  backoffFactor: 'backoff_factor',
  backoffMaxMs: 'backoff_max',
  backoffJitter: 'backoff_jitter',
  maxAttempts: 'max_attempts',
  writeTimeoutMs: 'write_timeout',
  retryAfterMaxMs: 'retry_after_max',
} as const satisfies { [K in keyof SinkDelivery]?: keyof SinkDeliveryConfig };

// Every config key has its code option (a key added to a schema but not to its table fails to compile here).
const _everyOutboxKey: Record<Exclude<keyof OutboxConfig, (typeof OUTBOX_KEYS)[keyof typeof OUTBOX_KEYS]>, never> = {};
const _everyDeliveryKey: Record<
  Exclude<keyof SinkDeliveryConfig, (typeof DELIVERY_KEYS)[keyof typeof DELIVERY_KEYS]>,
  never
> = {};
void _everyOutboxKey;
void _everyDeliveryKey;

/** Code options whose "no limit" is Infinity in code and absence in config. */
const UNLIMITED_WHEN_INFINITE = new Set<string>(['maxAgeMs', 'maxAttempts']);

/** `T` with every property required except `Opt`, which stay present but may be undefined. */
type Filled<T, Opt extends keyof T> = Required<Omit<T, Opt>> & { [K in Opt]: T[K] };

/** One sink's delivery settings, every default applied. `maxAttempts` is Infinity when unlimited. */
export type ResolvedSinkDelivery = Required<SinkDelivery>;

/** Outbox.open options, every default applied. `maxAgeMs` is Infinity when there is no age limit. */
export type ResolvedOutboxOptions = Filled<Omit<OutboxOptions, 'sinks'>, 'logger'> & { sinks: ResolvedSinkDelivery[] };

type ParsedOutbox = z.output<typeof outboxConfigSchema>;
type ParsedDelivery = z.output<typeof sinkDeliveryConfigSchema>;

/** Parsed config → code options (absent limits stay absent). */
function outboxOptionsOf(
  c: ParsedOutbox,
): Filled<Omit<OutboxOptions, CodeOnlyOption | 'sinks'>, 'maxAgeMs' | 'deadLetterMaxBytes'> {
  return {
    dataDir: c.data_dir,
    maxBytes: c.max_bytes,
    maxAgeMs: c.max_age,
    whenFull: c.when_full,
    blockTimeoutMs: c.block_timeout,
    deadLetterMaxBytes: c.dead_letter_max_bytes,
    synchronous: c.synchronous,
    checkpointIntervalMs: c.checkpoint_interval,
    memoryCacheBytes: c.memory_cache_bytes,
  };
}

/** Parsed delivery config → code options (an absent max_attempts stays absent). */
function deliveryOf(d: ParsedDelivery, sink: Sink): Filled<SinkDelivery, 'maxAttempts'> {
  return {
    sink,
    batchSize: d.batch_size,
    flushIntervalMs: d.flush_interval,
    flushJitterMs: d.flush_jitter,
    concurrency: d.concurrency,
    backoffInitialMs: d.backoff_initial,
    backoffFactor: d.backoff_factor,
    backoffMaxMs: d.backoff_max,
    backoffJitter: d.backoff_jitter,
    maxAttempts: d.max_attempts,
    writeTimeoutMs: d.write_timeout,
    retryAfterMaxMs: d.retry_after_max,
  };
}

/** Parses `value`; the first problem becomes SF_ERR_CONFIG_INVALID named by `path(key)` (`where` is that path). */
function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  path: (key: string) => string,
  prefix = '',
): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key =
    issue.path.length > 0 ? issue.path.map(String).join('.') : issue.code === 'unrecognized_keys' ? issue.keys[0] : '';
  const where = path(key);
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : '';
  throw new SigflowError('SF_ERR_CONFIG_INVALID', `${prefix}${where}: ${issue.message}${more}`, { where });
}

/** Renames the keys of `from` through `table` (code → config), dropping undefined values and Infinity limits. */
function toConfigKeys(from: object, table: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [code, key] of Object.entries(table)) {
    const v = (from as Record<string, unknown>)[code];
    if (v === undefined) continue;
    if (v === Number.POSITIVE_INFINITY && UNLIMITED_WHEN_INFINITE.has(code)) continue;
    out[key] = v;
  }
  return out;
}

/** The code option named by a config key (messages about code options name what the caller wrote). */
function optionName(table: Record<string, string>, key: string): string {
  return Object.entries(table).find(([, k]) => k === key)?.[0] ?? key;
}

/**
 * Outbox.open options → every setting validated and defaulted by the same schemas as config files. Throws
 * SigflowError SF_ERR_CONFIG_INVALID naming the option (`outbox option maxBytes: …`, `outbox option a.concurrency`).
 */
export function resolveOutboxOptions(opts: OutboxOptions): ResolvedOutboxOptions {
  const prefix = 'outbox option ';
  const c = parseOrThrow(
    outboxConfigSchema,
    toConfigKeys(opts, OUTBOX_KEYS),
    (k) => optionName(OUTBOX_KEYS, k),
    prefix,
  );
  const code = parseOrThrow(
    codeOnlySchema,
    { pollIntervalMs: opts.pollIntervalMs, integrityCheck: opts.integrityCheck, lock: opts.lock },
    (k) => k,
    prefix,
  );
  const names = new Set<string>();
  const sinks = (opts.sinks ?? []).map((s, i): ResolvedSinkDelivery => {
    const name = s?.sink?.name;
    if (typeof name !== 'string' || name.length === 0)
      throw new SigflowError('SF_ERR_CONFIG_INVALID', `sink ${i} has no name`, { where: `sinks[${i}]` });
    if (names.has(name))
      throw new SigflowError('SF_ERR_CONFIG_INVALID', `sink name ${name} is configured twice`, {
        where: `sinks[${i}]`,
      });
    names.add(name);
    const d = deliveryOf(
      parseOrThrow(
        sinkDeliveryConfigSchema,
        toConfigKeys(s, DELIVERY_KEYS),
        (k) => `${name}.${optionName(DELIVERY_KEYS, k)}`,
        prefix,
      ),
      s.sink,
    );
    return { ...d, maxAttempts: d.maxAttempts ?? Number.POSITIVE_INFINITY };
  });
  return {
    ...outboxOptionsOf(c),
    maxAgeMs: c.max_age ?? Number.POSITIVE_INFINITY,
    deadLetterMaxBytes: c.dead_letter_max_bytes ?? c.max_bytes,
    ...code,
    sinks,
    logger: opts.logger,
    random: opts.random ?? Math.random,
    now: opts.now ?? Date.now,
  };
}

/**
 * A configuration file's `outbox` section and each sink's `delivery` section → options for Outbox.open. Throws
 * SigflowError SF_ERR_CONFIG_INVALID naming the key path (`outbox.max_age`, `sinks[0].delivery.flush_interval`).
 */
export function outboxOptionsFromConfig(
  config: unknown,
  sinks: readonly { sink: Sink; delivery?: unknown }[],
  logger?: Logger,
): OutboxOptions {
  const c = parseOrThrow(outboxConfigSchema, config, (k) => `outbox.${k}`);
  return {
    ...outboxOptionsOf(c),
    logger,
    sinks: sinks.map(({ sink, delivery }, i) =>
      deliveryOf(
        parseOrThrow(sinkDeliveryConfigSchema, delivery ?? {}, (k) => `sinks[${i}].delivery.${k}`),
        sink,
      ),
    ),
  };
}
