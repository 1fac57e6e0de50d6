/**
 * readWorkbook: the IoF metadata workbook (.xlsx, the format of the original project's metadata_example.xlsx)
 * → an IofProject (src/sinks/iof/project.ts), validated.
 *
 * Sheets, found by name (case-insensitive): `date_range` (optional: Project_start, Project_end), `tbrs`
 * (tbr_serial_id, frequency, include, cage_name), `3D` (include, active_cages: one row), `3D_cages` (name,
 * cagename, tbrs, tbr_depth, lines_depth, circles_depth, radius, centerX, centerY, lat_A … lon_C; needed only when
 * 3D include is TRUE), `tags` (tag_id, frequency, protocol, conversion_factor, data_type, cage_name, include,
 * serial_number, transmitter_type, duty_sec, auto_off_after_start, lifetime, commentrange_etc) and `mqtt_topics`
 * (optional: topic, quality_of_service; none → `#` at QoS 1). Other sheets (`About`) are ignored.
 *
 * Row 1 holds the headers: columns are found by name (case, spaces and underscores ignored; order free; other
 * columns ignored). Row 2 may be a row of descriptions, as in the example: it is skipped when it has text in
 * columns that must hold numbers, booleans or dates and none of those cells reads as one (so a real first row
 * with one typo is reported, not skipped). Empty rows are ignored. Cells may be numbers or numeric text,
 * booleans or TRUE/FALSE text, dates or date text, rich text or formulas (their cached result); lists are
 * written "320, 321, 322".
 *
 * A date without an offset is a wall-clock time in the project's time zone (Excel dates have none), written out
 * as RFC 3339 with that zone's offset.
 *
 * Every problem names its place as the spreadsheet shows it (`tags!D5 (conversion_factor): expected a number,
 * got "abc"`, `missing sheet "3D_cages"`, `sheet tbrs: no column "frequency"`); all of them are collected and
 * thrown together as IofWorkbookError (SF_ERR_IOF_WORKBOOK), the first one first. The project's own checks (a
 * cage with 3 TBRs, active cages that exist, QoS 0–2 …) are named by the cell they came from as well.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type ExcelJS from 'exceljs';
import { SigflowError } from '../../errors/index.js';
import { zipInflatedSize } from '../../formats/zip/index.js';
import { formatKeyPath } from '../../schema/index.js';
import { checkProject, type IofProject, IofProjectError, isTimeZone } from '../../sinks/iof/index.js';
import { parseTime, rfc3339InZone, wallClockToInstant } from '../../units/index.js';

export interface ReadWorkbookOptions {
  /** IANA zone of the local date/hour columns, and of dates written without an offset (default 'UTC'). */
  timeZone?: string;
  /** The project's name (default: the workbook's file stem). */
  name?: string;
}

/** How many problems the message lists (all of them are in `problems`). */
const MESSAGE_PROBLEMS = 20;
/** Collecting stops here: a sheet of garbage should not make a message of a million lines. */
const MAX_PROBLEMS = 500;

/**
 * The workbook cannot be read or does not describe a valid project (SF_ERR_IOF_WORKBOOK). `problems` holds every
 * line (`file: sheet!cell (column): what is wrong`); the message lists them, the first one first.
 */
