/**
 * The streaming Parquet writer (src/formats/parquet/writer.ts), read back with hyparquet: every column kind with
 * nulls and edge values, row groups every N rows and bounded by cells, bytes on disk before close, the temporary
 * file and rename, abort, and refused values.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';

import {
  DoubleColumn,
  Int32Column,
  Int64Column,
  ParquetFileWriter,
  ParquetWriteError,
  StringColumn,
  TimestampNsColumn,
} from '../../../src/formats/parquet/index.js';
import { columnOrders } from './_footer.js';

function read(path: string) {
  const b = readFileSync(path);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(file, { parsers: { timestampFromNanoseconds: (ns: bigint) => ns } });
  return {
    meta,
    rows: () =>
      parquetReadObjects({ file, parsers: { timestampFromNanoseconds: (ns: bigint) => ns } }) as Promise<
        Record<string, unknown>[]
      >,
  };
}

describe('ParquetFileWriter', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-parquet-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round trip of every column kind with nulls and edge values, a row group every 3 rows', async () => {
    const path = join(dir, 'kinds.parquet');
    const w = await ParquetFileWriter.open(path, { rowGroupSize: 3, metadata: { k: 'v' } });
    const t = new TimestampNsColumn('t', false);
    const s = new StringColumn('s', false, { dictionary: true });
    const sn = new StringColumn('sn', true);
    const i32 = new Int32Column('i32', false);
    const i32n = new Int32Column('i32n', true);
    const i64n = new Int64Column('i64n', true);
    const d = new DoubleColumn('d', false);
    const dn = new DoubleColumn('dn', true, { statistics: false });
    w.begin([t, s, sn, i32, i32n, i64n, d, dn]);
    const rows = [
      [1704067200123456789n, 'a', null, 1, null, -(2n ** 63n), Number.NaN, null],
      [-1n, 'b', 'x', -2147483648, 7, 2n ** 63n - 1n, -0, 1.5],
      [9223372036854775807n, 'a', 'é✓', 2147483647, null, null, Number.POSITIVE_INFINITY, null],
      [0n, '', null, 0, 0, 2n ** 53n + 1n, Number.MIN_VALUE, -1e308],
      [1n, 'a', null, 3, null, null, 0.1, Number.NEGATIVE_INFINITY],
    ] as const;
    for (const r of rows) {
      t.push(r[0]);
      s.push(r[1]);
      sn.push(r[2]);
      i32.push(r[3]);
      i32n.push(r[4]);
      i64n.push(r[5]);
      d.push(r[6]);
      dn.push(r[7]);
      w.endRow();
    }
    await w.close();
    const f = read(path);
    assert.deepEqual(
      f.meta.row_groups.map((g) => g.num_rows),
      [3n, 2n],
    );
    assert.deepEqual(f.meta.key_value_metadata, [{ key: 'k', value: 'v' }]);
    const chunk = (g: number, name: string) =>
      f.meta.row_groups[g].columns.find((c) => c.meta_data?.path_in_schema[0] === name)?.meta_data;
    assert.deepEqual(
      [chunk(0, 't')?.statistics?.min_value, chunk(0, 't')?.statistics?.max_value],
      [-1n, 9223372036854775807n],
      'statistics by default',
    );
    assert.equal(chunk(0, 'dn')?.statistics, undefined, 'statistics: false');
    assert.deepEqual(chunk(0, 't')?.encodings, ['DELTA_BINARY_PACKED']);
    assert.ok(chunk(0, 's')?.encodings.includes('RLE_DICTIONARY'));
    assert.ok(f.meta.row_groups.every((g) => g.columns.every((c) => c.meta_data?.codec === 'SNAPPY')));
    assert.match(f.meta.created_by ?? '', /^sigflow version \d+\.\d+\.\d+/);
    assert.deepEqual(columnOrders(readFileSync(path)), Array(8).fill({ field_1: {} }), 'column_orders: TYPE_ORDER');
    const got = await f.rows();
    assert.equal(got.length, rows.length);
    rows.forEach((r, i) => {
      const g = got[i];
      assert.deepEqual([g.t, g.s, g.sn, g.i32, g.i32n, g.i64n], r.slice(0, 6), `row ${i}`);
      assert.ok(Object.is(g.d, r[6]), `row ${i} d: ${g.d}`);
      assert.ok(Object.is(g.dn, r[7]), `row ${i} dn: ${g.dn}`);
    });
    assert.deepEqual(readdirSync(dir), ['kinds.parquet'], 'the temporary file was renamed');
  });

  it('streams: row groups reach the disk before close; maxCellsPerRowGroup bounds wide row groups', async () => {
    const path = join(dir, 'stream.parquet');
    const w = await ParquetFileWriter.open(path, { rowGroupSize: 1000, maxCellsPerRowGroup: 40 });
    const cols = Array.from({ length: 4 }, (_, c) => new DoubleColumn(`c${c}`, true));
    w.begin(cols);
    assert.equal(w.rowGroupSize, 10, '40 cells / 4 columns');
    for (let i = 0; i < 25; i++) {
      for (const c of cols) c.push(i % 3 === 0 ? null : i);
      w.endRow();
      if (w.hasPending) await w.drain();
    }
    assert.equal(w.rowGroups, 2);
    assert.equal(existsSync(path), false, 'not under its name before close');
    assert.ok(statSync(w.tmpPath).size > 100, 'two row groups on disk');
    await w.close();
    const f = read(path);
    assert.deepEqual(
      f.meta.row_groups.map((g) => g.num_rows),
      [10n, 10n, 5n],
    );
    const rows = await f.rows();
    assert.deepEqual(
      rows.map((r) => r.c3),
      Array.from({ length: 25 }, (_, i) => (i % 3 === 0 ? null : i)),
    );
  });

  it('abort removes the temporary file and leaves an existing file alone', async () => {
    const path = join(dir, 'abort.parquet');
    writeFileSync(path, 'keep');
    const w = await ParquetFileWriter.open(path, { rowGroupSize: 2 });
    const c = new Int32Column('c', false);
    w.begin([c]);
    for (let i = 0; i < 5; i++) {
      c.push(i);
      w.endRow();
    }
    await w.drain();
    assert.ok(existsSync(w.tmpPath));
    await w.abort();
    assert.equal(existsSync(w.tmpPath), false);
    assert.equal(readFileSync(path, 'utf8'), 'keep');
  });

  it('refuses nulls in required columns, values outside INT64, duplicate names; names an unwritable path', async () => {
    const path = join(dir, 'bad.parquet');
    const w = await ParquetFileWriter.open(path);
    assert.throws(() => w.begin([new DoubleColumn('a', false), new DoubleColumn('a', true)]), /defined twice/);
    assert.throws(() => new DoubleColumn('d', false).push(null), ParquetWriteError);
    assert.throws(() => new StringColumn('s', false).push(null), /not nullable/);
    assert.throws(() => new Int64Column('i', true).push(2n ** 63n), /outside the INT64 range/);
    assert.throws(() => new TimestampNsColumn('t', false).push(-(2n ** 63n) - 1n), /outside the INT64 range/);
    const code = (c: string) => (e: unknown) => e instanceof ParquetWriteError && e.code === c;
    assert.throws(
      () => w.begin([new DoubleColumn('a', false), new DoubleColumn('a', true)]),
      code('SF_ERR_PARQUET_SCHEMA'),
    );
    assert.throws(() => new Int64Column('i', true).push(2n ** 63n), code('SF_ERR_PARQUET_VALUE'));
    assert.throws(() => new DoubleColumn('d', false).push(null), code('SF_ERR_PARQUET_VALUE'));
    await w.abort();
    await assert.rejects(
      ParquetFileWriter.open(join(dir, 'missing', 'x.parquet')),
      /cannot write .*x\.parquet: ENOENT/,
    );
    const missing = join(dir, 'missing', 'x.parquet');
    await assert.rejects(
      ParquetFileWriter.open(missing),
      (e: unknown) => code('SF_ERR_PARQUET_WRITE')(e) && (e as ParquetWriteError).where === missing,
    );
  });
});
