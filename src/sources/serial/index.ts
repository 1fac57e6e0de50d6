/** The `serial` source plugin: USB-serial CAN adapters (records21, slcan). See README.md. */
import { type SerialSourceOptions, serialSourceConfigSchema } from './config.js';
import { SerialSource } from './serial.js';

export { type SerialSourceConfig, type SerialSourceOptions, serialSourceConfigSchema } from './config.js';
export { SerialSource } from './serial.js';

export const serialPlugin = {
  type: 'serial',
  description: 'a USB-serial CAN adapter: 21-byte records (the serial logger) or SLCAN (CANable, USBtin, CANUSB)',
  schema: serialSourceConfigSchema,
  /** What it promises (README "Delivery guarantee"). */
  guarantee: 'at most once: bytes lost while the device is unplugged or the process is down cannot be read again',
  produces: 'frames',
  isolation: 'process',
  create: (config: SerialSourceOptions, env: { useNowTime: boolean }) => new SerialSource(config, env.useNowTime),
} as const;
