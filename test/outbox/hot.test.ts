/**
 * The in-memory shortcut for recently enqueued batches (src/outbox/hot.ts): sinks that keep up are handed the
 * enqueued records themselves; everything else is read back from disk; delivery is the same either way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HotBatches } from '../../src/outbox/hot.js';
import { Outbox } from '../../src/outbox/outbox.js';
import type { TelemetryRecord } from '../../src/records/record.js';
import { range, ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

test('HotBatches: bounded by encoded bytes, each sink takes a batch once, forgotten below an id', () => {
  const h = new HotBatches(100);
  const r = seqRecords(0, 3);
  h.remember(1, r, 60, ['a', 'b']);
  h.remember(2, r, 60, ['a', 'b']); // does not fit: not remembered
  h.remember(3, r, 40, ['a']);
  assert.equal(h.size, 2);
  assert.equal(h.usedBytes, 100);
  assert.equal(h.take(2, 'a'), undefined);
  assert.equal(h.take(1, 'a'), r);
  assert.equal(h.take(1, 'a'), undefined, 'taken once per sink');
  assert.equal(h.take(1, 'c'), undefined, 'not owed to c');
  assert.equal(h.take(1, 'b'), r);
  assert.equal(h.size, 1, 'freed once every sink took it');
  h.remember(4, r, 10, ['a']);
  h.forgetBelow(4);
  assert.equal(h.size, 1);
  assert.equal(h.take(4, 'a'), r);
  assert.equal(h.usedBytes, 0);
  new HotBatches(0).remember(1, r, 1, ['a']);
});

/** Which delivered records are the enqueued objects themselves (from memory) rather than decoded copies. */
function identical(delivered: readonly TelemetryRecord[], enqueued: readonly TelemetryRecord[]): number {
  const mine = new Set(enqueued);
  return delivered.filter((r) => mine.has(r)).length;
}

test('a sink that keeps up gets the enqueued records from memory; with the cache off, decoded copies; same data', async (t) => {
  for (const memoryCacheBytes of [undefined, 0]) {
    const dir = tempDir(t);
    const a = new ScriptedSink('a');
    const b = new ScriptedSink('b');
    const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: a }, { sink: b }], logger: silent, memoryCacheBytes });
    const enq: TelemetryRecord[] = [];
    for (let i = 0; i < 4; i++) {
      const recs = seqRecords(i * 10, 10);
      enq.push(...recs);
      await ob.enqueue(recs);
      await ob.deliverOnce('a');
      await ob.deliverOnce('b');
    }
    assert.deepEqual(a.times(), range(0, 40));
    assert.deepEqual(b.times(), range(0, 40));
    assert.deepEqual(a.accepted, enq, 'same content either way');
    const want = memoryCacheBytes === 0 ? 0 : 40;
    assert.equal(identical(a.accepted, enq), want);
    assert.equal(identical(b.accepted, enq), want);
    assert.equal(ob.hot.size, 0, 'nothing left in memory once both sinks took every batch');
    await ob.close();
  }
});

test('past the memory budget the rest is read from disk: every record once, in order', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: a, batchSize: 25 }], logger: silent, memoryCacheBytes: 1500 });
  const enq: TelemetryRecord[] = [];
  for (let i = 0; i < 10; i++) {
    const recs = seqRecords(i * 10, 10);
    enq.push(...recs);
    await ob.enqueue(recs);
  }
  assert.ok(ob.hot.size > 0 && ob.hot.size < 10, `some batches in memory (${ob.hot.size})`);
  for (let i = 0; i < 100 && (await ob.deliverOnce('a')).kind !== 'idle'; i++);
  assert.deepEqual(a.times(), range(0, 100));
  const n = identical(a.accepted, enq);
  assert.ok(n > 0 && n < 100, `${n} records came from memory, the rest from disk`);
  assert.equal(ob.hot.size, 0);
  await ob.close();
});

test('batches dropped by a full outbox (drop_oldest) are forgotten in memory too', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [{ sink: a }],
    logger: silent,
    maxBytes: 4000,
    whenFull: 'drop_oldest',
  });
  for (let i = 0; i < 30; i++) await ob.enqueue(seqRecords(i * 10, 10));
  const st = ob.status();
  assert.ok(st.sinks[0].droppedRecords > 0, 'the budget forced drops');
  assert.ok(ob.hot.size <= st.pendingBatches, `memory holds ${ob.hot.size} ≤ ${st.pendingBatches} pending batches`);
  for (let i = 0; i < 100 && (await ob.deliverOnce('a')).kind !== 'idle'; i++);
  assert.equal(a.accepted.length + st.sinks[0].droppedRecords, 300, 'delivered + counted drops = enqueued');
  assert.equal(ob.hot.size, 0);
  await ob.close();
});

test('records with inherited tags or fields are not served from memory: what a sink gets never depends on it', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: a }], logger: silent });
  const common = { site: 'plant-7' };
  const tags = Object.assign(Object.create(common) as Record<string, string>, { device: 'd1' });
  const recs: TelemetryRecord[] = [{ time: 1n, measurement: 'm', tags, fields: { v: 1.5 } }];
  await ob.enqueue(recs);
  assert.equal(ob.hot.size, 0, 'not remembered');
  await ob.deliverOnce('a');
  assert.equal(identical(a.accepted, recs), 0);
  assert.deepEqual(
    a.accepted[0].tags,
    { device: 'd1', site: 'plant-7' },
    'the stored (for-in) view, as after a restart',
  );
  await ob.close();
});

test('a sink that is down does not keep the healthy sinks off the memory path', async (t) => {
  const dir = tempDir(t);
  const up = new ScriptedSink('up');
  const down = new ScriptedSink('down');
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [{ sink: up }, { sink: down }],
    logger: silent,
    memoryCacheBytes: 2000,
  });
  const enq: TelemetryRecord[] = [];
  for (let i = 0; i < 20; i++) {
    const recs = seqRecords(i * 10, 10);
    enq.push(...recs);
    await ob.enqueue(recs);
    await ob.deliverOnce('up'); // 'down' never takes anything
  }
  assert.deepEqual(up.times(), range(0, 200));
  assert.equal(identical(up.accepted, enq), 200, 'every batch reached the healthy sink from memory');
  assert.ok(ob.hot.usedBytes <= 2000);
  for (let i = 0; i < 100 && (await ob.deliverOnce('down')).kind !== 'idle'; i++);
  assert.deepEqual(down.times(), range(0, 200), 'the lagging sink gets everything, from disk where needed');
  await ob.close();
});
