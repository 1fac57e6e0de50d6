/** The `system-checks` source plugin: the machine's health on wall-clock multiples. See README.md. */

import { type SystemChecksSourceOptions, systemChecksSourceConfigSchema } from './config.js';
import { SystemChecksSource } from './system-checks.js';

export {
  type SystemChecksSourceConfig,
  type SystemChecksSourceOptions,
  systemChecksSourceConfigSchema,
} from './config.js';
export { SystemChecksSource } from './system-checks.js';

export const systemChecksPlugin = {
  type: 'system-checks',
  description:
    'the machine: load, memory, disk usage, uptime and boot time, CPU temperature, sigflow RSS — on wall-clock multiples',
  schema: systemChecksSourceConfigSchema,
  guarantee:
    'a tick is read once and its records are durable before the next tick is read; ticks while the unit is not running are not measured',
  produces: 'records',
  isolation: 'inline',
  create: (config: SystemChecksSourceOptions, env: { supervisorPid?: number }) =>
    new SystemChecksSource(config, env.supervisorPid),
} as const;