export class IofWorkbookError extends SigflowError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    where?: string,
    cause?: unknown,
  ) {
    const shown = problems.slice(0, MESSAGE_PROBLEMS);
    if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more problems`);
    super('SF_ERR_IOF_WORKBOOK', shown.join('\n'), { where: where ?? file, cause });
  }
}

// ── cells ─────────────────────────────────────────────────────────────────────────────────────────────

/** A cell's value, flattened: rich text and hyperlinks to their text, formulas to their result, '' to null. */
type Cell = null | string | number | boolean | Date | { error: string };

function cellValue(raw: ExcelJS.CellValue): Cell {
  let v: unknown = raw;
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    const o = v as Record<string, unknown>;
    if ('formula' in o || 'sharedFormula' in o) v = o.result ?? null;
    else if (Array.isArray(o.richText)) v = (o.richText as { text?: string }[]).map((r) => r.text ?? '').join('');
    else if ('hyperlink' in o) v = o.text;
    if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      const inner = v as Record<string, unknown>;
      if (Array.isArray(inner.richText)) v = (inner.richText as { text?: string }[]).map((r) => r.text ?? '').join('');
      else if (typeof inner.error === 'string') return { error: inner.error };
      else return null;
    }
  }
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) return v;
  return null;
}

/** How a value is shown in a problem: text quoted, TRUE/FALSE, numbers, dates as the sheet shows them. */
function shown(v: Cell): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (v instanceof Date) return `the date ${v.toISOString().slice(0, 19).replace('T', ' ')}`;
  if (v !== null && typeof v === 'object') return `the error ${v.error}`;
  return String(v);
}

// ── value kinds ───────────────────────────────────────────────────────────────────────────────────────

type Kind = 'int' | 'number' | 'bool' | 'text' | 'date' | 'ints' | 'numbers' | 'texts';
type Value = number | boolean | string | number[] | string[];
type Parsed = { value: Value } | { error: string };

const EXPECTED: Readonly<Record<Kind, string>> = {
  int: 'an integer',
  number: 'a number',
  bool: 'TRUE or FALSE',
  text: 'text',
  date: 'a date and time like 2019-08-19 09:00:00',
  ints: 'a list of integers like "320, 321, 322"',
  numbers: 'a list of numbers like "0, 12.5, 25"',
  texts: 'a list of names like "cage_1, cage_2"',
};

const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const TRUE_TEXT = new Set(['true', 'yes', '1']);
const FALSE_TEXT = new Set(['false', 'no', '0']);
const OFFSET = /(?:[zZ]|[+-]\d{2}:?\d{2})$/;
/** Excel's day 0 for the 1900 date system, as ms since the epoch (1899-12-30). */
const EXCEL_EPOCH_MS = Date.UTC(1899, 11, 30);
/** Excel's last date, 9999-12-31 (serial 2958465). */
const MAX_DATE_MS = Date.UTC(10000, 0, 1);

function toNumber(v: Cell): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && NUMBER_TEXT.test(v)) return Number(v);
  return undefined;
}

function parseCell(v: Exclude<Cell, null>, kind: Kind, zone: string): Parsed {
  const fail = (): Parsed => {
    const hint = kind === 'number' && typeof v === 'string' && /^\d+,\d+$/.test(v) ? ' (use a decimal point)' : '';
    return { error: `expected ${EXPECTED[kind]}, got ${shown(v)}${hint}` };
  };
  if (typeof v === 'object' && !(v instanceof Date)) return { error: `the cell holds the error ${v.error}` };
  // a date cell whose number is no date (an error value, NaN, 1e300): ExcelJS hands an Invalid Date
  if (v instanceof Date && !(v.getTime() >= EXCEL_EPOCH_MS && v.getTime() < MAX_DATE_MS))
    return { error: `the cell holds no date Excel can show (serial number out of range)` };
  switch (kind) {
    case 'int': {
      const n = toNumber(v);
      return n !== undefined && Number.isInteger(n) ? { value: n } : fail();
    }
    case 'number': {
      const n = toNumber(v);
      return n !== undefined ? { value: n } : fail();
    }
    case 'bool': {
      if (typeof v === 'boolean') return { value: v };
      const t = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.toLowerCase() : '';
      if (TRUE_TEXT.has(t)) return { value: true };
      if (FALSE_TEXT.has(t)) return { value: false };
      return fail();
    }
    case 'text':
      if (typeof v === 'string') return { value: v };
      if (typeof v === 'number') return { value: String(v) };
      if (typeof v === 'boolean') return { value: v ? 'TRUE' : 'FALSE' };
      return { value: rfc3339InZone(wallClockToInstant(v.getTime(), zone), zone) };
    case 'date': {
      if (v instanceof Date) return { value: rfc3339InZone(wallClockToInstant(v.getTime(), zone), zone) };
      if (typeof v === 'number' && v > 0 && v < 2_958_466) {
        // an Excel serial date whose cell is not formatted as a date
        const wall = Math.round(EXCEL_EPOCH_MS + v * 86_400_000);
        return { value: rfc3339InZone(wallClockToInstant(wall, zone), zone) };
      }
      if (typeof v !== 'string' || /^-?\d+$/.test(v)) return fail();
      let ms: number;
      try {
        ms = Number(parseTime(v, 'date') / 1_000_000n);
      } catch {
        return fail();
      }
      return { value: rfc3339InZone(OFFSET.test(v) ? ms : wallClockToInstant(ms, zone), zone) };
    }
    case 'ints':
    case 'numbers': {
      if (typeof v === 'number') return kind === 'ints' && !Number.isInteger(v) ? fail() : { value: [v] };
      if (typeof v !== 'string') return fail();
      const items = v.split(/[,;\s]+/).filter((s) => s !== '');
      const out: number[] = [];
      for (const s of items) {
        const n = toNumber(s);
        if (n === undefined || (kind === 'ints' && !Number.isInteger(n))) return fail();
        out.push(n);
      }
      return { value: out };
    }
    case 'texts': {
      if (typeof v !== 'string') return typeof v === 'number' ? { value: [String(v)] } : fail();
      return {
        value: v
          .split(/[,;]/)
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      };
    }
  }
}

// ── sheets ────────────────────────────────────────────────────────────────────────────────────────────

interface Field {
  /** The project key the value goes to. */
  key: string;
  /** The header as the example workbook writes it (named in problems when the column is missing). */
  header: string;
  aliases?: string[];
  kind: Kind;
  /** The cell must not be empty. */
  required?: boolean;
  /** The column may be missing (its values are then empty). */
  optionalColumn?: boolean;
}

interface SheetSpec {
  name: string;
  fields: Field[];
}

const SHEETS = {
  dateRange: {
    name: 'date_range',
    fields: [
      { key: 'start', header: 'Project_start', aliases: ['start'], kind: 'date', required: true },
      { key: 'end', header: 'Project_end', aliases: ['end'], kind: 'date', required: true },
    ],
  },
  tbrs: {
    name: 'tbrs',
    fields: [
      { key: 'tbr_serial_id', header: 'tbr_serial_id', kind: 'int', required: true },
      { key: 'frequency', header: 'frequency', kind: 'int', required: true },
      { key: 'include', header: 'include', kind: 'bool', optionalColumn: true },
      { key: 'cage_name', header: 'cage_name', kind: 'text', optionalColumn: true },
    ],
  },
  positioning: {
    name: '3D',
    fields: [
      { key: 'enabled', header: 'include', kind: 'bool' },
      { key: 'active_cages', header: 'active_cages', kind: 'texts', optionalColumn: true },
    ],
  },
  cages: {
    name: '3D_cages',
    fields: [
      { key: 'name', header: 'name', kind: 'text', required: true },
      { key: 'cagename', header: 'cagename', kind: 'text', optionalColumn: true },
      { key: 'tbrs', header: 'tbrs', kind: 'ints', required: true },
      { key: 'tbr_depth', header: 'tbr_depth', kind: 'number', required: true },
      { key: 'lines_depth', header: 'lines_depth', kind: 'numbers', optionalColumn: true },
      { key: 'circles_depth', header: 'circles_depth', kind: 'numbers', optionalColumn: true },
      { key: 'radius', header: 'radius', kind: 'number', required: true },
      { key: 'center_x', header: 'centerX', kind: 'number', required: true },
      { key: 'center_y', header: 'centerY', kind: 'number', required: true },
      { key: 'lat_a', header: 'lat_A', kind: 'number', required: true },
      { key: 'lon_a', header: 'lon_A', kind: 'number', required: true },
      { key: 'lat_b', header: 'lat_B', kind: 'number', required: true },
      { key: 'lon_b', header: 'lon_B', kind: 'number', required: true },
      { key: 'lat_c', header: 'lat_C', kind: 'number', required: true },
      { key: 'lon_c', header: 'lon_C', kind: 'number', required: true },
    ],
  },
  tags: {
    name: 'tags',
    fields: [
      { key: 'tag_id', header: 'tag_id', kind: 'int', required: true },
      { key: 'frequency', header: 'frequency', kind: 'int', required: true },
      { key: 'protocol', header: 'protocol', kind: 'text', required: true },
      { key: 'conversion_factor', header: 'conversion_factor', kind: 'number', optionalColumn: true },
      { key: 'data_type', header: 'data_type', kind: 'text', optionalColumn: true },
      { key: 'cage_name', header: 'cage_name', kind: 'text', optionalColumn: true },
      { key: 'include', header: 'include', kind: 'bool', optionalColumn: true },
      { key: 'serial_number', header: 'serial_number', kind: 'text', optionalColumn: true },
      { key: 'transmitter_type', header: 'transmitter_type', kind: 'text', optionalColumn: true },
      { key: 'duty_sec', header: 'duty_sec', kind: 'text', optionalColumn: true },
      { key: 'auto_off_after_start', header: 'auto_off_after_start', kind: 'text', optionalColumn: true },
      { key: 'lifetime', header: 'lifetime', kind: 'text', optionalColumn: true },
      {
        key: 'comment',
        header: 'commentrange_etc',
        aliases: ['comment_range_etc', 'comment', 'comments'],
        kind: 'text',
        optionalColumn: true,
      },
    ],
  },
  mqttTopics: {
    name: 'mqtt_topics',
    fields: [
      { key: 'topic', header: 'topic', kind: 'text', required: true },
      { key: 'qos', header: 'quality_of_service', aliases: ['qos'], kind: 'int', optionalColumn: true },
    ],
  },
} as const satisfies Record<string, SheetSpec>;

/** A sheet or header name as compared: lower case, without spaces, underscores, dashes and dots. */
function nameKey(s: string): string {
  return s.toLowerCase().replace(/[\s_.-]+/g, '');
}

/** A column number → its letters (1 → A, 27 → AA). */
function columnLetters(col: number): string {
  let s = '';
  for (let n = col; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

interface Row {
  /** The sheet's name as the workbook writes it. */
  sheet: string;
  /** The row number as the sheet shows it. */
  n: number;
  values: Record<string, Value | null>;
  /** `sheet!D5 (header)` of a field's cell. */
  place: Record<string, string>;
}

interface Problem {
  place?: string;
  message: string;
}

class WorkbookReader {
  readonly problems: Problem[] = [];
  /** Key path (formatKeyPath) → the place it came from, for the project's own checks. */
  readonly places = new Map<string, string>();

  constructor(
    private readonly wb: ExcelJS.Workbook,
    private readonly zone: string,
  ) {}

  problem(place: string | undefined, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ place, message });
  }

  sheet(name: string): ExcelJS.Worksheet | undefined {
    return this.wb.worksheets.find((ws) => nameKey(ws.name) === nameKey(name));
  }

  /** The data rows of a sheet, or null when the sheet or a required column is missing (problems added). */
  table(spec: SheetSpec, required: boolean): Row[] | null {
    const ws = this.sheet(spec.name);
    if (!ws) {
      if (required) {
        const have = this.wb.worksheets.map((w) => w.name).join(', ');
        this.problem(undefined, `missing sheet "${spec.name}" (sheets: ${have || 'none'})`);
      }
      return null;
    }
    const sheetName = ws.name;
    // headers: row 1, by name
    const headers = new Map<string, { col: number; text: string }[]>();
    const headerRow = ws.getRow(1);
    const lastCol = headerRow.cellCount;
    const written: string[] = [];
    for (let c = 1; c <= lastCol; c++) {
      const v = cellValue(headerRow.getCell(c).value);
      if (v === null || typeof v === 'object') continue;
      const text = String(v);
      written.push(text);
      const list = headers.get(nameKey(text)) ?? [];
      list.push({ col: c, text });
      headers.set(nameKey(text), list);
    }
    const columns: { field: Field; col: number; text: string }[] = [];
    let complete = true;
    for (const field of spec.fields) {
      const keys = new Set([field.header, ...(field.aliases ?? [])].map(nameKey));
      const found = [...keys].flatMap((k) => headers.get(k) ?? []);
      if (found.length === 0) {
        if (!field.optionalColumn) {
          complete = false;
          const have = written.length ? written.map((h) => JSON.stringify(h)).join(', ') : 'none in row 1';
          this.problem(undefined, `sheet ${sheetName}: no column "${field.header}" (columns: ${have})`);
        }
        continue;
      }
      if (found.length > 1) {
        complete = false;
        const where = found.map((h) => `${JSON.stringify(h.text)} in ${columnLetters(h.col)}1`).join(', ');
        this.problem(undefined, `sheet ${sheetName}: column "${field.header}" is given more than once (${where})`);
        continue;
      }
      columns.push({ field, col: found[0].col, text: found[0].text });
    }
    if (!complete) return null;

    const placeOf = (col: { col: number; text: string }, n: number) =>
      `${sheetName}!${columnLetters(col.col)}${n} (${col.text})`;
    const rows: Row[] = [];
    // rows holding values only, in order (a sheet formatted down to row 1 048 576 costs nothing)
    const filled: ExcelJS.Row[] = [];
    ws.eachRow((row) => {
      if (row.number >= 2) filled.push(row);
    });
    for (const row of filled) {
      const n = row.number;
      const cells = columns.map((c) => cellValue(row.getCell(c.col).value));
      if (cells.every((v) => v === null)) continue;
      if (n === 2 && isDescriptionRow(columns, cells, this.zone)) continue;
      const values: Row['values'] = {};
      const place: Row['place'] = {};
      columns.forEach((c, i) => {
        const v = cells[i];
        place[c.field.key] = placeOf(c, n);
        if (v === null) {
          if (c.field.required) this.problem(placeOf(c, n), `missing (expected ${EXPECTED[c.field.kind]})`);
          values[c.field.key] = null;
          return;
        }
        const parsed = parseCell(v, c.field.kind, this.zone);
        if ('error' in parsed) {
          this.problem(placeOf(c, n), parsed.error);
          values[c.field.key] = null;
        } else values[c.field.key] = parsed.value;
      });
      // where a missing optional column would be, name the row
      for (const f of spec.fields) if (!(f.key in place)) place[f.key] = `${sheetName} row ${n}`;
      rows.push({ sheet: sheetName, n, values, place });
    }
    return rows;
  }

  /** The only data row of a one-row sheet (3D, date_range); more than one is a problem. */
  single(spec: SheetSpec, rows: Row[]): Row | undefined {
    if (rows.length > 1) {
      const ws = this.sheet(spec.name);
      this.problem(
        undefined,
        `sheet ${ws?.name ?? spec.name}: expected one row of values, found ${rows.length} (rows ${rows.map((r) => r.n).join(', ')})`,
      );
    }
    return rows[0];
  }

  /**
   * Records where each key of an item came from: `prefix` → the row, `prefix.key` → its cell; `derived` names
   * project keys made from a field (`depth` from `data_type`).
   */
  record(prefix: (string | number)[], row: Row, derived: Record<string, string> = {}): void {
    this.places.set(formatKeyPath(prefix), `${row.sheet} row ${row.n}`);
    for (const [field, place] of Object.entries(row.place)) this.places.set(formatKeyPath([...prefix, field]), place);
    for (const [key, field] of Object.entries(derived))
      this.places.set(formatKeyPath([...prefix, key]), row.place[field]);
  }

  /** The place a key path came from: that of its longest prefix that has one. */
  placeOf(path: readonly (string | number)[]): string | undefined {
    for (let n = path.length; n > 0; n--) {
      const p = this.places.get(formatKeyPath(path.slice(0, n)));
      if (p) return p;
    }
    return undefined;
  }
}

/**
 * Row 2 is a row of descriptions when it has text in columns that must hold numbers, booleans or dates and none
 * of those cells reads as one. A real first data row has at least one such cell that reads (tag_id, frequency …).
 */
function isDescriptionRow(columns: { field: Field }[], cells: Cell[], zone: string): boolean {
  let typed = 0;
  for (let i = 0; i < columns.length; i++) {
    const { kind } = columns[i].field;
    const v = cells[i];
    if (kind === 'text' || kind === 'texts' || v === null) continue;
    typed++;
    if (typeof v !== 'string') return false;
    if ('value' in parseCell(v, kind, zone)) return false;
  }
  return typed > 0;
}

// ── the workbook ──────────────────────────────────────────────────────────────────────────────────────

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const OLE_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0]);

/** A metadata workbook's size on disk, and inflated: far above any real one (~100 KB), far below a zip bomb's. */
const WORKBOOK_MAX_FILE = 64 * 1024 * 1024;
const WORKBOOK_MAX_INFLATED = 256 * 1024 * 1024;

async function openWorkbook(path: string): Promise<ExcelJS.Workbook> {
  const fail = (why: string, cause?: unknown) => new IofWorkbookError(path, [`${path}: ${why}`], path, cause);
  let head: Buffer;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw fail('is a folder, not an .xlsx workbook');
    const fh = await open(path, 'r');
    try {
      head = Buffer.alloc(4);
      const { bytesRead } = await fh.read(head, 0, 4, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof IofWorkbookError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (e as Error).message})`, e);
  }
  if (head.equals(OLE_MAGIC)) throw fail('is an Excel 97–2003 (.xls) workbook: save it as .xlsx (Excel Workbook)');
  if (!head.equals(ZIP_MAGIC)) {
    throw fail('is not an .xlsx workbook (an .xlsx file is a zip archive, and this one does not start like one)');
  }
  // the reader inflates every sheet in memory: measure what the archive inflates to first (a zip bomb)
  let bytes: Buffer;
  try {
    if ((await stat(path)).size > WORKBOOK_MAX_FILE)
      throw fail(`is larger than ${WORKBOOK_MAX_FILE} bytes: not a metadata workbook`);
    bytes = await readFile(path);
    await zipInflatedSize(bytes, path, { maxBytes: WORKBOOK_MAX_INFLATED, maxEntries: 10_000 });
  } catch (e) {
    if (e instanceof IofWorkbookError) throw e;
    const why = (e as Error).message.replace(`${path}: `, '');
    throw fail(
      e instanceof SigflowError && e.code === 'SF_ERR_ZIP_BOUND' ? why : `cannot be read as an .xlsx workbook (${why})`,
      e,
    );
  }
  // loaded here, not at start-up: ~400 modules that every other command (and `sigflow --help`) would pay for
  const { default: Excel } = await import('exceljs');
  const wb = new Excel.Workbook();
  try {
    await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  } catch (e) {
    throw fail(`cannot be read as an .xlsx workbook (${(e as Error).message})`, e);
  }
  if (wb.worksheets.length === 0) throw fail('has no sheets: is it an .xlsx workbook?');
  return wb;
}

