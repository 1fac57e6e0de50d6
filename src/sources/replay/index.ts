/** The `replay` source plugin: recorded logs played as a live stream. See README.md. */
import { type ReplaySourceOptions, replaySourceConfigSchema } from './config.js';
import { ReplaySource } from './replay.js';

export { type ReplaySourceConfig, type ReplaySourceOptions, replaySourceConfigSchema } from './config.js';
export { ReplaySource } from './replay.js';

export const replayPlugin = {
  type: 'replay',
  description: 'recorded CANedge logs (MF4/MFC/MFE/MFM) and candump -L logs played at real time, N× or full speed',
  schema: replaySourceConfigSchema,
  guarantee: 'each pass plays every frame of the files once; a restarted unit starts the files again',
  produces: 'frames',
  isolation: 'process',
  create: (config: ReplaySourceOptions) => new ReplaySource(config),
} as const;
