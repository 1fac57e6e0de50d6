/** Record makers shared by the sink and store tests. */
import type { FieldValue, TelemetryRecord } from '../../src/records/record.js';

/** 2023-11-14T22:13:20Z in ns: a present-day timestamp for tests. */
export const T0 = 1_700_000_000_000_000_000n;

export const rec = (
  time: bigint,
  fields: Record<string, FieldValue>,
  tags: Record<string, string> = {},
  measurement = 'm',
): TelemetryRecord => ({ time, measurement, tags, fields });
