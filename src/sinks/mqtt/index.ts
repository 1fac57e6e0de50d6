/** The `mqtt` sink plugin: records as JSON or line protocol to any MQTT broker, topics from a template. See README.md. */
import type { SinkContext } from '../../outbox/index.js';
import { type MqttSinkOptions, mqttSinkConfigSchema } from './config.js';
import { MqttSink } from './sink.js';

export { type MqttSinkConfig, type MqttSinkOptions, mqttSinkConfigSchema } from './config.js';
export { MqttSink } from './sink.js';
export { TopicTemplate } from './topic.js';

export const mqttPlugin = {
  type: 'mqtt',
  description: 'any MQTT broker: records as JSON or InfluxDB line protocol on topics from a template, QoS 0 or 1',
  schema: mqttSinkConfigSchema,
  // a broker forwards what it gets: a batch sent again reaches the subscribers twice
  idempotent: false,
  renamed: {},
  create: (config: MqttSinkOptions, context?: SinkContext) => new MqttSink(config, context),
} as const;