/**
 * Reads the metadata workbook at `path` into a validated project. Throws IofWorkbookError (SF_ERR_IOF_WORKBOOK)
 * naming every problem's sheet, cell and column, or for a missing file or one that is not an .xlsx workbook; an
 * unknown `timeZone` is SF_ERR_IOF_PROJECT (`time_zone: …`).
 */
export async function readWorkbook(path: string, options: ReadWorkbookOptions = {}): Promise<IofProject> {
  const zone = options.timeZone ?? 'UTC';
  if (!isTimeZone(zone)) {
    throw new IofProjectError('(project)', [
      `time_zone: ${JSON.stringify(zone)} is not an IANA time zone (like Europe/Oslo or UTC)`,
    ]);
  }
  const wb = await openWorkbook(path);
  const r = new WorkbookReader(wb, zone);
  const project: Record<string, unknown> = {
    name: options.name ?? basename(path, extname(path)),
    time_zone: zone,
  };

  const dates = r.table(SHEETS.dateRange, false);
  const dateRow = dates && r.single(SHEETS.dateRange, dates);
  if (dateRow) {
    project.date_range = { start: dateRow.values.start, end: dateRow.values.end };
    r.record(['date_range'], dateRow);
  }

  const tbrs = r.table(SHEETS.tbrs, true) ?? [];
  project.tbrs = tbrs.map((row, i) => {
    r.record(['tbrs', i], row);
    const v = row.values;
    return {
      tbr_serial_id: v.tbr_serial_id,
      frequency: v.frequency,
      include: v.include ?? true,
      cage_name: v.cage_name ?? null,
    };
  });

  const positioningRows = r.table(SHEETS.positioning, true);
  const positioningRow = positioningRows && r.single(SHEETS.positioning, positioningRows);
  const enabled = positioningRow?.values.enabled === true;
  project.positioning = { enabled, active_cages: positioningRow?.values.active_cages ?? [] };
  if (positioningRow) r.record(['positioning'], positioningRow);

  // 3D_cages is needed when positioning is on; read when present all the same (its cages go to the project)
  const cages = r.table(SHEETS.cages, enabled) ?? [];
  project.cages = cages.map((row, i) => {
    r.record(['cages', i], row);
    const v = row.values;
    return {
      name: v.name,
      cagename: v.cagename ?? v.name,
      tbrs: v.tbrs,
      tbr_depth: v.tbr_depth,
      lines_depth: v.lines_depth ?? [],
      circles_depth: v.circles_depth ?? [],
      radius: v.radius,
      center_x: v.center_x,
      center_y: v.center_y,
      lat_a: v.lat_a,
      lon_a: v.lon_a,
      lat_b: v.lat_b,
      lon_b: v.lon_b,
      lat_c: v.lat_c,
      lon_c: v.lon_c,
    };
  });

  const tags = r.table(SHEETS.tags, true) ?? [];
  project.tags = tags.map((row, i) => {
    r.record(['tags', i], row, { depth: 'data_type' });
    const v = row.values;
    return {
      tag_id: v.tag_id,
      frequency: v.frequency,
      protocol: v.protocol,
      conversion_factor: v.conversion_factor ?? null,
      data_type: v.data_type ?? null,
      cage_name: v.cage_name ?? null,
      include: v.include ?? true,
      serial_number: v.serial_number ?? null,
      transmitter_type: v.transmitter_type ?? null,
      duty_sec: v.duty_sec ?? null,
      auto_off_after_start: v.auto_off_after_start ?? null,
      lifetime: v.lifetime ?? null,
      comment: v.comment ?? null,
    };
  });

  const topics = r.table(SHEETS.mqttTopics, false) ?? [];
  project.mqtt_topics = topics.map((row, i) => {
    r.record(['mqtt_topics', i], row);
    return { topic: row.values.topic, qos: row.values.qos ?? 1 };
  });

  const lines = (problems: Problem[]) => problems.map((p) => `${path}: ${p.place ? `${p.place}: ` : ''}${p.message}`);
  const whereOf = (p: Problem) => (p.place ? `${path}: ${p.place.replace(/ \(.*\)$/, '')}` : path);
  if (r.problems.length) throw new IofWorkbookError(path, lines(r.problems), whereOf(r.problems[0]));

  const checked = checkProject(project);
  if (checked.ok) return checked.project;
  const problems = checked.issues.map((i) => {
    const place = r.placeOf(i.path);
    return place ? { place, message: i.message } : { place: formatKeyPath(i.path), message: i.message };
  });
  throw new IofWorkbookError(path, lines(problems), whereOf(problems[0]));
}
