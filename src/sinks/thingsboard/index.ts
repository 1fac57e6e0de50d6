/** The `thingsboard` sink plugin: telemetry over MQTT (device or gateway API), QoS 1, paced. See README.md. */
import type { SinkContext } from '../../outbox/index.js';
import { type ThingsboardSinkOptions, thingsboardSinkConfigSchema } from './config.js';
import { ThingsboardSink } from './sink.js';

export { type ThingsboardSinkConfig, type ThingsboardSinkOptions, thingsboardSinkConfigSchema } from './config.js';
export {
  ATTRIBUTES_REQUEST_TOPIC,
  ATTRIBUTES_RESPONSE_TOPIC,
  ATTRIBUTES_TOPIC,
  GATEWAY_CONNECT_TOPIC,
  GATEWAY_TELEMETRY_TOPIC,
  TELEMETRY_TOPIC,
  ThingsboardSink,
} from './sink.js';

export const thingsboardPlugin = {
  type: 'thingsboard',
  description: 'ThingsBoard over MQTT: device or gateway telemetry API, QoS 1 (PUBACK), paced under its rate limits',
  schema: thingsboardSinkConfigSchema,
  // ThingsBoard stores telemetry by device, key and ts: a value sent again overwrites itself (its rule chains do
  // see the message twice)
  idempotent: true,
  renamed: {},
  create: (config: ThingsboardSinkOptions, context?: SinkContext) => new ThingsboardSink(config, context),
} as const;
