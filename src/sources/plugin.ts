/**
 * What a source plugin folder exports (Telegraf's input-plugin model): `src/sources/<type>/index.ts` exports one
 * descriptor, and `src/sources/index.ts` lists them — adding a source is one folder and one entry there. The folder
 * also holds README.md (what it reads, every key, its delivery guarantee) and sample.yaml (a valid config).
 */
import type { z } from 'zod';
import type { LiveSource } from '../pipelines/live/index.js';

export interface SourcePlugin<S extends z.ZodObject = z.ZodObject> {
  /** The `type` that selects it in a pipeline's `source:`; also its folder's name. */
  readonly type: string;
  readonly description: string;
  /** Its config schema: snake_case keys, `type` a literal, defaults only here. */
  readonly schema: S;
  /** One line: what it promises about what it read (at most once, at least once …). */
  readonly guarantee: string;
  /** Builds the source from a validated config; opens nothing before run(). */
  create(config: z.output<S>, env: { useNowTime: boolean }): LiveSource;
}
