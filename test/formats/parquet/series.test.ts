/**
 * The time-series encoder (src/formats/parquet/series.ts): random tables — rows in any order, nulls in any
 * pattern, every kind of double, times with gaps beyond 32 bits and before 1970 — read back exactly by hyparquet
 * and by DuckDB (values, nulls, t's statistics); bad times refused; a failed write leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { SigflowError } from '../../../src/errors/index.js';
import { encodeSeriesParquet, type SeriesTable, writeSeriesParquet } from '../../../src/formats/parquet/index.js';
import { columnOrders } from './_footer.js';

interface Case {
  t: number[];
  cols: { name: string; v: number[]; p: boolean[] }[];
  order: number[];
}

const T0 = 1_772_323_200_000_000; // 2026-03-01 in µs

const doubles = fc.oneof(
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    5e-324,
    1.7976931348623157e308,
  ),
);

const cases: fc.Arbitrary<Case> = fc
  .record({
    n: fc.integer({ min: 0, max: 700 }),
    ncols: fc.integer({ min: 0, max: 4 }),
    start: fc.oneof(fc.constant(T0), fc.integer({ min: -(2 ** 50), max: 2 ** 50 })),
    gaps: fc.constantFrom('dense', 'wide', 'mixed'),
    nulls: fc.constantFrom('none', 'all', 'some'),
    seed: fc.integer(),
    shuffle: fc.boolean(),
  })
  .chain(({ n, ncols, start, gaps, nulls, seed, shuffle }) =>
    fc.record({
      gapList: fc.array(
        gaps === 'dense'
          ? fc.integer({ min: 0, max: 2000 })
          : gaps === 'wide'
            ? fc.integer({ min: 0, max: 2 ** 40 })
            : fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 2 ** 31, max: 2 ** 36 })),
        { minLength: n, maxLength: n },
      ),
      values: fc.array(fc.array(doubles, { minLength: n, maxLength: n }), { minLength: ncols, maxLength: ncols }),
      present: fc.array(
        fc.array(nulls === 'none' ? fc.constant(true) : nulls === 'all' ? fc.constant(false) : fc.boolean(), {
          minLength: n,
          maxLength: n,
        }),
        { minLength: ncols, maxLength: ncols },
      ),
      seed: fc.constant(seed),
      shuffle: fc.constant(shuffle),
      start: fc.constant(start),
    }),
  )
  .map(({ gapList, values, present, seed, shuffle, start }) => {
    const t: number[] = [];
    let x = start;
    for (const g of gapList) {
      x += g;
      t.push(x);
    }
    // rows stored in a shuffled order, written in time order (ties keep storage order)
    const idx = t.map((_, i) => i);
    if (shuffle) {
      let s = seed >>> 0;
      for (let i = idx.length - 1; i > 0; i--) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const j = s % (i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
    }
    const stored = idx.map((i) => t[i]);
    const order = stored.map((_, i) => i).sort((a, b) => stored[a] - stored[b] || a - b);
    return {
      t: stored,
      cols: values.map((v, c) => ({ name: `s${c}`, v: idx.map((i) => v[i]), p: idx.map((i) => present[c][i]) })),
      order,
    };
  });

function tableOf(c: Case): SeriesTable {
  return {
    t: Float64Array.from(c.t),
    order: Uint32Array.from(c.order),
    columns: c.cols.map((col) => ({
      name: col.name,
      values: Float64Array.from(col.v),
      present: Uint8Array.from(col.p, (b) => (b ? 1 : 0)),
    })),
    metadata: { 'sigflow.test': 'yes' },
  };
}

/** The rows the file must hold: [t as bigint µs, value or null per column], in time order. */
function expected(c: Case): unknown[][] {
  return c.order.map((r) => [BigInt(c.t[r]), ...c.cols.map((col) => (col.p[r] ? col.v[r] : null))]);
}

async function readHyparquet(bytes: Uint8Array): Promise<unknown[][]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({
    file,
    parsers: { timestampFromMicroseconds: (us: bigint) => us },
  })) as Record<string, unknown>[];
  const meta = parquetMetadata(file);
  const names = meta.schema.slice(1).map((s) => s.name);
  return rows.map((r) => names.map((n) => r[n]));
}

function same(a: unknown[][], b: unknown[][], what: string): void {
  assert.equal(a.length, b.length, `${what}: rows`);
  for (let i = 0; i < a.length; i++)
    for (let k = 0; k < a[i].length; k++)
      assert.ok(Object.is(a[i][k], b[i][k]), `${what}: row ${i} column ${k}: ${String(a[i][k])} ≠ ${String(b[i][k])}`);
}

