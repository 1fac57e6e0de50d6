/** The `replay` source's configuration. Defaults live here only. */
import { z } from 'zod';
import { boolFlag, numberish } from '../../schema/index.js';

export const replaySourceConfigSchema = z
  .object({
    type: z.literal('replay'),
    /**
     * Log files or folders, played in the order given: CANedge logs (MF4/MFC/MFE/MFM) and SocketCAN candump -L
     * logs (`*.log`, `*.candump`, or any file whose first line is a candump line). Folders are searched
     * recursively: their CANedge logs in log-tree order, then their candump logs.
     */
    paths: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(z.string().min(1)).min(1)),
    /** Playback speed: 1 = real time, 10 = ten times faster, 0 = as fast as the pipeline takes it. */
    speed: numberish({ min: 0 }).default(1),
    /** Start again from the first file after the last one (until the unit stops). */
    loop: boolFlag().default(false),
    /** Stamp frames as if they happened now (playback start + their offset / speed) instead of their own time. */
    retime: boolFlag().default(true),
    /** Decryption passwords of encrypted logs, by device id (`default` for all), as in passwords.json. */
    passwords: z.record(z.string(), z.string()).optional(),
    /**
     * candump logs: interface name → channel (0..255); lines of other interfaces are skipped. Absent: 0, 1 … in
     * the order interfaces first appear. CANedge logs keep their own channels.
     */
    channels: z.record(z.string().min(1), numberish({ integer: true, min: 0, max: 255 })).optional(),
  })
  .strict();

export type ReplaySourceConfig = z.input<typeof replaySourceConfigSchema>;
export type ReplaySourceOptions = z.output<typeof replaySourceConfigSchema>;
