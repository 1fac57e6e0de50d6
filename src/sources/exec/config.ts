/**
 * The `exec` source's configuration: the program (argv, folder, environment), how it is run — on a wall-clock
 * schedule or once for good — and what its JSON lines become. Defaults live here only (`measurement`'s default,
 * the pipeline's name, is filled in by index.ts).
 */
import { z } from 'zod';
import { MIN_EVERY_MS } from '../../pipelines/live/index.js';
import { durationWholeMs, sizeBytes } from '../../schema/index.js';

/** An environment value: text, or a number or boolean written without quotes (given to the program as text). */
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

export const execSourceConfigSchema = z
  .object({
    type: z.literal('exec'),
    /** The program and its arguments: `[/opt/probe/read-co2, --port, /dev/ttyUSB0]`; no shell. */
    command: z.array(z.string().min(1)).min(1),
    /** The folder it runs in (default: sigflow's). */
    cwd: z.string().min(1).optional(),
    /** Variables added to sigflow's environment for the program; their values are never logged. */
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits, _'), envValue)
      .default({}),
    /** `schedule`: run it once per tick of `every`; `long_running`: start it once, its exit restarts the unit. */
    mode: z.enum(['schedule', 'long_running']).default('schedule'),
    /** schedule: run at every wall-clock multiple of this since the epoch (10s → :00, :10, :20 …). */
    every: durationWholeMs()
      .prefault('60s')
      .refine((ms) => ms >= MIN_EVERY_MS, `expected ${MIN_EVERY_MS}ms or more`),
    /** schedule: the longest one run may take; then SIGTERM, and SIGKILL after `grace`. Absent: no limit. */
    timeout: durationWholeMs().optional(),
    /** Between SIGTERM and SIGKILL (a timeout, the unit stopping, processes left behind by the program). */
    grace: durationWholeMs().prefault('5s'),
    /** The data records' measurement (a line's own `measurement` wins); absent: the pipeline's name. */
    measurement: z.string().min(1).optional(),
    /** The measurement of the records made from the program's log lines. */
    log_measurement: z.string().min(1).default('log'),
    /** Tags added to every record. */
    tags: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** A longer stdout line is not read: its first 4 KiB are archived with the reason, the rest skipped. */
    max_line_bytes: sizeBytes().prefault('1MiB'),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.mode === 'long_running' && v.timeout !== undefined)
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'applies to mode: schedule only' });
  });

export type ExecSourceConfig = z.input<typeof execSourceConfigSchema>;
export type ExecSourceOptions = z.output<typeof execSourceConfigSchema>;
