/**
 * The one grammar for sizes in flags and config keys: a plain number of bytes, or a number (integer or decimal)
 * and a unit — B; kB/KB, MB, GB, TB (powers of 1000); KiB, MiB, GiB, TiB (powers of 1024). Units are read without
 * regard to case except that an `i` always means the binary unit: `1GiB` = 1073741824, `1GB` = 1000000000.
 */
import { SigflowError } from '../errors/index.js';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const SIZE = /^(\d+)(?:\.(\d+))?\s*([a-zA-Z]+)?$/;

export interface SizeOptions {
  /** Accept 0 (e.g. "cache off"); by default a size must be at least 1 byte. */
  allowZero?: boolean;
}

/** Parses a size into whole bytes (a fraction of a byte is rounded down). `what` names the flag or key. */
export function parseSize(text: string, what: string, options: SizeOptions = {}): number {
  const m = SIZE.exec(text.trim());
  const unit = m ? SIZE_UNITS[(m[3] ?? 'b').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new SigflowError(
      'SF_ERR_UNITS_SIZE',
      `${what}: ${JSON.stringify(text)} is not a size (bytes, or a number and a unit: 64KiB, 8MiB, 1GiB, 1.5GB)`,
      { where: what },
    );
  }
  const bytes = Math.floor(Number(`${m[1]}.${m[2] ?? '0'}`) * unit);
  if (!Number.isSafeInteger(bytes) || (bytes === 0 && !options.allowZero)) {
    throw new SigflowError(
      'SF_ERR_UNITS_SIZE',
      `${what}: ${JSON.stringify(text)} must be ${options.allowZero ? 'at most 8 PiB' : 'between 1 byte and 8 PiB'}`,
      { where: what },
    );
  }
  return bytes;
}

/** Formats bytes for people: `1.5 GiB`, `512 B`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
