/**
 * The `thingsboard` sink's configuration (snake_case keys; durations and sizes through src/schema; defaults here and
 * in the connection keys shared with the other uplinks, src/mqtt). See README.md for every key.
 */
import { z } from 'zod';
import { mqttConnectionShape, rateLimitsSchema, THINGSBOARD_RATE_LIMITS } from '../../mqtt/index.js';

export const thingsboardSinkConfigSchema = z
  .object({
    type: z.literal('thingsboard'),
    name: z.string().min(1).default('thingsboard'),
    ...mqttConnectionShape,
    /** device: telemetry of one device (v1/devices/me/telemetry); gateway: of many, named by a tag. */
    api: z.enum(['device', 'gateway']).default('device'),
    /** The device's (or gateway's) access token: the MQTT username. A secret. */
    access_token: z.string().min(1).optional(),
    /** MQTT basic credentials instead of a token. */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** Telemetry key of a field: `field` (the field's name) or `measurement.field`. */
    key: z.enum(['field', 'measurement.field']).default('field'),
    /** drop: tags are not sent; prefix: their values, sorted by tag name, go before the key (`can1.speed`). */
    tags: z.enum(['drop', 'prefix']).default('drop'),
    /** gateway: the tag naming the device. */
    device_tag: z.string().min(1).default('device'),
    /** gateway: the device type sent with v1/gateway/connect (ThingsBoard's device profile); absent: default. */
    device_type: z.string().min(1).optional(),
    /** The shared attribute holding a pushed sigflow config (handed to remoteConfig). */
    config_attribute: z.string().min(1).default('sigflow_config'),
    rate_limits: rateLimitsSchema(THINGSBOARD_RATE_LIMITS),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.access_token && c.username)
      ctx.addIssue({ code: 'custom', path: ['access_token'], message: 'give access_token or username, not both' });
    else if (!c.access_token && !c.username)
      ctx.addIssue({
        code: 'custom',
        path: ['access_token'],
        message: 'missing: the device access token (or username/password)',
      });
    if (c.password !== undefined && !c.username)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'password needs a username' });
  });

/** The config as written (defaults optional, durations and sizes as numbers or strings). */
export type ThingsboardSinkConfig = z.input<typeof thingsboardSinkConfigSchema>;
/** The validated config (defaults filled in, durations in ms, sizes in bytes). */
export type ThingsboardSinkOptions = z.output<typeof thingsboardSinkConfigSchema>;
