/** Number and text formatting shared by the NDJSON and CSV writers (and the CSV prefixes of dbcset.ts). */

/** A CSV field: quoted (with doubled quotes) when it holds a quote, comma or line break. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A value as JSON: numbers as numbers, NaN/±Infinity as strings, -0 as 0. */
export function jsonNumber(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '0' : String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

/** A value as a CSV cell: NaN/±Infinity spelled out, -0 as 0. */
export function csvNumber(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '0' : String(v);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}
