/**
 * The `tenta` sink's configuration (snake_case keys; durations and sizes through src/schema; defaults here and in
 * the connection keys shared with the other uplinks, src/mqtt). See README.md for every key.
 */
import { z } from 'zod';
import { mqttConnectionShape, rateLimitsSchema } from '../../mqtt/index.js';

export const tentaSinkConfigSchema = z
  .object({
    type: z.literal('tenta'),
    name: z.string().min(1).default('tenta'),
    ...mqttConnectionShape,
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** The sensor's identifier (Tenta's dashboard): the last level of every topic. */
    sensor: z
      .string()
      .min(1)
      .regex(/^[^/+#\s]+$/, 'one topic level: no "/", "+", "#" or spaces'),
    /** Records of this measurement go to logs/<sensor>. */
    log_measurement: z.string().min(1).default('log'),
    /** Records of this measurement go to acknowledgments/<sensor> (the supervisor's config acknowledgements). */
    ack_measurement: z.string().min(1).default('config_ack'),
    /** A measurement value's key: `field` (the field's name) or `measurement_field` (`<measurement>_<field>`). */
    key: z.enum(['field', 'measurement_field']).default('field'),
    rate_limits: rateLimitsSchema([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.password !== undefined && !c.username)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'password needs a username' });
    if (c.log_measurement === c.ack_measurement)
      ctx.addIssue({
        code: 'custom',
        path: ['ack_measurement'],
        message: 'ack_measurement and log_measurement must differ',
      });
  });

/** The config as written (defaults optional, durations and sizes as numbers or strings). */
export type TentaSinkConfig = z.input<typeof tentaSinkConfigSchema>;
/** The validated config (defaults filled in, durations in ms, sizes in bytes). */
export type TentaSinkOptions = z.output<typeof tentaSinkConfigSchema>;
