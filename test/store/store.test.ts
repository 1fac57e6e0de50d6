import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { TelemetryRecord } from '../../src/records/index.js';
import { StoreError, TimeSeriesStore } from '../../src/store/index.js';
import { rec } from '../harness/records.js';

const dir = mkdtempSync(join(tmpdir(), 'sigflow-store-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => TimeSeriesStore.open(join(dir, `s${n++}.db`));

describe('store writes', () => {
  test('round-trips every field type exactly, including int64 extremes, 1.0 vs 1n and ns times', () => {
    const s = fresh();
    const t0 = 1_700_000_000_123_456_789n;
    const rep = s.write([
      rec(t0, { f: 1.0, i: 9_223_372_036_854_775_807n, b: true, s: 'hé "x"\n', neg: -0.1 }),
      rec(t0 + 1n, { f: Number.POSITIVE_INFINITY, i: -9_223_372_036_854_775_808n, b: false, s: '', neg: 5e-324 }),
    ]);
    assert.deepEqual(rep, { samples: 10, rejected: [] });
    const got = new Map(s.samples({ measurement: 'm', from: 0n, to: 2n ** 62n }).map((x) => [x.series.field, x]));
    assert.deepEqual(got.get('f')?.samples, [
      { time: t0, value: 1 },
      { time: t0 + 1n, value: Number.POSITIVE_INFINITY },
    ]);
    assert.equal(got.get('f')?.series.type, 'float');
    assert.deepEqual(
      got.get('i')?.samples.map((x) => x.value),
      [2n ** 63n - 1n, -(2n ** 63n)],
    );
    assert.equal(got.get('i')?.series.type, 'integer');
    assert.deepEqual(
      got.get('b')?.samples.map((x) => x.value),
      [true, false],
    );
    assert.deepEqual(
      got.get('s')?.samples.map((x) => x.value),
      ['hé "x"\n', ''],
    );
    assert.deepEqual(
      got.get('neg')?.samples.map((x) => x.value),
      [-0.1, 5e-324],
    );
    s.close();
  });

  test('same series + time stores one sample, last value wins; tag order does not matter', () => {
    const s = fresh();
    s.write([rec(10n, { v: 1 }, { a: '1', b: '2' })]);
    s.write([rec(10n, { v: 2 }, { b: '2', a: '1' }), rec(10n, { v: 3 }, { a: '1', b: '2' })]);
    assert.equal(s.count(), 1);
    assert.equal(s.series().length, 1);
    assert.deepEqual(s.samples({ measurement: 'm', from: 0n, to: 100n })[0].samples, [{ time: 10n, value: 3 }]);
    s.close();
  });

  test('rejects type conflicts, NaN, int64 overflow and bad times per record, storing the rest', () => {
    const s = fresh();
    s.write([rec(1n, { v: 1.5 })]);
    const rep = s.write([
      rec(2n, { v: 7n, ok: 1 }),
      rec(3n, { v: Number.NaN }),
      rec(4n, { big: 2n ** 63n }),
      rec(2n ** 63n, { v: 1 }),
      rec(5n, { v: 2.5 }),
    ]);
    assert.equal(rep.samples, 2); // ok@2 and v@5
    assert.deepEqual(
      rep.rejected.map((r) => r.index),
      [0, 1, 2, 3],
    );
    assert.match(rep.rejected[0].reason, /type conflict.*"v".*integer.*float/);
    assert.match(rep.rejected[1].reason, /NaN/);
    assert.match(rep.rejected[2].reason, /outside int64/);
    assert.match(rep.rejected[3].reason, /int64 ns range/);
    assert.equal(s.count(), 3);
    s.close();
  });

  test('persists across reopen; a foreign SQLite file is refused with a clear error', () => {
    const p = join(dir, 'persist.db');
    const a = TimeSeriesStore.open(p);
    a.write([rec(1n, { v: 1n }, { dev: 'x' })]);
    a.close();
    const b = TimeSeriesStore.open(p);
    assert.equal(b.count(), 1);
    // the cache is rebuilt from the catalogue: the type is still enforced
    assert.equal(b.write([rec(2n, { v: 2.0 }, { dev: 'x' })]).rejected.length, 1);
    b.close();
    const ro = TimeSeriesStore.open(p, { readonly: true });
    assert.deepEqual(ro.measurements(), ['m']);
    ro.close();
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'not a database at all, just text'.repeat(200));
    assert.throws(
      () => TimeSeriesStore.open(junk),
      (e: unknown) => e instanceof StoreError && e.code === 'SF_ERR_STORE_OPEN' && e.message.includes(junk),
    );
    const other = join(dir, 'other.db');
    new Database(other).exec('CREATE TABLE t (x)').close();
    assert.throws(
      () => TimeSeriesStore.open(other),
      (e: unknown) => e instanceof StoreError && e.code === 'SF_ERR_STORE_NOT_A_STORE' && e.where === other,
    );
  });

  test('catalogue lists measurements, tag keys/values and fields', () => {
    const s = fresh();
    s.write([
      rec(1n, { speed: 1, gear: 2n }, { dev: 'a', bus: 'can0' }, 'engine'),
      rec(1n, { speed: 1 }, { dev: 'b', bus: 'can1' }, 'engine'),
      rec(1n, { temp: 20.5, label: 'x' }, { room: 'k' }, 'env'),
    ]);
    assert.deepEqual(s.measurements(), ['engine', 'env']);
    assert.deepEqual(s.tagKeys('engine'), ['bus', 'dev']);
    assert.deepEqual(s.tagKeys(), ['bus', 'dev', 'room']);
    assert.deepEqual(s.tagValues('dev', 'engine'), ['a', 'b']);
    assert.deepEqual(s.tagValues('dev', 'env'), []);
    assert.deepEqual(s.fields('engine'), [
      { field: 'gear', type: 'integer' },
      { field: 'speed', type: 'float' },
    ]);
    assert.equal(s.series('engine', { dev: 'b' }).length, 1);
    assert.equal(s.series('engine', undefined, ['speed']).length, 2);
    s.close();
  });

  test('retention deletes exactly the samples older than now - age, per series', () => {
    const s = fresh();
    const batch: TelemetryRecord[] = [];
    for (let i = 0n; i < 1000n; i++) batch.push(rec(i * 1000n, { v: Number(i) }, { d: String(i % 3n) }));
    s.write(batch);
    const deleted = s.applyRetention(500_000n, 1_000_000n); // cutoff 500_000 ns → times 0..499_000 go (500 samples)
    assert.equal(deleted, 500);
    assert.equal(s.count(), 500);
    for (const x of s.samples({ measurement: 'm', from: -1n, to: 2n ** 40n }))
      for (const p of x.samples) assert.ok(p.time >= 500_000n);
    assert.equal(s.applyRetention(500_000n, 1_000_000n), 0);
    assert.throws(
      () => s.applyRetention(-1n),
      (e: unknown) => e instanceof StoreError && e.code === 'SF_ERR_STORE_QUERY',
    );
    s.close();
  });

  test('bad queries are refused with a reason', () => {
    const s = fresh();
    const query = (e: unknown) => e instanceof StoreError && e.code === 'SF_ERR_STORE_QUERY';
    assert.throws(() => s.query({ measurement: 'm', from: 10n, to: 10n, points: 5 }), query);
    assert.throws(() => s.query({ measurement: 'm', from: 10n, to: 10n, points: 5 }), /empty/);
    assert.throws(() => s.query({ measurement: 'm', from: 0n, to: 10n, points: 0 }), /points/);
    assert.throws(() => s.query({ measurement: 'm', from: -(2n ** 63n), to: 2n ** 63n - 1n, points: 2 }), /wider/);
    assert.deepEqual(s.query({ measurement: 'nothing', from: 0n, to: 10n, points: 5 }), []);
    s.close();
    assert.throws(() => s.count(), /closed/);
    assert.throws(
      () => s.count(),
      (e: unknown) => e instanceof StoreError && e.code === 'SF_ERR_STORE_CLOSED',
    );
  });
});

/** Brute-force downsampling model: min/max/last with the time of a sample that has that value. */
function model(samples: Map<bigint, number>, from: bigint, to: bigint, points: number) {
  const w = (to - from + BigInt(points) - 1n) / BigInt(points);
  const buckets = new Map<bigint, [bigint, number][]>();
  for (const [t, v] of [...samples].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (t < from || t >= to) continue;
    const b = (t - from) / w;
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b)?.push([t, v]);
  }
  return { w, buckets };
}

