/**
 * MQTT publishing for the uplink sinks (thingsboard, tenta, mqtt): one lazily opened, persistent connection
 * subscribed on every connect, PUBACK-gated and paced publishes, auth classification, payload packing, and the
 * connection keys their configs share. See README.md.
 */
export {
  linkOptions,
  MQTT_URL,
  type MqttConnectionOptions,
  mqttConnectionShape,
  rateLimitsSchema,
  THINGSBOARD_RATE_LIMITS,
} from './config.js';
export {
  type BatchResult,
  type DeliveryResult,
  type LinkFailure,
  type LinkSession,
  MqttLink,
  type MqttLinkOptions,
  type OutgoingMessage,
} from './link.js';
export {
  byteLength,
  GroupedPacker,
  JSON_ARRAY,
  jsonFloat,
  jsonValue,
  LINES,
  Packer,
  type PackFormat,
  topicProblem,
} from './payload.js';
export { RateLimiter, type RateTicket, type RateWindow, rateGuardMs } from './rate.js';
export { type JournalEntry, RateJournal } from './rate-journal.js';
