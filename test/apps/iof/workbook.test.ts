/**
 * The IoF metadata workbook → project file: the original project's example workbook (in-repo copy,
 * test/fixtures/iof, MIT) gives the expected project; saveProject/loadProject round-trip it; broken workbooks
 * (made here with exceljs) and broken project files are SigflowErrors naming the sheet!cell or file:line and key.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createDeflateRaw } from 'node:zlib';
import ExcelJS from 'exceljs';
import { IofWorkbookError, readWorkbook } from '../../../src/apps/iof/index.js';
import { SigflowError } from '../../../src/errors/index.js';
import {
  cageOfTag,
  conversionFactor,
  depthTag,
  type IofProject,
  IofProjectError,
  loadProject,
  parseProjectText,
  projectIndex,
  saveProject,
} from '../../../src/sinks/iof/index.js';
import { fixturesDir, sharedData } from '../../harness/paths.js';

const EXAMPLE = join(fixturesDir, 'iof', 'metadata_example.xlsx');
const root = mkdtempSync(join(tmpdir(), 'sigflow-iof-workbook-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A copy of the example workbook with `edit` applied, written to a fresh file. */
async function variant(edit: (wb: ExcelJS.Workbook) => void): Promise<string> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(EXAMPLE);
  edit(wb);
  const path = join(root, `variant-${n++}.xlsx`);
  await wb.xlsx.writeFile(path);
  return path;
}

/** `bytes` spaces, raw-deflated as a stream (never held whole). */
async function deflatedSpaces(bytes: number): Promise<{ packed: Buffer; size: number }> {
  const z = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (d: Buffer) => out.push(d));
  const chunk = Buffer.alloc(1 << 22, 0x20);
  for (let n = 0; n < bytes; n += chunk.length) if (!z.write(chunk)) await once(z, 'drain');
  z.end();
  await once(z, 'end');
  return { packed: Buffer.concat(out), size: bytes };
}

