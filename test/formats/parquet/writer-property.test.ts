/**
 * The streaming writer's own encoder (writer.ts, encodings.ts, dictionary.ts, file.ts) on random tables: every
 * column kind, nullable or not, values that take each encoding path (string and number dictionaries and their
 * PLAIN fallbacks, RLE runs and bit-packed indexes, INT64 deltas in doubles and in bigints), row groups of every
 * size — read back exactly by hyparquet and by DuckDB, with each row group's statistics checked against the values.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import {
  type Column,
  DoubleColumn,
  Int32Column,
  Int64Column,
  ParquetFileWriter,
  StringColumn,
  TimestampNsColumn,
  TimestampUsColumn,
} from '../../../src/formats/parquet/index.js';

type Kind = 'tns' | 'tus' | 'i64' | 'i32' | 'f64' | 'str' | 'strdict';
type Value = bigint | number | string | null;

interface Spec {
  kind: Kind;
  nullable: boolean;
  statistics: boolean;
  values: Value[];
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

const few = <T>(pool: T[]) => fc.constantFrom(...pool);
const specialDoubles = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, -2.25, 5e-324];
// 'z'.repeat(300): a bound longer than the writer's 256-byte limit (left out of the statistics)
const strings = ['', 'a', 'b', 'é✓', '\u{1F600}', 'z', 'ab', 'Z', '\uffff', 'aa', 'z'.repeat(300)];

/** Values of one kind: a few repeated (dictionary paths, RLE runs) or all different (PLAIN paths). */
function valuesOf(kind: Kind, n: number, nullable: boolean): fc.Arbitrary<Value[]> {
  const base: fc.Arbitrary<Value> = (() => {
    switch (kind) {
      case 'tns':
      case 'tus':
      case 'i64':
        return fc.oneof(
          // around 2^52: deltas at the edge of the encoder's double path (upper halves 2^20 - 1 and 2^20 apart)
          few([0n, -1n, INT64_MAX, INT64_MIN, 1_700_000_000_000_000_000n, 2n ** 52n - 1n, 2n ** 52n, 1n - 2n ** 52n]),
          fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
          fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_700_000_000_001_000_000n }),
        );
      case 'i32':
        return fc.oneof(few([0, 1, 2, -1, 2147483647, -2147483648]), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
      case 'f64':
        return fc.oneof(few(specialDoubles), fc.double());
      default:
        return fc.oneof(few(strings), fc.string({ unit: 'binary', maxLength: 12 }));
    }
  })();
  const v = nullable ? fc.option(base, { nil: null, freq: 3 }) : base;
  return fc.oneof(
    fc.array(v, { minLength: n, maxLength: n }),
    // long runs of one value: RLE runs of indexes
    fc.tuple(v, v).map(([a, b]) => Array.from({ length: n }, (_, i) => (i % 37 < 30 ? a : b))),
    // sorted times, as logs have them (deltas in doubles)
    kind === 'tns' || kind === 'tus'
      ? fc
          .array(
            // gaps of up to 5 ms, or of 2^22–2^25 ns: miniblock widths on both sides of the packer's 24-bit path
            fc.oneof(fc.integer({ min: 0, max: 5_000_000 }), fc.integer({ min: 2 ** 22, max: 2 ** 25 })),
            { minLength: n, maxLength: n },
          )
          .map((gaps) => {
            let t = 1_700_000_000_000_000_000n;
            return gaps.map((g) => (t += BigInt(g)));
          })
      : fc.array(v, { minLength: n, maxLength: n }),
  );
}

const specs = (n: number): fc.Arbitrary<Spec[]> =>
  fc.array(
    fc
      .record({
        kind: fc.constantFrom<Kind>('tns', 'tus', 'i64', 'i32', 'f64', 'str', 'strdict'),
        nullable: fc.boolean(),
        statistics: fc.boolean(),
      })
      .chain((s) => valuesOf(s.kind, n, s.nullable).map((values) => ({ ...s, values }))),
    { minLength: 1, maxLength: 6 },
  );

const tables = fc
  .record({ n: fc.integer({ min: 0, max: 400 }), rowGroupSize: fc.integer({ min: 1, max: 300 }) })
  .chain(({ n, rowGroupSize }) => specs(n).map((cols) => ({ n, rowGroupSize, cols })));

function columnOf(s: Spec, name: string): Column & { push(v: never): void } {
  const o = { statistics: s.statistics };
  switch (s.kind) {
    case 'tns':
      return new TimestampNsColumn(name, s.nullable, o);
    case 'tus':
      return new TimestampUsColumn(name, s.nullable, o);
    case 'i64':
      return new Int64Column(name, s.nullable, o);
    case 'i32':
      return new Int32Column(name, s.nullable, o);
    case 'f64':
      return new DoubleColumn(name, s.nullable, o);
    case 'str':
      return new StringColumn(name, s.nullable, o);
    case 'strdict':
      return new StringColumn(name, s.nullable, { ...o, dictionary: true });
  }
}

const utf8 = new TextEncoder();
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

