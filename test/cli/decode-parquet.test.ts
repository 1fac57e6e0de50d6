/**
 * `sigflow decode --format parquet` end to end: the files are read back with hyparquet (an independent reader, the
 * writer library's companion) and compared with the NDJSON / wide CSV output of the same run arguments — row for
 * row, t as bigint, values exactly. Also: schema and encodings, several row groups, wide integers beyond 2^53 and
 * beyond INT64, an empty result, and failing runs that must not leave a file under the output name.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FileMetaData, parquetMetadata, parquetReadObjects } from 'hyparquet';
import { buildBusLog, type WriteFrame } from '../../src/formats/mdf4/writer.js';
import { runCli } from '../harness/cli.js';
import { cliArgv, fixturesDir } from '../harness/paths.js';

const DBC_ROOT = join(fixturesDir, 'canedge', 'dbc', 'api-examples', 'examples');
// (canmod-gps.dbc is not given: gnss.dbc defines its frame ids too, and one set refuses an id clash)
const FIXTURE_DBCS = [
  join(DBC_ROOT, 'data-processing', 'dbc_files', 'CSS-Electronics-SAE-J1939-DEMO.dbc'),
  join(DBC_ROOT, 'other', 'concatenate-mf4-by-period', 'dbc_files', 'gnss.dbc'),
].flatMap((f) => ['--dbc', f]);
const FIXTURE_LOGS = [join(fixturesDir, 'canedge'), join(fixturesDir, 'mdf4')];

type Row = Record<string, unknown>;

interface ParquetFile {
  meta: FileMetaData;
  /** Reads rows [start, end) as objects; timestamps as bigint ns. */
  rows: (start?: number, end?: number) => Promise<Row[]>;
}

function openParquet(path: string): ParquetFile {
  const b = readFileSync(path);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(file, { parsers: { timestampFromNanoseconds: (ns: bigint) => ns } });
  return {
    meta,
    rows: (rowStart = 0, rowEnd = Number(meta.num_rows)) =>
      parquetReadObjects({
        file,
        metadata: meta,
        rowStart,
        rowEnd,
        parsers: { timestampFromNanoseconds: (ns: bigint) => ns },
      }) as Promise<Row[]>,
  };
}

function columnsOf(meta: FileMetaData): Record<string, unknown>[] {
  return meta.schema.slice(1).map((e) => ({
    name: e.name,
    type: e.type,
    repetition: e.repetition_type,
    ...(e.logical_type ? { logical: e.logical_type } : {}),
  }));
}

function ndjsonLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  assert.equal(lines.pop(), '', 'NDJSON ends with a newline');
  return lines;
}

/** Same number, NaN equal to NaN (NDJSON writes -0 as 0, so 0 and -0 are the same here). */
function sameNumber(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}

/** A Parquet row of the long layout as the NDJSON line would show it. */
function asNdjson(r: Row, choices: boolean): Row {
  const o: Row = {
    t: (r.t as bigint).toString(),
    device: r.device,
    bus: r.bus,
    chn: r.chn,
    message: r.message,
    signal: r.signal,
  };
  const v = r.value as number;
  if (r.value_int !== null) o.value = (r.value_int as bigint).toString();
  else o.value = Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  if (r.sa !== null) o.sa = r.sa;
  if (choices && r.label !== null) o.label = r.label;
  return o;
}

/** Compares every Parquet row with its NDJSON line; returns the row count. */
async function assertSameAsNdjson(pq: ParquetFile, stdout: string, choices: boolean): Promise<number> {
  const lines = ndjsonLines(stdout);
  assert.equal(Number(pq.meta.num_rows), lines.length, 'row count = NDJSON line count');
  let at = 0;
  for (const rg of pq.meta.row_groups) {
    const n = Number(rg.num_rows);
    const rows = await pq.rows(at, at + n);
    assert.equal(rows.length, n);
    for (let j = 0; j < n; j++) {
      const want = JSON.parse(lines[at + j]) as Row;
      const got = asNdjson(rows[j], choices);
      assert.equal(typeof rows[j].t, 'bigint', 't is read back as a bigint');
      const ok =
        Object.keys(want).length === Object.keys(got).length &&
        Object.keys(want).every((k) => (k === 'value' ? sameNumber(want[k], got[k]) : want[k] === got[k]));
      if (!ok) assert.deepEqual(got, want, `row ${at + j}`);
    }
    at += n;
  }
  return at;
}