describe('encodeSeriesParquet', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-series-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('random tables read back exactly by hyparquet', async () => {
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const bytes = encodeSeriesParquet(tableOf(c));
        same(await readHyparquet(bytes), expected(c), 'hyparquet');
        const meta = parquetMetadata(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer,
        );
        assert.equal(Number(meta.num_rows), c.t.length);
        assert.deepEqual(
          meta.key_value_metadata?.map((kv) => [kv.key, kv.value]),
          [['sigflow.test', 'yes']],
        );
      }),
      { numRuns: 120 },
    );
  });

  it('random tables read back exactly by DuckDB, with t as TIMESTAMP WITH TIME ZONE and its statistics', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    try {
      let k = 0;
      await fc.assert(
        fc.asyncProperty(cases, async (c) => {
          const path = join(dir, `d${k++}.parquet`);
          await writeSeriesParquet(path, tableOf(c));
          const cols = c.cols.map((col) => `, "${col.name}"`).join('');
          const rows = (
            await con.runAndReadAll(`SELECT epoch_us(t) AS us${cols} FROM read_parquet('${path}')`)
          ).getRows() as unknown[][];
          // DuckDB gives NaN as NaN, nulls as null, -0 as -0
          same(
            rows.map((r) => [BigInt(r[0] as bigint), ...r.slice(1)]),
            expected(c),
            'duckdb',
          );
          const types = (
            await con.runAndReadAll(`SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet('${path}'))`)
          ).getRows();
          assert.equal(types[0][0], 'TIMESTAMP WITH TIME ZONE');
          for (const t of types.slice(1)) assert.equal(t[0], 'DOUBLE');
          if (c.t.length > 0) {
            const st = (
              await con.runAndReadAll(
                `SELECT stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata('${path}') WHERE path_in_schema = 't'`,
              )
            ).getRows()[0];
            const min = Math.min(...c.t);
            const max = Math.max(...c.t);
            assert.equal(Number(st[2]), 0);
            assert.ok(st[0] !== null && st[1] !== null, 't has min/max statistics');
            const us = (
              await con.runAndReadAll(`SELECT epoch_us(min(t)), epoch_us(max(t)) FROM read_parquet('${path}')`)
            ).getRows()[0];
            assert.deepEqual([Number(us[0]), Number(us[1])], [min, max]);
          }
          rmSync(path);
        }),
        { numRuns: 60 },
      );
    } finally {
      con.closeSync();
      db.closeSync();
    }
  });

  it('times anywhere below 2^53 µs, with gaps beyond 2^52, read back exactly; column_orders written', async () => {
    const t = [-(2 ** 53) + 1, -4503599627370497, 1000, 2 ** 52 + 1, 2 ** 53 - 1, 0, 2 ** 53 - 1];
    const c: Case = {
      t,
      cols: [{ name: 'v', v: t.map((_, i) => i), p: t.map(() => true) }],
      order: t.map((_, i) => i),
    };
    const bytes = encodeSeriesParquet(tableOf(c));
    same(await readHyparquet(bytes), expected(c), 'hyparquet');
    assert.deepEqual(columnOrders(bytes), [{ field_1: {} }, { field_1: {} }]);
  });

  it('refuses a time that is not an integral number of µs below 2^53', () => {
    for (const bad of [1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY])
      assert.throws(
        () => encodeSeriesParquet({ t: Float64Array.of(bad), order: Uint32Array.of(0), columns: [] }),
        RangeError,
      );
  });

  it('a write that fails leaves no file and names the path', async () => {
    const path = join(dir, 'missing-folder', 'x.parquet');
    await assert.rejects(
      writeSeriesParquet(path, { t: Float64Array.of(T0), order: Uint32Array.of(0), columns: [] }),
      (e: unknown) => e instanceof SigflowError && e.code === 'SF_ERR_IO_WRITE' && e.message.includes(path),
    );
    assert.equal(existsSync(join(dir, 'missing-folder')), false);
    const ok = join(dir, 'ok.parquet');
    await writeSeriesParquet(ok, { t: Float64Array.of(T0), order: Uint32Array.of(0), columns: [] });
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp')),
      [],
    );
    assert.equal(readFileSync(ok).subarray(0, 4).toString(), 'PAR1');
  });
});
