/** The `mqtt` source plugin: MQTT subscriptions with a persistent session, acknowledged after persist. See README.md. */
import { type MqttSourceOptions, mqttSourceConfigSchema } from './config.js';
import { MqttSource } from './mqtt.js';

export { type MqttSourceConfig, type MqttSourceOptions, mqttSourceConfigSchema } from './config.js';
export { MqttSource } from './mqtt.js';
export { payloadToRecords } from './payload.js';

export const mqttPlugin = {
  type: 'mqtt',
  description: 'MQTT topics (mqtt.js): JSON, raw or base64-envelope payloads; persistent session, ack after persist',
  schema: mqttSourceConfigSchema,
  guarantee:
    'at least once: a QoS 1/2 message is acknowledged only after its records are durable in the outbox (or it is archived as unreadable); a redelivery after a crash is written again (idempotent sinks keep one copy)',
  produces: 'records',
  isolation: 'process',
  create: (config: MqttSourceOptions, env: { pipeline: string }) =>
    new MqttSource(config, config.client_id ?? `sigflow-${env.pipeline}`),
} as const;
