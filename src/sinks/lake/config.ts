/** The `lake` sink's configuration (snake_case keys; defaults live here and nowhere else). See README.md. */
import { z } from 'zod';

export const lakeSinkConfigSchema = z
  .object({
    type: z.literal('lake'),
    name: z.string().min(1).default('lake'),
    /** The lake: a folder, or `s3://bucket/prefix`. */
    lake: z.string().min(1),
    /** The tag whose value is the device folder (`<ID>`) of a record. */
    device_tag: z.string().min(1).default('device'),
    /** S3-compatible server of an s3:// lake (MinIO: http://host:9000); AWS when absent. */
    s3_endpoint: z.string().url().optional(),
    s3_region: z.string().min(1).optional(),
    /** PEM file of the CA that signed the S3 server's certificate. */
    s3_ca: z.string().min(1).optional(),
  })
  .strict();

export type LakeSinkConfig = z.input<typeof lakeSinkConfigSchema>;
export type LakeSinkOptions = z.output<typeof lakeSinkConfigSchema>;