/** The min/max a reader should find for `values` (null: none), per the Parquet spec's orders. */
function bounds(kind: Kind, values: Value[]): [Value, Value] | null {
  const vs = values.filter((v) => v !== null && !(typeof v === 'number' && Number.isNaN(v)));
  if (vs.length === 0) return null;
  if (kind === 'str' || kind === 'strdict') {
    const s = [...(vs as string[])].sort(compareUtf8);
    return [s[0], s[s.length - 1]];
  }
  let min = vs[0] as number | bigint;
  let max = vs[0] as number | bigint;
  for (const v of vs as (number | bigint)[]) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (kind === 'f64') {
    if (min === 0) min = -0;
    if (max === 0) max = 0;
  }
  return [min, max];
}

/**
 * What DuckDB makes of a value: it reads both TIMESTAMP units as TIMESTAMP WITH TIME ZONE, in µs — nanoseconds
 * truncated toward zero — with a stored INT64_MAX (and -INT64_MAX) as ±infinity, which epoch_ns/epoch_us give
 * as null.
 */
function duckdbView(kind: Kind, v: Value): Value {
  if (typeof v !== 'bigint' || (kind !== 'tns' && kind !== 'tus')) return v;
  if (v === INT64_MAX || v === -INT64_MAX) return null;
  return kind === 'tns' ? (v / 1000n) * 1000n : v;
}

describe('ParquetFileWriter: random tables', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-parquet-prop-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('read back exactly by hyparquet and DuckDB, statistics per row group as the values say', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    let k = 0;
    try {
      await fc.assert(
        fc.asyncProperty(tables, async ({ n, rowGroupSize, cols }) => {
          const path = join(dir, `p${k++}.parquet`);
          const w = await ParquetFileWriter.open(path, { rowGroupSize });
          const columns = cols.map((s, c) => columnOf(s, `c${c}`));
          w.begin(columns);
          for (let i = 0; i < n; i++) {
            cols.forEach((s, c) => {
              columns[c].push(s.values[i] as never);
            });
            w.endRow();
            if (w.hasPending) await w.drain();
          }
          await w.close();

          // hyparquet: the values, and each row group's statistics
          const b = readFileSync(path);
          const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
          const parsers = {
            timestampFromNanoseconds: (x: bigint) => x,
            timestampFromMicroseconds: (x: bigint) => x,
          };
          const meta = parquetMetadata(file, { parsers });
          const rows = (await parquetReadObjects({ file, parsers })) as Record<string, unknown>[];
          assert.equal(rows.length, n);
          cols.forEach((s, c) => {
            for (let i = 0; i < n; i++)
              assert.ok(
                Object.is(rows[i][`c${c}`], s.values[i]),
                `hyparquet c${c} (${s.kind}) row ${i}: ${String(rows[i][`c${c}`])} ≠ ${String(s.values[i])}`,
              );
          });
          let from = 0;
          for (const g of meta.row_groups) {
            const to = from + Number(g.num_rows);
            for (const [c, s] of cols.entries()) {
              const st = g.columns[c].meta_data?.statistics;
              if (!s.statistics) {
                assert.equal(st, undefined);
                continue;
              }
              const part = s.values.slice(from, to);
              assert.equal(st?.null_count, BigInt(part.filter((v) => v === null).length), `c${c} null count`);
              const want = bounds(s.kind, part);
              const got = st?.min_value === undefined ? null : [st.min_value, st.max_value];
              if (want === null) {
                assert.equal(got, null, `c${c} (${s.kind}) has no bounds`);
                continue;
              }
              if (typeof want[0] === 'string' && Math.max(...want.map((x) => utf8.encode(x as string).length)) > 256) {
                assert.equal(got, null, `c${c} (${s.kind}) bounds too long to write`);
                continue;
              }
              assert.ok(got, `c${c} (${s.kind}) bounds`);
              assert.ok(
                Object.is(got[0], want[0]) && Object.is(got[1], want[1]),
                `c${c} (${s.kind}) bounds ${String(got)} ≠ ${String(want)}`,
              );
            }
            from = to;
          }
          assert.equal(from, n);

          // DuckDB: the values (times as integers; doubles compared by identity, NaN and -0 included)
          const select = cols
            .map((s, c) => (s.kind === 'tns' ? `epoch_ns(c${c})` : s.kind === 'tus' ? `epoch_us(c${c})` : `c${c}`))
            .join(', ');
          const got = (await con.runAndReadAll(`SELECT ${select} FROM read_parquet('${path}')`)).getRows();
          assert.equal(got.length, n);
          for (let i = 0; i < n; i++)
            cols.forEach((s, c) => {
              const v = got[i][c];
              const want = duckdbView(s.kind, s.values[i]);
              assert.ok(Object.is(v, want), `duckdb c${c} (${s.kind}) row ${i}: ${String(v)} ≠ ${String(want)}`);
            });
          rmSync(path);
        }),
        { numRuns: 150 },
      );
    } finally {
      con.closeSync();
      db.closeSync();
    }
  });
});
