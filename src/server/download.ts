/**
 * Rows of `/api/rows` as a file to download (`format=csv` or `format=parquet`): what the console plots, for a
 * spreadsheet or a notebook. CSV: `time` in ISO 8601 (UTC, ms) then one column per series, empty where a series
 * has no sample at that time. Parquet: `time` as TIMESTAMP(MICROS, UTC), one nullable DOUBLE per series.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyReply } from 'fastify';
import { DoubleColumn, TimestampUsColumn, writeParquetRows } from '../formats/parquet/index.js';

export type RowsFormat = 'json' | 'csv' | 'parquet';

type Row = Record<string, number | null>;

/**
 * A CSV cell of text (a column name: the values are numbers): quoted when it holds a comma, quote or line break;
 * and, as this file is meant for a spreadsheet, text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a
 * tab or CR first — a store field named `=HYPERLINK(…)`) gets a leading `'` (OWASP's CSV-injection advice).
 */
export function cell(s: string): string {
  const text = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function rowsCsv(rows: readonly Row[], columns: readonly string[]): string {
  const lines = [['time', ...columns].map(cell).join(',')];
  for (const r of rows) {
    const t = new Date(r.time as number).toISOString();
    lines.push([t, ...columns.map((c) => (r[c] === null || r[c] === undefined ? '' : String(r[c])))].join(','));
  }
  return `${lines.join('\n')}\n`;
}

export async function rowsParquet(rows: readonly Row[], columns: readonly string[]): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'sigflow-rows-'));
  try {
    const path = join(dir, 'rows.parquet');
    const t = new TimestampUsColumn('time', false);
    const cols = columns.map((c) => new DoubleColumn(c, true));
    await writeParquetRows(path, [t, ...cols], rows.length, (i) => {
      const r = rows[i];
      t.push(BigInt(Math.round((r.time as number) * 1000)));
      for (let c = 0; c < cols.length; c++) cols[c].push(r[columns[c]] ?? null);
    });
    return await readFile(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Sends rows in the format asked for; a file download names itself `<name>.<ext>`. */
export async function sendRows(
  reply: FastifyReply,
  rows: Row[],
  columns: readonly string[],
  format: RowsFormat,
  name: string,
): Promise<unknown> {
  if (format === 'json') return rows;
  const file = `${name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 100) || 'rows'}.${format}`;
  reply.header('content-disposition', `attachment; filename="${file}"`);
  if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(rowsCsv(rows, columns));
  return reply.type('application/vnd.apache.parquet').send(await rowsParquet(rows, columns));
}
