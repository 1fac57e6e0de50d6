/** The `candump` source plugin: SocketCAN `candump -L` lines from a followed file or a command. See README.md. */
import { CandumpSource } from './candump.js';
import { type CandumpSourceOptions, candumpSourceConfigSchema } from './config.js';

export { CandumpSource } from './candump.js';
export { type CandumpSourceConfig, type CandumpSourceOptions, candumpSourceConfigSchema } from './config.js';

export const candumpPlugin = {
  type: 'candump',
  description: 'SocketCAN candump -L lines: a log file followed like tail -F, or a command such as candump -L can0',
  schema: candumpSourceConfigSchema,
  /** What it promises (README "Delivery guarantee"). */
  guarantee:
    'command: at most once (frames while it is not running are gone); file: a restarted unit reads it again from the start (from: end: from its end)',
  produces: 'frames',
  isolation: 'process',
  create: (config: CandumpSourceOptions) => new CandumpSource(config),
} as const;
