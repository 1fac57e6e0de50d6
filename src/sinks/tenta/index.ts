/** The `tenta` sink plugin: measurements, logs and config acknowledgements over MQTT to Tenta. See README.md. */
import type { SinkContext } from '../../outbox/index.js';
import { type TentaSinkOptions, tentaSinkConfigSchema } from './config.js';
import { TentaSink } from './sink.js';

export { type TentaSinkConfig, type TentaSinkOptions, tentaSinkConfigSchema } from './config.js';
export { TENTA_KEY, TENTA_KEY_MAX, type TentaKind, TentaSink, tentaKeyProblem } from './sink.js';

export const tentaPlugin = {
  type: 'tenta',
  description: 'Tenta over MQTT: measurements, logs and config acknowledgements per sensor, QoS 1 (PUBACK)',
  schema: tentaSinkConfigSchema,
  // Tenta inserts every element it receives (no key on sensor + time): a batch sent again is stored twice
  idempotent: false,
  renamed: {},
  create: (config: TentaSinkOptions, context?: SinkContext) => new TentaSink(config, context),
} as const;
