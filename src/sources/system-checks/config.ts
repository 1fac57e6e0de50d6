/**
 * The `system-checks` source's configuration: how often the machine is read (on wall-clock multiples), which
 * filesystems, and the record's name and tags. Defaults live here only.
 */
import { z } from 'zod';
import { MIN_EVERY_MS } from '../../pipelines/live/index.js';
import { durationWholeMs } from '../../schema/index.js';

/** The shortest `every`: a finer schedule measures the measuring. */

export const systemChecksSourceConfigSchema = z
  .object({
    type: z.literal('system-checks'),
    /** How often: at every wall-clock multiple of this since the epoch (10s → :00, :10, :20 …). */
    every: durationWholeMs()
      .prefault('60s')
      .refine((ms) => ms >= MIN_EVERY_MS, `expected ${MIN_EVERY_MS}ms or more`),
    /** The records' measurement. */
    measurement: z.string().min(1).default('system'),
    /** Filesystems whose usage is reported: any path on each (a mount point, or a folder on it). */
    paths: z.array(z.string().min(1)).min(1).default(['/']),
    /** The records' tags; absent: `{ host: <the machine's hostname> }`. */
    tags: z.record(z.string().min(1), z.string().min(1)).optional(),
    /** Where the thermal zones are (`thermal_zoneN` folders with `type` and `temp` in m°C); missing: no temperature. */
    thermal_dir: z.string().min(1).default('/sys/class/thermal'),
  })
  .strict();

export type SystemChecksSourceConfig = z.input<typeof systemChecksSourceConfigSchema>;
export type SystemChecksSourceOptions = z.output<typeof systemChecksSourceConfigSchema>;
