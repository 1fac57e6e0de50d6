/**
 * The `candump` source's configuration: where the `candump -L` lines come from (a file followed like `tail -F`, or a
 * command's stdout), and how the framer numbers their interfaces. Defaults live here only.
 */
import { z } from 'zod';
import { boolFlag, durationWholeMs, numberish } from '../../schema/index.js';

export const candumpSourceConfigSchema = z
  .object({
    type: z.literal('candump'),
    /** A candump -L log file, read from its start (or end) and followed as it grows, across rotations. */
    file: z.string().min(1).optional(),
    /** Or a command whose stdout carries the lines (`[candump, -L, can0]`), restarted with backoff when it exits. */
    command: z.array(z.string().min(1)).min(1).optional(),
    /** file: keep reading what is appended (like tail -F); false: read the file once, to its end. */
    follow: boolFlag().default(true),
    /** file: where the first open starts: `start` (everything in it) or `end` (only lines appended later). */
    from: z.enum(['start', 'end']).default('start'),
    /** file: how often the file is checked for new lines, a rotation or a truncation. */
    poll_interval: durationWholeMs().prefault('200ms'),
    /** Interface name → channel number (0..255); lines of other interfaces are skipped. Absent: 0, 1 … as seen. */
    channels: z.record(z.string().min(1), numberish({ integer: true, min: 0, max: 255 })).optional(),
    /** Time frames with the time they were read instead of the time written on the line. */
    use_now_time: boolFlag().default(false),
    /** Restarting the command (or reopening a file that cannot be opened): first wait and cap (doubling between). */
    restart_initial: durationWholeMs().prefault('500ms'),
    restart_max: durationWholeMs().prefault('10s'),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.file === undefined) === (v.command === undefined))
      ctx.addIssue({ code: 'custom', message: 'set exactly one of `file` and `command`' });
  });

export type CandumpSourceConfig = z.input<typeof candumpSourceConfigSchema>;
export type CandumpSourceOptions = z.output<typeof candumpSourceConfigSchema>;
