/**
 * The `serial` source's configuration: the port, and the framer that reads its bytes. Defaults live here only.
 */
import { z } from 'zod';
import { boolFlag, durationWholeMs, numberish } from '../../schema/index.js';

/** The bit rates SLCAN adapters open at (S0 … S8). */
const SLCAN_BITRATES = [10_000, 20_000, 50_000, 100_000, 125_000, 250_000, 500_000, 800_000, 1_000_000];

const records21 = z
  .object({
    type: z.literal('records21'),
    layout: z.enum(['auto', 'with_filler', 'no_filler']).default('auto'),
    timestamp: z.enum(['auto', 'f64_s', 'u64_s', 'u64_ms', 'u64_us']).default('auto'),
    /** Take a record only when its timestamp is plausible (default: on, off when the pipeline uses now-time). */
    check_timestamps: boolFlag().optional(),
    max_records_per_line: numberish({ integer: true, min: 1, max: 1024 }).default(16),
  })
  .strict();

const slcan = z
  .object({
    type: z.literal('slcan'),
    /** The CAN bit rate the adapter opens the bus at (SLCAN's S0…S8). */
    bitrate: numberish({ integer: true })
      .refine((b) => SLCAN_BITRATES.includes(b), {
        message: `expected one of ${SLCAN_BITRATES.join(', ')}`,
      })
      .default(500_000),
    /** Ask the adapter for its millisecond timestamps (`Z1`). */
    timestamps: boolFlag().default(false),
    /** Open listen-only (`L`): the adapter never acknowledges frames on the bus. */
    listen_only: boolFlag().default(false),
  })
  .strict();

export const serialSourceConfigSchema = z
  .object({
    type: z.literal('serial'),
    /** The device: /dev/ttyUSB0, /dev/ttyACM0, /dev/serial/by-id/… (stable across replugs). */
    path: z.string().min(1),
    baud: numberish({ integer: true, min: 1 }).default(230_400),
    framer: z.discriminatedUnion('type', [records21, slcan]).prefault({ type: 'records21' }),
    /** Nothing read for this long: what the framer holds is resolved (a line cut by an unplug). */
    idle_flush: durationWholeMs().prefault('1s'),
    /** Reopening after the device went away: first delay and cap (exponential in between). */
    reconnect_initial: durationWholeMs().prefault('500ms'),
    reconnect_max: durationWholeMs().prefault('10s'),
  })
  .strict();

export type SerialSourceConfig = z.input<typeof serialSourceConfigSchema>;
export type SerialSourceOptions = z.output<typeof serialSourceConfigSchema>;