describe('sigflow decode --format parquet: fixture logs', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-cli-parquet-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('long layout: same rows as NDJSON (t as bigint, values, sa, labels), several row groups, typed schema', async () => {
    const out = join(dir, 'long.parquet');
    const args = ['decode', ...FIXTURE_LOGS, ...FIXTURE_DBCS, '--choices'];
    const [pqRun, nd] = await Promise.all([
      runCli([...args, '--format', 'parquet', '-o', out], { timeoutMs: 120_000 }),
      runCli([...args, '--format', 'ndjson'], { timeoutMs: 120_000 }),
    ]);
    assert.equal(pqRun.code, 0, pqRun.stderr);
    assert.equal(nd.code, 0, nd.stderr);
    const summary = (s: string) =>
      s
        .trim()
        .split('\n')
        .pop()
        ?.replace(/ in [\d.]+ s$/, '');
    assert.equal(summary(pqRun.stderr), summary(nd.stderr), 'same summary counts');
    const pq = openParquet(out);
    assert.deepEqual(columnsOf(pq.meta), [
      {
        name: 't',
        type: 'INT64',
        repetition: 'REQUIRED',
        logical: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' },
      },
      { name: 'device', type: 'BYTE_ARRAY', repetition: 'REQUIRED', logical: { type: 'STRING' } },
      { name: 'bus', type: 'BYTE_ARRAY', repetition: 'REQUIRED', logical: { type: 'STRING' } },
      { name: 'chn', type: 'INT32', repetition: 'REQUIRED' },
      { name: 'message', type: 'BYTE_ARRAY', repetition: 'REQUIRED', logical: { type: 'STRING' } },
      { name: 'signal', type: 'BYTE_ARRAY', repetition: 'REQUIRED', logical: { type: 'STRING' } },
      { name: 'value', type: 'DOUBLE', repetition: 'REQUIRED' },
      { name: 'value_int', type: 'INT64', repetition: 'OPTIONAL' },
      { name: 'sa', type: 'INT32', repetition: 'OPTIONAL' },
      { name: 'label', type: 'BYTE_ARRAY', repetition: 'OPTIONAL', logical: { type: 'STRING' } },
    ]);
    assert.ok(pq.meta.row_groups.length > 1, `several row groups (${pq.meta.row_groups.length})`);
    for (const rg of pq.meta.row_groups.slice(0, -1)) assert.equal(rg.num_rows, 131072n, 'default row-group size');
    for (const rg of pq.meta.row_groups) {
      for (const c of rg.columns) {
        const md = c.meta_data;
        assert.ok(md);
        assert.equal(md.codec, 'SNAPPY', md.path_in_schema.join('.'));
        if (['device', 'bus', 'message', 'signal'].includes(md.path_in_schema[0]))
          assert.ok(md.encodings.includes('RLE_DICTIONARY'), `${md.path_in_schema[0]}: ${md.encodings}`);
      }
    }
    const n = await assertSameAsNdjson(pq, nd.stdout, true);
    assert.ok(n > 300_000, `${n} rows`); // three row groups of 131 072
    // the fixture set has J1939 source addresses and VAL_ labels: both columns are exercised
    const sample = await pq.rows(0, 200_000);
    assert.ok(sample.some((r) => r.sa !== null));
    assert.ok(sample.some((r) => r.label !== null));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file left',
    );
  });

  it('wide layout (--resample 1s): same table as the wide CSV, rows over several row groups', async () => {
    const out = join(dir, 'wide.parquet');
    const args = ['decode', ...FIXTURE_LOGS, ...FIXTURE_DBCS, '--resample', '1s'];
    const [pqRun, csv] = await Promise.all([
      runCli([...args, '--format', 'parquet', '-o', out, '--row-group-size', '500'], { timeoutMs: 120_000 }),
      runCli([...args, '--format', 'csv'], { timeoutMs: 120_000 }),
    ]);
    assert.equal(pqRun.code, 0, pqRun.stderr);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.split('\n');
    assert.equal(lines.pop(), '');
    const header = (lines.shift() as string).split(',');
    const pq = openParquet(out);
    const cols = columnsOf(pq.meta);
    assert.deepEqual(
      cols.map((c) => c.name),
      header,
      'same columns, same order',
    );
    assert.deepEqual(cols[0].logical, { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' });
    for (const c of cols.slice(2)) assert.deepEqual([c.type, c.repetition], ['DOUBLE', 'OPTIONAL'], String(c.name));
    assert.ok(header.length > 20, `${header.length} columns`);
    assert.equal(Number(pq.meta.num_rows), lines.length);
    assert.ok(pq.meta.row_groups.length > 1, `${pq.meta.row_groups.length} row groups`);
    const rows = await pq.rows();
    for (let i = 0; i < lines.length; i++) {
      // no quoted fields here: names are plain identifiers
      const cells = lines[i].split(',');
      const r = rows[i];
      assert.equal((r.t as bigint).toString(), cells[0], `row ${i} t`);
      assert.equal(r.device, cells[1]);
      for (let c = 2; c < header.length; c++) {
        const v = r[header[c]];
        if (cells[c] === '') assert.equal(v, null, `row ${i} ${header[c]}`);
        else assert.ok(sameNumber(v, Number(cells[c])), `row ${i} ${header[c]}: ${v} vs ${cells[c]}`);
      }
    }
  });

  it('a failing run leaves no file under the output name (and no temporary file)', async () => {
    const garbage = join(dir, 'garbage.MF4');
    writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const out = join(dir, 'failed.parquet');
    // --fail-fast: the good fixture logs are decoded first (rows already encoded), then the corrupt file aborts
    let r = await runCli(
      ['decode', ...FIXTURE_LOGS, garbage, ...FIXTURE_DBCS, '--format', 'parquet', '-o', out, '--fail-fast'],
      {
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /fail-fast/);
    assert.equal(existsSync(out), false, 'no output file');
    // --resample beyond --max-cells fails after decoding
    r = await runCli(
      [
        'decode',
        ...FIXTURE_LOGS,
        ...FIXTURE_DBCS,
        '--format',
        'parquet',
        '-o',
        out,
        '--resample',
        '1s',
        '--max-cells',
        '10',
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--max-cells/);
    assert.equal(existsSync(out), false, 'no output file');
    // a file already there is left as it was
    writeFileSync(out, 'previous content');
    r = await runCli(
      ['decode', ...FIXTURE_LOGS, garbage, ...FIXTURE_DBCS, '--format', 'parquet', '-o', out, '--fail-fast'],
      {
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), 'previous content');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file left',
    );
    // without --fail-fast a corrupt file is skipped: the file is written (exit 1, like NDJSON)
    rmSync(out);
    r = await runCli(['decode', garbage, ...FIXTURE_LOGS, ...FIXTURE_DBCS, '--format', 'parquet', '-o', out], {
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(openParquet(out).meta.num_rows > 0n);
  });

  it('SIGTERM while writing: the temporary file is removed, no output file, killed by the signal', async () => {
    const out = join(dir, 'killed.parquet');
    const [cmd, ...pre] = cliArgv();
    const child = spawn(cmd, [...pre, 'decode', ...FIXTURE_LOGS, ...FIXTURE_DBCS, '--format', 'parquet', '-o', out], {
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
    // the temporary file is created just before decoding starts (which takes about a second here)
    const deadline = Date.now() + 30_000;
    while (!readdirSync(dir).some((f) => f.startsWith('killed.parquet.') && f.endsWith('.tmp'))) {
      assert.ok(Date.now() < deadline, 'the temporary file appears');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('killed.parquet')),
      [],
    );
  });
});

// ---- a hand-checkable log with integers wider than 2^53 -------------------------------------------------------

const START = 1704067200000000000n; // 2024-01-01T00:00:00Z
const DBC_WIDE = `VERSION ""
BS_:
BU_: N
BO_ 256 Engine: 2 N
 SG_ Rpm : 0|16@1+ (0.25,0) [0|16383.75] "rpm" N
BO_ 768 Big: 8 N
 SG_ U64 : 0|64@1+ (1,0) [0|0] "" N
BO_ 769 SBig: 8 N
 SG_ S64 : 0|64@1- (1,0) [0|0] "" N
VAL_ 256 Rpm 0 "stopped" ;
`;

function le64(v: bigint): number[] {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return [...b];
}

function frame(ms: number, id: number, data: number[]): WriteFrame {
  return { timeNs: START + BigInt(ms) * 1_000_000n, channel: 1, id, dlc: data.length, data: Uint8Array.from(data) };
}

const WIDE_FRAMES: WriteFrame[] = [
  frame(100, 256, [0x10, 0x27]), // Rpm 2500
  frame(110, 768, le64(2n ** 53n + 1n)), // exact in value_int, not in a double
  frame(120, 769, le64(-(2n ** 63n))), // INT64 minimum
  frame(1100, 768, le64(2n ** 64n - 1n)), // beyond INT64: value_int null, counted
  frame(1110, 769, le64(2n ** 63n - 1n)), // INT64 maximum
  frame(1200, 256, [0, 0]), // Rpm 0 "stopped"
];

describe('sigflow decode --format parquet: integers wider than 2^53, row groups, empty output, arguments', () => {
  let dir = '';
  let log = '';
  let dbc = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-cli-parquet-wide-'));
    const tree = join(dir, 'LOG', 'ABCD1234', '00000001');
    mkdirSync(tree, { recursive: true });
    log = join(tree, '00000001.MF4');
    writeFileSync(
      log,
      buildBusLog(WIDE_FRAMES, { layout: 'canedge-v2', startTimeNs: START, device: { serial: 'ABCD1234' } }),
    );
    dbc = join(dir, 'wide.dbc');
    writeFileSync(dbc, DBC_WIDE);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('long: value_int holds exact INT64 values, value the nearest double; beyond INT64 is null and warned', async () => {
    const out = join(dir, 'long.parquet');
    const r = await runCli(['decode', log, '--dbc', dbc, '--choices', '--format', 'parquet', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: 1 integer value\(s\) outside the INT64 range/);
    const pq = openParquet(out);
    const rows = await pq.rows();
    assert.deepEqual(
      rows.map((x) => [x.t, x.message, x.signal, x.value, x.value_int, x.label]),
      [
        [START + 100_000_000n, 'Engine', 'Rpm', 2500, null, null],
        [START + 110_000_000n, 'Big', 'U64', 2 ** 53, 2n ** 53n + 1n, null],
        [START + 120_000_000n, 'SBig', 'S64', -(2 ** 63), -(2n ** 63n), null],
        [START + 1_100_000_000n, 'Big', 'U64', 2 ** 64, null, null],
        [START + 1_110_000_000n, 'SBig', 'S64', 2 ** 63, 2n ** 63n - 1n, null],
        [START + 1_200_000_000n, 'Engine', 'Rpm', 0, null, 'stopped'],
      ],
    );
    // the NDJSON of the same run: exact decimal strings where value_int is set
    const nd = await runCli(['decode', log, '--dbc', dbc, '--choices']);
    const lines = ndjsonLines(nd.stdout).map((l) => JSON.parse(l) as Row);
    assert.equal(lines[1].value, '9007199254740993');
    assert.equal(lines[3].value, '18446744073709551615', 'NDJSON keeps it; Parquet warns');
    const asNd = rows.map((x) => asNdjson(x, true));
    assert.deepEqual(
      asNd.filter((_, i) => i !== 3),
      lines.filter((_, i) => i !== 3),
    );
  });

  it('--row-group-size 2: three row groups, same rows', async () => {
    const out = join(dir, 'groups.parquet');
    const r = await runCli(['decode', log, '--dbc', dbc, '--format', 'parquet', '-o', out, '--row-group-size', '2']);
    assert.equal(r.code, 0, r.stderr);
    const pq = openParquet(out);
    assert.deepEqual(
      pq.meta.row_groups.map((g) => g.num_rows),
      [2n, 2n, 2n],
    );
    const nd = await runCli(['decode', log, '--dbc', dbc, '--signals', '^(Engine|SBig)\\.']);
    const all = await pq.rows();
    assert.deepEqual(
      all.filter((x) => x.message !== 'Big').map((x) => asNdjson(x, false)),
      ndjsonLines(nd.stdout).map((l) => JSON.parse(l) as Row),
    );
  });

  it('wide: an INT64 column when every value is an exact integer in range, DOUBLE (rounded, warned) otherwise', async () => {
    const out = join(dir, 'wide.parquet');
    const r = await runCli(['decode', log, '--dbc', dbc, '--format', 'parquet', '-o', out, '--resample', '1s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: 2 integer value\(s\) wider than 2\^53 in DOUBLE columns/);
    const pq = openParquet(out);
    assert.deepEqual(
      columnsOf(pq.meta).map((c) => [c.name, c.type]),
      [
        ['t', 'INT64'],
        ['device', 'BYTE_ARRAY'],
        ['Big.U64', 'DOUBLE'],
        ['Engine.Rpm', 'DOUBLE'],
        ['SBig.S64', 'INT64'],
      ],
    );
    assert.deepEqual(await pq.rows(), [
      { t: START, device: 'ABCD1234', 'Big.U64': 2 ** 53, 'Engine.Rpm': 2500, 'SBig.S64': -(2n ** 63n) },
      {
        t: START + 1_000_000_000n,
        device: 'ABCD1234',
        'Big.U64': 2 ** 64,
        'Engine.Rpm': 0,
        'SBig.S64': 2n ** 63n - 1n,
      },
    ]);
  });

  it('no values: a valid file with the schema and no rows', async () => {
    const out = join(dir, 'empty.parquet');
    // (a --signals matching nothing is a usage error now: an empty --from/--to window gives no values)
    const window = ['--from', '2000-01-01T00:00:00Z', '--to', '2000-01-02T00:00:00Z'];
    const r = await runCli(['decode', log, '--dbc', dbc, ...window, '--format', 'parquet', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no value: no frame of the 1 file\(s\) lies in the --from\/--to window/);
    const pq = openParquet(out);
    assert.equal(pq.meta.num_rows, 0n);
    assert.equal(columnsOf(pq.meta).length, 9);
    assert.deepEqual(await pq.rows(), []);
  });

  it('a frame beyond the timestamp range fails the run only when it has values to write', async () => {
    // 2262-04-11: an Engine frame just inside the INT64 ns range, a Big frame beyond it
    const late = join(dir, 'LATE', 'ABCD1234', '00000001');
    mkdirSync(late, { recursive: true });
    const start = 2n ** 63n - 1n - 500_000_000n;
    const at = (ms: number, id: number, data: number[]): WriteFrame => ({
      ...frame(0, id, data),
      timeNs: start + BigInt(ms) * 1_000_000n,
    });
    const lateLog = join(late, '00000001.MF4');
    writeFileSync(
      lateLog,
      buildBusLog([at(100, 256, [0x10, 0x27]), at(1100, 768, le64(7n))], {
        layout: 'canedge-v2',
        startTimeNs: start,
        device: { serial: 'ABCD1234' },
      }),
    );
    const out = join(dir, 'late.parquet');
    const kept = await runCli([
      'decode',
      lateLog,
      '--dbc',
      dbc,
      '--signals',
      '^Engine',
      '--format',
      'parquet',
      '-o',
      out,
    ]);
    assert.equal(kept.code, 0, kept.stderr);
    const rows = await openParquet(out).rows();
    assert.deepEqual(
      rows.map((x) => [x.t, x.signal, x.value]),
      [[start + 100_000_000n, 'Rpm', 2500]],
    );
    const all = await runCli([
      'decode',
      lateLog,
      '--dbc',
      dbc,
      '--format',
      'parquet',
      '-o',
      join(dir, 'late2.parquet'),
    ]);
    assert.equal(all.code, 1, all.stderr);
    assert.match(all.stderr, /beyond the Parquet timestamp range .*SF_ERR_LOGDECODE_TIME_RANGE/);
    assert.equal(existsSync(join(dir, 'late2.parquet')), false);
  });

  it('bad arguments: parquet needs -o (exit 2); an unwritable -o fails before decoding (exit 1)', async () => {
    const cases: [string[], number, RegExp][] = [
      [
        ['decode', log, '--dbc', dbc, '--format', 'parquet'],
        2,
        /--format parquet writes a binary file: give it with -o/,
      ],
      [['decode', log, '--dbc', dbc, '--format', 'parquet', '-o', '-'], 2, /give it with -o/],
      [
        ['decode', log, '--dbc', dbc, '--format', 'parquet', '-o', 'x.parquet', '--row-group-size', '0'],
        2,
        /--row-group-size/,
      ],
      [['decode', log, '--dbc', dbc, '--format', 'parquet', '-o', dir], 2, /a folder; give the Parquet file's name/],
      [
        ['decode', log, '--dbc', dbc, '--format', 'parquet', '-o', join(dir, 'no', 'such', 'dir', 'x.parquet')],
        1,
        /cannot write .*x\.parquet: ENOENT/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.equal(existsSync('x.parquet'), false);
  });
});
