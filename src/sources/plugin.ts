/**
 * What a source plugin folder exports (Telegraf's input-plugin model): `src/sources/<type>/index.ts` exports one
 * descriptor, and `src/sources/index.ts` lists them — adding a source is one folder and one entry there. The folder
 * also holds README.md (what it reads, every key, its delivery guarantee) and sample.yaml (a valid config).
 */
import type { z } from 'zod';
import type { LiveSource } from '../pipelines/live/index.js';

/** What a source learns about its pipeline. */
export interface SourceEnv {
  /** The pipeline stamps records with the receive time. */
  useNowTime: boolean;
  /** The pipeline's name (e.g. for a default MQTT client id). */
  pipeline: string;
  /** The process id of `sigflow run` (the supervisor), when the source runs as one of its units. */
  supervisorPid?: number;
}

export interface SourcePlugin<S extends z.ZodObject = z.ZodObject> {
  /** The `type` that selects it in a pipeline's `source:`; also its folder's name. */
  readonly type: string;
  readonly description: string;
  /** Its config schema: snake_case keys, `type` a literal, defaults only here. */
  readonly schema: S;
  /** One line: what it promises about what it read (at most once, at least once …). */
  readonly guarantee: string;
  /**
   * Where its unit runs unless the pipeline says (`isolation:`): `process` — a child process of its own, so a
   * native crash or a leak ends that unit only — or `inline`, inside the supervisor (no process to pay for: the
   * procedures).
   */
  readonly isolation: 'process' | 'inline';
  /** What it hands over: CAN frames (its pipeline then needs a `decode:` section) or records it makes itself. */
  readonly produces: 'frames' | 'records';
  /** Builds the source from a validated config; opens nothing before run(). */
  create(config: z.output<S>, env: SourceEnv): LiveSource;
}
