/**
 * The `store` sink's configuration (snake_case keys; defaults live here and nowhere else). See README.md.
 */
import { z } from 'zod';

export const storeSinkConfigSchema = z
  .object({
    type: z.literal('store'),
    name: z.string().min(1).default('store'),
    /** SQLite file path (created if missing). */
    path: z.string().min(1),
    /** 'normal' (default in WAL mode: a power cut may lose the last commits, never corrupts) or 'full'. */
    synchronous: z.enum(['normal', 'full']).default('normal'),
  })
  .strict();

/** The config as written (defaults optional). */
export type StoreSinkConfig = z.input<typeof storeSinkConfigSchema>;
/** The validated config (defaults filled in). */
export type StoreSinkOptions = z.output<typeof storeSinkConfigSchema>;
