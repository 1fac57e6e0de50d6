/**
 * zod types for durations and sizes in config files, so every component's schema reads them through the one
 * grammar (src/units). A number is still accepted where config took one before (milliseconds for
 * durations, bytes for sizes); a string goes through the grammar. Parse errors become zod issues, so they are
 * reported with the key path like any other invalid value.
 */
import { z } from 'zod';
import type { SigflowError } from '../errors/index.js';
import { parseDuration, parseSize } from '../units/index.js';

export interface DurationSchemaOptions {
  allowZero?: boolean;
}

/** A duration in milliseconds: `"30s"`, `"500ms"`, `"2w"` or a number of ms. Fractions of a ms are kept. */
export function durationMs(options: DurationSchemaOptions = {}) {
  return z.union([z.number(), z.string()]).transform((v, ctx): number => {
    if (typeof v === 'number') {
      if (Number.isFinite(v) && (v > 0 || (v === 0 && options.allowZero))) return v;
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration ${options.allowZero ? '≥ 0' : '> 0'} (ms or "30s")`,
      });
      return z.NEVER;
    }
    try {
      return Number(parseDuration(v, 'duration', options)) / 1e6;
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as SigflowError).message.replace(/^duration: /, '') });
      return z.NEVER;
    }
  });
}

/** A whole number of milliseconds (rounded up from finer durations). */
export function durationWholeMs(options: DurationSchemaOptions = {}) {
  return durationMs(options).transform((ms) => Math.ceil(ms));
}

export interface SizeSchemaOptions {
  allowZero?: boolean;
}

/** A size in bytes: `"8MiB"`, `"1GB"` or a number of bytes. */
export function sizeBytes(options: SizeSchemaOptions = {}) {
  return z.union([z.number(), z.string()]).transform((v, ctx): number => {
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && (v > 0 || (v === 0 && options.allowZero))) return v;
      ctx.addIssue({
        code: 'custom',
        message: `expected a size ${options.allowZero ? '≥ 0' : '> 0'} (bytes or "8MiB")`,
      });
      return z.NEVER;
    }
    try {
      return parseSize(v, 'size', options);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as SigflowError).message.replace(/^size: /, '') });
      return z.NEVER;
    }
  });
}
