/**
 * The `archive` sink's configuration (snake_case keys; durations through src/units; defaults live here and
 * nowhere else). See README.md for every key.
 */
import { z } from 'zod';
import { durationWholeMs } from '../../schema/index.js';

export const archiveSinkConfigSchema = z
  .object({
    type: z.literal('archive'),
    name: z.string().min(1).default('archive'),
    /** Directory of the day files (created if missing). */
    dir: z.string().min(1),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -')
      .default('sigflow'),
    /** 'batch': fsync each day file before acknowledging a write (default); 'none': leave it to the OS. */
    fsync: z.enum(['batch', 'none']).default('batch'),
    /** Gzip day files once their UTC date is over (plus close_after). */
    gzip_closed_days: z.boolean().default(false),
    /** How long after the end of its UTC date a day file is gzipped. A number is milliseconds. */
    close_after: durationWholeMs({ allowZero: true }).prefault('1h'),
  })
  .strict();

/** The config as written (defaults optional, durations as numbers of ms or strings). */
export type ArchiveSinkConfig = z.input<typeof archiveSinkConfigSchema>;
/** The validated config (defaults filled in, `close_after` in ms). */
export type ArchiveSinkOptions = z.output<typeof archiveSinkConfigSchema>;

/** Keys renamed to snake_case / unit-less durations in issue 7: old name → new name (the old ones are rejected). */
export const archiveRenamedKeys = {
  gzipClosedDays: 'gzip_closed_days',
  closeAfterMs: 'close_after',
} as const;
