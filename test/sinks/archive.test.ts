import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { TelemetryRecord } from '../../src/records/record.js';
import {
  ArchiveFormatError,
  ArchiveSink,
  encodeArchiveLine,
  listArchive,
  parseArchiveLine,
  readArchiveFile,
  utcDate,
} from '../../src/sinks/archive/index.js';

const root = mkdtempSync(join(tmpdir(), 'sigflow-archive-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `a${n++}`);
const DAY = 86_400_000_000_000n;
const D0 = 19_700n * DAY; // 2023-12-09
const rec = (
  time: bigint,
  fields: TelemetryRecord['fields'],
  tags: Record<string, string> = { dev: 'x' },
): TelemetryRecord => ({
  time,
  measurement: 'raw',
  tags,
  fields,
});

function readAll(dir: string): TelemetryRecord[] {
  return listArchive(dir).flatMap((f) => readArchiveFile(f.file).records);
}

describe('archive sink', () => {
  test('UTC day of any ns time, including before 1970', () => {
    assert.equal(utcDate(0n), '1970-01-01');
    assert.equal(utcDate(-1n), '1969-12-31');
    assert.equal(utcDate(D0), '2023-12-09');
    assert.equal(utcDate(D0 - 1n), '2023-12-08');
  });

  test('line format round-trips every value exactly (fast-check)', () => {
    const value = fc.oneof(
      fc.double(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.boolean(),
      fc.string({ unit: 'binary' }),
    );
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.dictionary(fc.string({ minLength: 1 }), fc.string(), { noNullPrototype: true }),
        fc.dictionary(fc.string({ minLength: 1 }), value, { minKeys: 1, noNullPrototype: true }),
        (time, tags, fields) => {
          const r: TelemetryRecord = { time, measurement: 'm', tags, fields };
          const line = encodeArchiveLine(r);
          assert.ok(!line.includes('\n'));
          assert.deepEqual(parseArchiveLine(line), r);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('keys named __proto__ stay data', () => {
    const r: TelemetryRecord = {
      time: 1n,
      measurement: 'm',
      tags: JSON.parse('{"__proto__":"t"}'),
      fields: JSON.parse('{"__proto__":1}'),
    };
    r.fields = { ...r.fields, i: 5n };
    const back = parseArchiveLine(encodeArchiveLine(r));
    assert.deepEqual(Object.keys(back.fields), ['__proto__', 'i']);
    assert.deepEqual(back, r);
  });

  test('splits a batch by UTC date into day files, appends in order, reads back exactly', async () => {
    const dir = freshDir();
    const sink = new ArchiveSink({ type: 'archive', dir });
    const batch = [
      rec(D0 - 1n, { a: 1n }),
      rec(D0, { f: Number.NaN, z: -0 }),
      rec(D0 + 5n, { s: 'é\n"' }),
      rec(-1n, { b: true }),
    ];
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    assert.deepEqual(await sink.write([rec(D0 + 6n, { a: 2n })]), { kind: 'ok' });
    assert.deepEqual(
      listArchive(dir).map((f) => f.file.slice(dir.length + 1)),
      ['sigflow-1969-12-31.ndjson', 'sigflow-2023-12-08.ndjson', 'sigflow-2023-12-09.ndjson'],
    );
    assert.deepEqual(readArchiveFile(join(dir, 'sigflow-2023-12-09.ndjson')).records, [
      batch[1],
      batch[2],
      rec(D0 + 6n, { a: 2n }),
    ]);
    assert.equal(readAll(dir).length, 5);
    await sink.close();
  });

  test('a torn last line (crash mid-append) is cut on the next open; complete lines are kept', async () => {
    const dir = freshDir();
    const a = new ArchiveSink({ type: 'archive', dir });
    await a.write([rec(D0, { v: 1 }), rec(D0 + 1n, { v: 2 })]);
    await a.close();
    const file = join(dir, 'sigflow-2023-12-09.ndjson');
    appendFileSync(file, '{"time":"1701', 'utf8');
    assert.equal(readArchiveFile(file).tornTailBytes, 13);
    const b = new ArchiveSink({ type: 'archive', dir });
    assert.deepEqual(await b.write([rec(D0 + 2n, { v: 3 })]), { kind: 'ok' });
    assert.equal(b.repairedBytes, 13);
    const back = readArchiveFile(file);
    assert.equal(back.tornTailBytes, 0);
    assert.deepEqual(
      back.records.map((r) => r.fields.v),
      [1, 2, 3],
    );
    await b.close();
  });

  test('a batch that fails on one day file leaves no line in the others (retry does not duplicate)', async () => {
    const dir = freshDir();
    const sink = new ArchiveSink({ type: 'archive', dir });
    await sink.write([rec(D0, { v: 1 })]);
    mkdirSync(join(dir, 'sigflow-2023-12-10.ndjson')); // a directory where the next day's file should be
    const r = await sink.write([rec(D0 + 1n, { v: 2 }), rec(D0 + DAY, { v: 3 })]);
    assert.equal(r.kind, 'retry');
    assert.match((r as { reason: string }).reason, /EISDIR|illegal operation on a directory/);
    assert.deepEqual(
      readArchiveFile(join(dir, 'sigflow-2023-12-09.ndjson')).records.map((x) => x.fields.v),
      [1],
    );
    rmSync(join(dir, 'sigflow-2023-12-10.ndjson'), { recursive: true });
    assert.deepEqual(await sink.write([rec(D0 + 1n, { v: 2 }), rec(D0 + DAY, { v: 3 })]), { kind: 'ok' });
    assert.deepEqual(
      readAll(dir).map((x) => x.fields.v),
      [1, 2, 3],
    );
    await sink.close();
  });

  test('gzip rotation of closed days; late records for a rotated day go to a numbered part; nothing lost', async () => {
    const dir = freshDir();
    let now = Number((D0 + DAY + 3n * 3_600_000_000_000n) / 1_000_000n); // 2023-12-10 03:00 UTC
    const sink = new ArchiveSink(
      { type: 'archive', dir, gzip_closed_days: true, close_after: '1h' },
      { now: () => now },
    );
    await sink.write([rec(D0 - DAY, { v: 1 }), rec(D0, { v: 2 }), rec(D0 + DAY, { v: 3 })]);
    assert.deepEqual(
      sink.rotateClosedDays().map((f) => f.slice(dir.length + 1)),
      ['sigflow-2023-12-08.ndjson.gz', 'sigflow-2023-12-09.ndjson.gz'],
    );
    await sink.write([rec(D0 + 10n, { v: 4 })]); // late
    now += 3_600_000; // next hour: write() rotates by itself
    await sink.write([rec(D0 + DAY + 1n, { v: 5 })]);
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, [
      'sigflow-2023-12-08.ndjson.gz',
      'sigflow-2023-12-09.1.ndjson.gz',
      'sigflow-2023-12-09.ndjson.gz',
      'sigflow-2023-12-10.ndjson',
    ]);
    assert.deepEqual(
      readAll(dir)
        .map((x) => x.fields.v)
        .sort(),
      [1, 2, 3, 4, 5],
    );
    await sink.close();
  });

  test('corrupt lines are reported with file:line', () => {
    const dir = freshDir();
    mkdirSync(dir);
    const f = join(dir, 'sigflow-2023-12-09.ndjson');
    writeFileSync(f, `${encodeArchiveLine(rec(D0, { v: 1 }))}\n{"time":1}\n`);
    assert.throws(
      () => readArchiveFile(f),
      (e: Error) =>
        e instanceof ArchiveFormatError &&
        e.code === 'SF_ERR_SINK_ARCHIVE_LINE' &&
        e.where === `${f}:2` &&
        e.message === `${f}:2: time must be a decimal string`,
    );
    assert.throws(
      () => parseArchiveLine('{"time":"1","measurement":"m","tags":{},"fields":{"x":{"int":"1.5"}}}'),
      /unsupported value/,
    );
    assert.ok(readFileSync(f, 'utf8').length > 0);
  });
});
