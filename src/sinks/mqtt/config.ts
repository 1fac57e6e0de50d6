/**
 * The `mqtt` sink's configuration (snake_case keys; durations and sizes through src/schema; defaults here and in the
 * connection keys shared with the other uplinks, src/mqtt). See README.md for every key.
 */
import { z } from 'zod';
import { mqttConnectionShape, rateLimitsSchema } from '../../mqtt/index.js';
import { boolFlag } from '../../schema/index.js';

export const mqttSinkConfigSchema = z
  .object({
    type: z.literal('mqtt'),
    name: z.string().min(1).default('mqtt'),
    ...mqttConnectionShape,
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** The topic of a record: text with `{measurement}` and `{tag:<name>}` placeholders. */
    topic: z.string().min(1),
    /** json: a JSON array of records per topic and PUBLISH; line: InfluxDB line protocol, a line per record. */
    format: z.enum(['json', 'line']).default('json'),
    /** json: `time` as RFC 3339 text with nanoseconds, or as a number of milliseconds since the epoch. */
    time_format: z.enum(['rfc3339', 'ms']).default('rfc3339'),
    /** 1: a PUBLISH counts once its PUBACK arrived; 0: once written to the socket (may be lost). */
    qos: z.union([z.literal(0), z.literal(1)]).default(1),
    retain: boolFlag().default(false),
    rate_limits: rateLimitsSchema([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.password !== undefined && !c.username)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'password needs a username' });
  });

/** The config as written (defaults optional, durations and sizes as numbers or strings). */
export type MqttSinkConfig = z.input<typeof mqttSinkConfigSchema>;
/** The validated config (defaults filled in, durations in ms, sizes in bytes). */
export type MqttSinkOptions = z.output<typeof mqttSinkConfigSchema>;