describe('downsampling', () => {
  test('matches a brute-force model (fast-check): counts, min/max/last with their own timestamps, mean', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.bigInt({ min: -5000n, max: 5000n }), fc.integer({ min: -50, max: 50 })), {
          maxLength: 300,
        }),
        fc.bigInt({ min: -6000n, max: 4000n }),
        fc.bigInt({ min: 1n, max: 12000n }),
        fc.integer({ min: 1, max: 40 }),
        (pts, from, span, points) => {
          const s = TimeSeriesStore.open(':memory:');
          const truth = new Map<bigint, number>();
          for (const [t, v] of pts) truth.set(t, v / 4);
          s.write(pts.map(([t, v]) => rec(t, { v: v / 4 })));
          const to = from + span;
          const res = s.query({ measurement: 'm', from, to, points });
          const { w, buckets } = model(truth, from, to, points);
          if (pts.length === 0) {
            assert.deepEqual(res, []);
            s.close();
            return;
          }
          assert.equal(res.length, 1);
          const got = res[0].buckets;
          assert.equal(got.length, buckets.size);
          assert.ok(got.length <= points);
          for (const b of got) {
            const idx = (b.start - from) / w;
            assert.equal(b.start, from + idx * w);
            const rows = buckets.get(idx);
            assert.ok(rows, `bucket ${idx} should be empty`);
            assert.equal(b.count, rows.length);
            assert.ok(b.end <= to && b.end > b.start);
            const vals = rows.map((r) => r[1]);
            const mn = Math.min(...vals);
            const mx = Math.max(...vals);
            assert.equal(b.min?.value, mn);
            assert.equal(truth.get(b.min?.time as bigint), mn, 'min paired with its own timestamp');
            assert.equal(b.max?.value, mx);
            assert.equal(truth.get(b.max?.time as bigint), mx, 'max paired with its own timestamp');
            const lastRow = rows[rows.length - 1];
            assert.deepEqual(b.last, { time: lastRow[0], value: lastRow[1] });
            const mean = vals.reduce((a, c) => a + c, 0) / vals.length;
            assert.ok(Math.abs((b.mean?.value as number) - mean) < 1e-9);
            const centroid = rows.reduce((a, r) => a + Number(r[0] - b.start), 0) / rows.length;
            assert.ok(Math.abs(Number((b.mean?.time as bigint) - b.start) - centroid) <= 0.5 + 1e-9);
            for (const r of rows) assert.ok(r[0] >= b.start && r[0] < b.end);
          }
          s.close();
        },
      ),
      { numRuns: 300 },
    );
  });

  test('integer, boolean and string series keep their types in buckets; tag filter selects series', () => {
    const s = fresh();
    const batch: TelemetryRecord[] = [];
    for (let i = 0n; i < 100n; i++)
      batch.push(
        rec(i, { n: i * (i % 2n ? -1n : 1n), on: i % 10n === 3n, txt: `s${i}` }, { dev: i % 2n ? 'odd' : 'even' }),
      );
    s.write(batch);
    const res = s.query({ measurement: 'm', tags: { dev: 'odd' }, from: 0n, to: 100n, points: 2 });
    assert.equal(res.length, 3);
    const by = new Map(res.map((r) => [r.series.field, r.buckets]));
    const n = by.get('n') ?? [];
    assert.deepEqual(n[0].min, { time: 49n, value: -49n });
    assert.deepEqual(n[0].max, { time: 1n, value: -1n });
    assert.equal(n[0].count, 25);
    const on = by.get('on') ?? [];
    assert.deepEqual(on[0].max, { time: 3n, value: true });
    assert.equal(on[0].mean?.value, 5 / 25); // 3, 13, 23, 33, 43
    const txt = by.get('txt') ?? [];
    assert.equal(txt[1].min, null);
    assert.deepEqual(txt[1].last, { time: 99n, value: 's99' });
    s.close();
  });
});