/** A zip archive of deflated entries (local headers, central directory, end record). */
function zipOf(entries: [string, { packed: Buffer; size: number }][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let at = 0;
  for (const [name, { packed, size }] of entries) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(n.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(8, 10);
    c.writeUInt32LE(packed.length, 20);
    c.writeUInt32LE(size, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(at, 42);
    parts.push(local, n, packed);
    central.push(c, n);
    at += 30 + n.length + packed.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(at, 16);
  return Buffer.concat([...parts, cd, end]);
}

function sheet(wb: ExcelJS.Workbook, name: string): ExcelJS.Worksheet {
  const ws = wb.getWorksheet(name);
  assert.ok(ws, `the example has a sheet ${name}`);
  return ws;
}

/** Asserts a SigflowError with `code` whose message matches every pattern; returns it. */
async function rejection(p: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<SigflowError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SigflowError, `expected a SigflowError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const re of patterns) assert.match(caught.message, re);
  return caught;
}

test('the example workbook gives the expected project', async () => {
  const p = await readWorkbook(EXAMPLE, { timeZone: 'Europe/Oslo' });
  assert.equal(p.name, 'metadata_example');
  assert.equal(p.time_zone, 'Europe/Oslo');
  // Excel dates are wall-clock times: midnight in Oslo (summer time in May, also in July)
  assert.deepEqual(p.date_range, { start: '2019-05-10T00:00:00+02:00', end: '2020-07-01T00:00:00+02:00' });
  assert.deepEqual(p.tbrs, [{ tbr_serial_id: 320, frequency: 69, include: true, cage_name: 'Cage 3' }]);
  assert.deepEqual(p.positioning, {
    enabled: true,
    active_cages: ['cage_1_config_2', 'cage_2'],
    sound_speed: 1500,
    cage_margin: 1.1,
    max_pdop: 7,
    window: '5s',
  });
  assert.deepEqual(
    p.cages.map((c) => [c.name, c.cagename, c.tbrs]),
    [
      ['cage_1_config_1', 'Cage 1', [320, 321, 322]],
      ['cage_1_config_2', 'Cage 1', [320, 321, 322]],
      ['cage_2', 'Cage 2', [450, 470, 490]],
    ],
  );
  const c2 = p.cages[2];
  assert.deepEqual(
    [c2.tbr_depth, c2.lines_depth, c2.circles_depth, c2.radius, c2.center_x, c2.center_y],
    [3, [0, 12.5, 25], [0, 12.5], 25, 21.19, 13.27],
  );
  const latlon = (c: (typeof p.cages)[number]) => [c.lat_a, c.lon_a, c.lat_b, c.lon_b, c.lat_c, c.lon_c];
  assert.deepEqual(
    latlon(p.cages[1]),
    [64.97312433, 11.7236461317, 64.973234995, 11.7228485917, 64.97278156, 11.72298603],
  );
  assert.deepEqual(
    latlon(p.cages[2]),
    [64.971909822, 11.72621649, 64.97228405, 11.726058748, 64.972059242, 11.725338797],
  );
  assert.deepEqual(
    p.tags.map((t) => [t.tag_id, t.frequency, t.protocol, t.conversion_factor, t.depth, t.include]),
    [
      [1, 69, 'S256', 0.2, true, true],
      [2, 69, 'S256', 0.01358823529, false, true],
      [30, 73, 'S256', 0.2, true, true],
      [50, 69, 'S256', null, false, false],
      [70, 71, 'S256', 0.2, true, true],
    ],
  );
  assert.deepEqual(
    p.tags.map((t) => t.serial_number),
    ['1820001', '1820002', '1820030', '1820050', 'Unknown'],
  );
  assert.equal(p.tags[0].data_type, 'Depth [m]');
  assert.equal(p.tags[0].comment, 'meter pr step');
  assert.equal(p.tags[3].comment, null);
  assert.equal(p.tags[4].cage_name, 'cage 2');
  assert.deepEqual(p.mqtt_topics, [{ topic: 'lora/dev/ui/800', qos: 1 }]);
});

test('dates are read in the time zone given (UTC by default)', async () => {
  const p = await readWorkbook(EXAMPLE);
  assert.equal(p.time_zone, 'UTC');
  assert.deepEqual(p.date_range, { start: '2019-05-10T00:00:00Z', end: '2020-07-01T00:00:00Z' });
  const q = await readWorkbook(EXAMPLE, { timeZone: 'America/New_York', name: 'salmon' });
  assert.equal(q.name, 'salmon');
  assert.deepEqual(q.date_range, { start: '2019-05-10T00:00:00-04:00', end: '2020-07-01T00:00:00-04:00' });
  await rejection(
    readWorkbook(EXAMPLE, { timeZone: 'Europe/Olso' }),
    'SF_ERR_IOF_PROJECT',
    /time_zone: "Europe\/Olso"/,
  );
});

test('the in-repo example is the shared corpus copy', { skip: !sharedData && 'no ../shared/data' }, () => {
  const shared = join(sharedData as string, 'iof', 'metadata_example.xlsx');
  if (!existsSync(shared)) return;
  assert.ok(readFileSync(shared).equals(readFileSync(EXAMPLE)));
});

test('lookups: conversion factor, depth tag, a depth tag’s active cage (name matched loosely)', async () => {
  const p = await readWorkbook(EXAMPLE);
  assert.equal(conversionFactor(p, 1, 69), 0.2);
  assert.equal(conversionFactor(p, 2, 69), 0.01358823529);
  assert.equal(conversionFactor(p, 50, 69), null);
  assert.equal(conversionFactor(p, 1, 70), null); // same id, other frequency: another tag
  assert.equal(depthTag(p, 1, 69)?.tag_id, 1);
  assert.equal(depthTag(p, 2, 69), undefined);
  assert.equal(depthTag(p, 99, 69), undefined);
  // "Cage 1" → the active one of the two cages called Cage 1
  assert.equal(cageOfTag(p, 1, 69)?.name, 'cage_1_config_2');
  assert.equal(cageOfTag(p, 30, 73)?.name, 'cage_2');
  assert.equal(cageOfTag(p, 70, 71)?.name, 'cage_2'); // "cage 2" vs "Cage 2"
  assert.equal(cageOfTag(p, 2, 69), undefined); // not a depth tag
  const ix = projectIndex(p);
  assert.equal(projectIndex(p), ix, 'built once per project');
  assert.equal(ix.windowNs, 5_000_000_000n);
  assert.deepEqual(
    ix.activeCages.map((c) => c.name),
    ['cage_1_config_2', 'cage_2'],
  );
  assert.equal(ix.activeCageOfTbr(470)?.name, 'cage_2');
  assert.equal(ix.activeCageOfTbr(321)?.name, 'cage_1_config_2');
  assert.equal(ix.tbr(320)?.cage_name, 'Cage 3');
  assert.equal(ix.cage('CAGE_1_CONFIG_1')?.tbr_depth, 3);

  // positioning off: no active cages, so no depth tag has a cage
  const off = parseProjectText(
    JSON.stringify({ ...p, positioning: { ...p.positioning, enabled: false, active_cages: ['nonexistent'] } }),
    'off.yaml',
  );
  assert.equal(cageOfTag(off, 1, 69), undefined);
  assert.equal(depthTag(off, 1, 69)?.tag_id, 1);
});

test('saveProject → loadProject round trip, atomically, with a header naming the workbook', async () => {
  const p = await readWorkbook(EXAMPLE, { timeZone: 'Europe/Oslo' });
  const dir = join(root, 'project');
  const file = join(dir, 'project.yaml');
  await saveProject(file, p, { workbook: EXAMPLE });
  const text = readFileSync(file, 'utf8');
  assert.match(text.split('\n')[0], /^# .*generated .*from metadata_example\.xlsx/);
  assert.match(text, /edit it/);
  assert.match(text, /tbrs: \[320, 321, 322\]/);
  assert.deepEqual(readdirSync(dir), ['project.yaml'], 'no temporary file left');
  const back = await loadProject(file);
  assert.deepEqual(back, p);
  // saving again over it gives the same text
  await saveProject(file, back, { workbook: EXAMPLE });
  assert.equal(readFileSync(file, 'utf8'), text);
  // an invalid project is refused before anything is written
  const bad: IofProject = { ...p, mqtt_topics: [{ topic: 'x', qos: 3 as 1 }] };
  await rejection(saveProject(file, bad), 'SF_ERR_IOF_PROJECT', /mqtt_topics\[0\]\.qos: expected QoS 0, 1 or 2, got 3/);
  assert.equal(readFileSync(file, 'utf8'), text);
});

const MINIMAL = `
name: test
tbrs: [{ tbr_serial_id: 320, frequency: 69 }]
positioning:
  enabled: true
  active_cages: [a]
cages:
  - { name: a, cagename: A, tbrs: [1, 2, 3], tbr_depth: 3, radius: 25, center_x: 1, center_y: 2,
      lat_a: 64.9, lon_a: 11.7, lat_b: 64.9, lon_b: 11.7, lat_c: 64.9, lon_c: 11.7 }
tags:
  - { tag_id: 1, frequency: 69, protocol: s64k, conversion_factor: 0.2, data_type: ' depth [M]' }
`;

test('project files: defaults, normalised protocols, and problems named by file:line and key path', async () => {
  const p = parseProjectText(MINIMAL, 'p.yaml');
  assert.equal(p.time_zone, 'UTC');
  assert.equal(p.tags[0].protocol, 'S64K', "the original's S64k spelling is accepted and normalised");
  assert.equal(p.tags[0].depth, true, 'depth follows data_type when not given');
  assert.deepEqual(p.mqtt_topics, [{ topic: '#', qos: 1 }]);
  assert.equal(p.positioning.window, '5s');

  const bad = (text: string, ...patterns: RegExp[]) =>
    rejection(
      Promise.resolve().then(() => parseProjectText(text, 'p.yaml')),
      'SF_ERR_IOF_PROJECT',
      ...patterns,
    );
  await bad('name: [unclosed', /^p\.yaml:1:\d+: /);
  await bad(
    MINIMAL.replace('protocol: s64k', 'protocol: X99'),
    /p\.yaml:11: tags\[0\]\.protocol: expected one of R256, .*DS256, got "X99"/,
  );
  await bad(
    MINIMAL.replace('tag_id: 1,', 'tagId: 1,'),
    /tags\[0\]\.tagId: unknown key \(config keys are snake_case\)/,
    /tags\[0\]\.tag_id: missing/,
  );
  await bad(
    MINIMAL.replace('tbrs: [1, 2, 3]', 'tbrs: [1, 2]'),
    /p\.yaml:8: cages\[0\]\.tbrs: a cage needs exactly 3 TBRs \(A, B, C\), got 2: 1, 2/,
  );
  await bad(
    MINIMAL.replace('active_cages: [a]', 'active_cages: [a, b]'),
    /p\.yaml:6: positioning\.active_cages\[1\]: no cage named "b" \(cages: a\)/,
  );
  await bad(`${MINIMAL}mqtt_topics: [{ topic: t, qos: 5 }]\n`, /mqtt_topics\[0\]\.qos: expected QoS 0, 1 or 2, got 5/);
  await bad(`${MINIMAL}time_zone: Mars/Olympus\n`, /time_zone: expected an IANA time zone/);
  await bad(
    `${MINIMAL}  - { tag_id: 1, frequency: 69, protocol: S256 }\n`,
    /tags\[1\]\.tag_id: tag 1 at 69 kHz is listed twice/,
  );
  await bad(
    MINIMAL.replace('tag_id: 1,', 'tag_id: 300,').replace('s64k', 'S256'),
    /tag id 300 does not fit S256 \(1 byte: 0–255\)/,
  );
  await bad(`${MINIMAL}positioning: {}\n`, /Map keys must be unique/);
  const e = await bad(
    MINIMAL.replace('frequency: 69 }]', 'frequency: "69" }]'),
    /tbrs\[0\]\.frequency: expected number, got string/,
  );
  assert.ok(e instanceof IofProjectError);
  assert.equal(e.where, 'p.yaml:3');

  const missing = join(root, 'nope', 'project.yaml');
  await rejection(
    loadProject(missing),
    'SF_ERR_IOF_PROJECT',
    /project\.yaml: cannot read the project file \(no such file\)/,
  );
});

test('a workbook without the description row, columns in another order, values as text', async () => {
  const wb = new ExcelJS.Workbook();
  const add = (name: string, rows: ExcelJS.CellValue[][]) => {
    const ws = wb.addWorksheet(name);
    for (const r of rows) ws.addRow(r);
    return ws;
  };
  add('Date_Range', [
    ['project start', 'PROJECT_END'],
    ['2019-08-19 09:00:00', '2019-12-01T00:00:00Z'],
  ]);
  add('tbrs', [
    ['cage_name', 'notes', 'frequency', 'tbr_serial_id', 'include'],
    ['Cage 1', 'spare', '69', 320, 'FALSE'],
    [],
    [null, null, 70, '321', true],
  ]);
  add('3D', [
    ['active_cages', 'include'],
    [null, 'false'],
  ]);
  const tags = add('tags', [
    ['frequency', 'tag_id', 'protocol', 'data_type', 'conversion_factor'],
    [69, 1, ' r04k ', { richText: [{ text: 'Depth ' }, { font: { bold: true }, text: '[m]' }] }, '0.2'],
    [69, 2, 'S256', 'Temperature', { formula: '1/10', result: 0.1 }],
  ]);
  tags.getCell('A10').value = null; // formatting far below: empty rows are ignored
  const path = join(root, 'handmade.xlsx');
  await wb.xlsx.writeFile(path);

  const p = await readWorkbook(path, { timeZone: 'Europe/Oslo' });
  assert.equal(p.name, 'handmade');
  assert.deepEqual(p.date_range, { start: '2019-08-19T09:00:00+02:00', end: '2019-12-01T01:00:00+01:00' });
  assert.deepEqual(p.tbrs, [
    { tbr_serial_id: 320, frequency: 69, include: false, cage_name: 'Cage 1' },
    { tbr_serial_id: 321, frequency: 70, include: true, cage_name: null },
  ]);
  assert.deepEqual(p.positioning.enabled, false);
  assert.deepEqual(p.cages, [], 'no 3D_cages sheet is fine with positioning off');
  assert.deepEqual(
    p.tags.map((t) => [t.tag_id, t.protocol, t.data_type, t.depth, t.conversion_factor, t.include]),
    [
      [1, 'R04K', 'Depth [m]', true, 0.2, true],
      [2, 'S256', 'Temperature', false, 0.1, true],
    ],
  );
  assert.deepEqual(p.mqtt_topics, [{ topic: '#', qos: 1 }], 'no mqtt_topics sheet: everything at QoS 1');
});

test('a first data row with a typo in row 2 is reported, not taken for descriptions', async () => {
  const wb = new ExcelJS.Workbook();
  wb.addWorksheet('tbrs').addRows([
    ['tbr_serial_id', 'frequency'],
    [320, 'sixty-nine'],
  ]);
  wb.addWorksheet('3D').addRows([['include', 'active_cages']]);
  wb.addWorksheet('tags').addRows([
    ['tag_id', 'frequency', 'protocol'],
    [1, 69, 'S256'],
  ]);
  const path = join(root, 'typo.xlsx');
  await wb.xlsx.writeFile(path);
  await rejection(
    readWorkbook(path),
    'SF_ERR_IOF_WORKBOOK',
    /tbrs!B2 \(frequency\): expected an integer, got "sixty-nine"/,
  );
});

test('broken workbooks: each problem names sheet, cell and column', async () => {
  const W = 'SF_ERR_IOF_WORKBOOK';
  await rejection(
    readWorkbook(await variant((wb) => wb.removeWorksheet(sheet(wb, '3D_cages').id))),
    W,
    /missing sheet "3D_cages" \(sheets: About, date_range, tbrs, 3D, tags, mqtt_topics\)/,
  );
  await rejection(
    readWorkbook(await variant((wb) => wb.removeWorksheet(sheet(wb, 'tags').id))),
    W,
    /missing sheet "tags"/,
  );
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, 'tbrs').getCell('B1').value = 'freq';
      }),
    ),
    W,
    /sheet tbrs: no column "frequency" \(columns: "tbr_serial_id", "freq", "include", "cage_name"\)/,
  );
  const e = await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, 'tags').getCell('D5').value = 'abc';
        sheet(wb, 'tbrs').getCell('A3').value = 'x';
        sheet(wb, 'tags').getCell('B6').value = null;
      }),
    ),
    W,
    /^\S*variant-\d+\.xlsx: tbrs!A3 \(tbr_serial_id\): expected an integer, got "x"$/m,
  );
  assert.ok(e instanceof IofWorkbookError);
  assert.deepEqual(
    e.problems.map((p) => p.replace(/^.*?\.xlsx: /, '')),
    [
      'tbrs!A3 (tbr_serial_id): expected an integer, got "x"',
      'tags!D5 (conversion_factor): expected a number, got "abc"',
      'tags!B6 (frequency): missing (expected an integer)',
    ],
  );
  assert.match(e.message.split('\n')[0], /tbrs!A3 \(tbr_serial_id\)/, 'the first problem first');
  assert.match(e.where ?? '', /tbrs!A3$/);

  // a date cell whose number is no date (an error value, 1e300): named, not an internal error
  for (const bad of [new Date(Number.NaN), 1e300]) {
    await rejection(
      readWorkbook(
        await variant((wb) => {
          const c = sheet(wb, 'date_range').getCell('A3');
          c.value = bad;
          c.numFmt = 'yyyy-mm-dd';
        }),
      ),
      W,
      /date_range!A3 \(Project_start\): /,
    );
  }
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, '3D_cages').getCell('C4').value = '320, 321';
      }),
    ),
    W,
    /3D_cages!C4 \(tbrs\): a cage needs exactly 3 TBRs \(A, B, C\), got 2: 320, 321/,
  );
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, '3D').getCell('B3').value = 'cage_1_config_2, cage_9';
      }),
    ),
    W,
    /3D!B3 \(active_cages\): no cage named "cage_9" \(cages: cage_1_config_1, cage_1_config_2, cage_2\)/,
  );
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, 'mqtt_topics').getCell('B3').value = 3;
      }),
    ),
    W,
    /mqtt_topics!B3 \(quality_of_service\): expected QoS 0, 1 or 2, got 3/,
  );
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, 'tags').getCell('C4').value = 'S99';
      }),
    ),
    W,
    /tags!C4 \(protocol\): expected one of R256, R04K, R64K, S256, R01M, S64K, HS256, DS256, got "S99"/,
  );
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, '3D_cages').getCell('J5').value = { formula: 'NA()', result: { error: '#N/A' } };
      }),
    ),
    W,
    /3D_cages!J5 \(lat_A\): the cell holds the error #N\/A/,
  );
  await rejection(
    readWorkbook(
      await variant((wb) => {
        sheet(wb, 'tags').getCell('N1').value = 'Comment';
        sheet(wb, '3D').getCell('A4').value = false;
      }),
    ),
    W,
    /sheet 3D: expected one row of values, found 2 \(rows 3, 4\)/,
    /sheet tags: column "commentrange_etc" is given more than once \("commentrange_etc" in M1, "Comment" in N1\)/,
  );
  // the original's misspelling S64k is accepted
  const ok = await readWorkbook(
    await variant((wb) => {
      sheet(wb, 'tags').getCell('C4').value = 'S64k';
    }),
  );
  assert.equal(ok.tags[1].protocol, 'S64K');
});

test('files that are not workbooks', async () => {
  const W = 'SF_ERR_IOF_WORKBOOK';
  const text = join(root, 'notes.xlsx');
  writeFileSync(text, 'tbr_serial_id,frequency\n320,69\n');
  await rejection(readWorkbook(text), W, /notes\.xlsx: is not an \.xlsx workbook/);
  const xls = join(root, 'old.xls');
  writeFileSync(xls, Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]));
  await rejection(readWorkbook(xls), W, /old\.xls: is an Excel 97–2003 \(\.xls\) workbook: save it as \.xlsx/);
  const zip = join(root, 'broken.xlsx');
  writeFileSync(zip, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(40)]));
  await rejection(readWorkbook(zip), W, /broken\.xlsx: cannot be read as an \.xlsx workbook/);
  await rejection(readWorkbook(join(root, 'missing.xlsx')), W, /missing\.xlsx: no such file/);
  // a zip bomb: 1.6 MB that would inflate to 400 MB in memory — measured and refused first
  const bomb = join(root, 'bomb.xlsx');
  writeFileSync(bomb, zipOf([['xl/worksheets/sheet1.xml', await deflatedSpaces(400 * 1024 * 1024)]]));
  await rejection(
    readWorkbook(bomb),
    W,
    /bomb\.xlsx: entry xl\/worksheets\/sheet1\.xml inflates beyond .* limit of 268435456 bytes/,
  );
  // the same with an end record that counts no entries (the zip reader reads the records anyway), or with bytes
  // before the archive (the zip reader shifts every offset): refused, not measured as empty
  const zeroCount = readFileSync(bomb);
  zeroCount.writeUInt16LE(0, zeroCount.length - 22 + 8);
  zeroCount.writeUInt16LE(0, zeroCount.length - 22 + 10);
  writeFileSync(bomb, zeroCount);
  await rejection(readWorkbook(bomb), W, /bomb\.xlsx: cannot be read .*does not hold the 0 entries it counts/);
  const small = zipOf([['xl/workbook.xml', await deflatedSpaces(10)]]);
  writeFileSync(bomb, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(96), small]));
  await rejection(readWorkbook(bomb), W, /does not end where the end record begins/);
  await rejection(readWorkbook(root), W, /is a folder/);
});
