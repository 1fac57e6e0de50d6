/**
 * zod types for durations and sizes in config files, so every component's schema reads them through the one
 * grammar (src/units). A number is still accepted where config took one before (milliseconds for
 * durations, bytes for sizes); a string goes through the grammar. Parse errors become zod issues, so they are
 * reported with the key path like any other invalid value.
 */
import { z } from 'zod';
import type { SigflowError } from '../errors/index.js';
import { parseDuration, parseSize, TIMER_MAX_MS, timerTooLong } from '../units/index.js';

export interface DurationSchemaOptions {
  allowZero?: boolean;
  /**
   * A span that is compared with times, never waited for with a timer (a retention age, a partition interval, a
   * protocol's expiry): it may exceed TIMER_MAX_MS. Without it a duration is at most TIMER_MAX_MS.
   */
  long?: boolean;
}

/** A number (any: ±Infinity and NaN too) or a string; else the issue says what was expected. */
function numberOrString(expected: string) {
  return z.custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
    message: `expected ${expected}`,
  });
}

/** A duration in milliseconds: `"30s"`, `"500ms"`, `"2w"` or a number of ms. Fractions of a ms are kept. */
export function durationMs(options: DurationSchemaOptions = {}) {
  // any number, Infinity and NaN included (YAML's 1e400, .inf), so the issue can say what is wrong with it
  return numberOrString('a duration (ms or "30s")').transform((v, ctx): number => {
    let ms: number;
    if (typeof v === 'number') {
      if (!(Number.isFinite(v) && (v > 0 || (v === 0 && options.allowZero)))) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration ${options.allowZero ? '≥ 0' : '> 0'} (ms or "30s")${Number.isFinite(v) ? '' : `, got ${v}`}`,
        });
        return z.NEVER;
      }
      ms = v;
    } else {
      try {
        ms = Number(parseDuration(v, 'duration', options)) / 1e6;
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as SigflowError).message.replace(/^duration: /, '') });
        return z.NEVER;
      }
    }
    if (!options.long && ms > TIMER_MAX_MS) {
      ctx.addIssue({ code: 'custom', message: timerTooLong(ms) });
      return z.NEVER;
    }
    return ms;
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
  return numberOrString('a size (bytes or "8MiB")').transform((v, ctx): number => {
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
