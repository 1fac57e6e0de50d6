/**
 * The `iof` sink's configuration (snake_case keys; defaults here only). See README.md.
 */
import { z } from 'zod';
import { durationWholeMs } from '../../schema/index.js';

export const iofSinkConfigSchema = z
  .object({
    type: z.literal('iof'),
    name: z.string().min(1).default('iof'),
    /** The IoF project file (`sigflow iof init` writes it from the metadata workbook). */
    project: z.string().min(1),
    /** The SQLite database of the IoF tables (created if missing). */
    path: z.string().min(1),
    /** The packet spec the messages are decoded with: the built-in `iof`, or a spec file. */
    spec: z.string().min(1).default('iof'),
    /** The measurement of the message records the MQTT source makes (`<measurement_prefix>message`). */
    measurement: z.string().min(1).default('iof_message'),
    /** Position depth tags as their detections arrive (the project's `positioning.enabled` must be on too). */
    positioning: z.boolean().default(true),
    /** The same tables in PostgreSQL too (SQLite stays the working copy; see postgres.ts). */
    postgres: z
      .object({
        /** postgres://user:password@host:port/database */
        connection_string: z.string().min(1),
        /** Schema of the tables (created if missing). */
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
          .default('iof'),
        connect_timeout: durationWholeMs().prefault('10s'),
        statement_timeout: durationWholeMs().prefault('30s'),
      })
      .strict()
      .optional(),
    /** 'normal' (WAL: a power cut may lose the last commits, never corrupts) or 'full'. */
    synchronous: z.enum(['normal', 'full']).default('normal'),
  })
  .strict();

export type IofSinkConfig = z.input<typeof iofSinkConfigSchema>;
export type IofSinkOptions = z.output<typeof iofSinkConfigSchema>;
