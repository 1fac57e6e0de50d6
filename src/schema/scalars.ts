/**
 * Booleans and numbers that may arrive as text: a value interpolated from the environment (`${USE_NOW_TIME}`,
 * `${BAUDRATE:-230400}`) is a string when the file quotes it. Accepted spellings: true/false, yes/no, on/off, 1/0
 * in any case (Python's `True`/`False` included); numbers in decimal.
 */
import { z } from 'zod';

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0', '']);

/** A boolean, or its text. */
export function boolFlag() {
  return z.union([z.boolean(), z.string()]).transform((v, ctx): boolean => {
    if (typeof v === 'boolean') return v;
    const t = v.trim().toLowerCase();
    if (TRUE.has(t)) return true;
    if (FALSE.has(t)) return false;
    ctx.addIssue({ code: 'custom', message: `expected true or false, got ${JSON.stringify(v)}` });
    return z.NEVER;
  });
}

/** A number, or its decimal text; `integer` refuses fractions. */
export function numberish(options: { integer?: boolean; min?: number; max?: number } = {}) {
  return z.union([z.number(), z.string()]).transform((v, ctx): number => {
    const n = typeof v === 'number' ? v : v.trim() === '' ? Number.NaN : Number(v.trim());
    const what = options.integer ? 'an integer' : 'a number';
    if (!Number.isFinite(n) || (options.integer && !Number.isInteger(n))) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    if (options.min !== undefined && n < options.min) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} ≥ ${options.min}, got ${n}` });
      return z.NEVER;
    }
    if (options.max !== undefined && n > options.max) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} ≤ ${options.max}, got ${n}` });
      return z.NEVER;
    }
    return n;
  });
}
