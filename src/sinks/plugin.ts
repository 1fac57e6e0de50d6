/**
 * What a sink plugin folder exports (Telegraf's output-plugin model): `src/sinks/<type>/index.ts` exports one
 * descriptor, and `src/sinks/index.ts` lists the descriptors — adding a sink is one folder and one entry there.
 * The folder also holds README.md (what it writes, every key, its delivery guarantee) and sample.yaml (a valid,
 * commented config); a test checks both for every registered plugin.
 */
import type { z } from 'zod';
import type { Sink, SinkContext } from '../outbox/index.js';

export interface SinkPlugin<S extends z.ZodObject = z.ZodObject> {
  /** The `type` that selects it in a config file; also the name of its folder under src/sinks. */
  readonly type: string;
  /** One line: what it writes where. */
  readonly description: string;
  /** Its config schema: snake_case keys, `type` a literal, `name` defaulted, defaults only here. */
  readonly schema: S;
  /**
   * Whether writing the same batch again leaves the same data behind (same series + time overwrites). The outbox
   * delivers at least once, so a non-idempotent sink may store a record twice after a crash; the README says when.
   */
  readonly idempotent: boolean;
  /** Defaults of its `delivery` section that differ from the outbox's (ms), e.g. a shorter flush for a local sink. */
  readonly deliveryDefaults?: { readonly flush_interval?: number };
  /** Keys renamed in the past, old → new: still rejected (no aliases), but the error names the new key. */
  readonly renamed: Readonly<Record<string, string>>;
  /** Builds the sink from a validated config (the schema's output). Opens nothing remote before the first write. */
  create(config: z.output<S>, context?: SinkContext): Sink;
}

export type { SinkContext } from '../outbox/index.js';
