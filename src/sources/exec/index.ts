/** The `exec` source plugin: external procedures writing JSON lines, on a schedule or long-running. See README.md. */
import { type ExecSourceOptions, execSourceConfigSchema } from './config.js';
import { ExecSource } from './exec.js';

export { type ExecSourceConfig, type ExecSourceOptions, execSourceConfigSchema } from './config.js';
export { ExecSource } from './exec.js';
export { type Line, parseLine } from './lines.js';

export const execPlugin = {
  type: 'exec',
  description:
    'external procedures: a program writing JSON lines (data, log) run on wall-clock multiples or long-running',
  schema: execSourceConfigSchema,
  guarantee:
    "a line's records are durable before the next line is read; what the program printed but sigflow had not read when it crashed is lost unless the program itself buffers",
  produces: 'records',
  isolation: 'inline',
  create: (config: ExecSourceOptions, env: { pipeline: string }) => new ExecSource(config, env.pipeline),
} as const;
