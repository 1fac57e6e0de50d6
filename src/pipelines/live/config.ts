/**
 * The `decode` section of a pipeline: which DBC files, which record shape, which time. Defaults live here only.
 */
import { z } from 'zod';
import { boolFlag } from '../../schema/index.js';

export const liveDecodeConfigSchema = z
  .object({
    /** DBC files (one database; ids must not clash). A single path is accepted too. */
    dbc: z.preprocess(
      (v) => (typeof v === 'string' ? [v] : v),
      z.array(z.string().min(1, 'a DBC path')).min(1, 'at least one DBC file'),
    ),
    /** Record shape: `message` (measurement = message) or `seed` (the serial logger's: measurement = sender). */
    mapping: z.enum(['message', 'seed']).default('message'),
    /** The `device` tag of the `message` mapping (default: the pipeline's name). */
    device: z.string().min(1).optional(),
    /** Stamp records with the time they were read instead of the frame's own time. */
    use_now_time: boolFlag().default(false),
    /** Match extended frames by J1939 PGN when no message has their exact id. */
    j1939: boolFlag().default(true),
  })
  .strict();

export type LiveDecodeConfig = z.output<typeof liveDecodeConfigSchema>;
