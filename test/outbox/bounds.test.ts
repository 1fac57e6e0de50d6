/** Disk budget and age bounds: every drop is counted, per sink, and exactly the counted records are missing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBatch } from '../../src/outbox/codec.js';
import { OutboxFullError } from '../../src/outbox/errors.js';
import { Outbox, type OutboxOptions } from '../../src/outbox/index.js';
import { range, ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

const BATCH = 100;
const batchBytes = encodeBatch(seqRecords(0, BATCH)).length;

function open(dir: string, sinks: ScriptedSink[], extra: Partial<OutboxOptions> = {}) {
  return Outbox.open({
    dataDir: dir,
    sinks: sinks.map((sink) => ({ sink })),
    logger: silent,
    checkpointIntervalMs: 0,
    ...extra,
  });
}

test('(c) drop_oldest at the disk bound: exactly the counted records are missing, per sink', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const b = new ScriptedSink('b');
  // Room for ~5 batches (sizes vary by a few bytes with the sequence numbers, so the bound is not a multiple).
  const ob = open(dir, [a, b], { maxBytes: Math.floor(batchBytes * 5.5), whenFull: 'drop_oldest' });
  let droppedSeen = 0;
  // b delivers the first 3 batches, then both sinks are "down" while 20 more batches arrive.
  for (let i = 0; i < 3; i++) await ob.enqueue(seqRecords(i * BATCH, BATCH));
  for (let i = 0; i < 3; i++) await ob.deliverOnce('b');
  for (let i = 3; i < 23; i++) {
    const r = await ob.enqueue(seqRecords(i * BATCH, BATCH));
    assert.equal(r.accepted, true);
    droppedSeen += r.droppedOldestRecords;
  }
  const st = ob.status();
  assert.ok(st.pendingBytes <= st.maxBytes!, 'within the budget');
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  while ((await ob.deliverOnce('b')).kind !== 'idle');
  const total = 23 * BATCH;
  const sa = ob.status().sinks.find((s) => s.name === 'a');
  const sb = ob.status().sinks.find((s) => s.name === 'b');
  assert.ok(sa && sb);
  assert.ok(sa.droppedRecords > 0, 'the bound was actually reached');
  assert.equal(total - a.accepted.length, sa.droppedRecords, 'a: missing = counted');
  assert.equal(total - b.accepted.length, sb.droppedRecords, 'b: missing = counted');
  assert.equal(sa.droppedRecords, droppedSeen, 'a had every dropped batch pending');
  assert.equal(
    sb.droppedRecords,
    droppedSeen - 3 * BATCH,
    'b had already delivered the first 3 batches: not dropped for b',
  );
  // What survived is the newest data, contiguous, in order.
  const got = a.times();
  assert.deepEqual(got, range(total - got.length, got.length));
  assert.equal(new Set(b.times()).size, b.accepted.length, 'no duplicates');
  await ob.close();
  // Counters are persistent.
  const ob2 = open(dir, [a, b]);
  assert.equal(ob2.status().sinks.find((s) => s.name === 'a')?.droppedRecords, sa.droppedRecords);
  await ob2.close();
});

test('drop_oldest only counts a drop for sinks that had not delivered the batch', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const b = new ScriptedSink('b');
  const ob = open(dir, [a, b], { maxBytes: Math.floor(batchBytes * 2.5), whenFull: 'drop_oldest' });
  await ob.enqueue(seqRecords(0, BATCH));
  await ob.enqueue(seqRecords(100, BATCH));
  await ob.deliverOnce('a'); // a has both (one write of 200 ≤ 5000)
  const r = await ob.enqueue(seqRecords(200, BATCH)); // needs one batch dropped; only b is missing it
  assert.equal(r.droppedOldestRecords, BATCH);
  const st = ob.status();
  assert.equal(st.sinks.find((s) => s.name === 'a')?.droppedRecords, 0);
  assert.equal(st.sinks.find((s) => s.name === 'b')?.droppedRecords, BATCH);
  await ob.deliverOnce('b');
  assert.deepEqual(b.times(), range(100, 200));
  await ob.close();
});

test('drop_oldest never drops a batch a sink is writing right now', async (t) => {
  const dir = tempDir(t);
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const a = new ScriptedSink('a', [
    async () => {
      await gate;
      return { kind: 'ok' };
    },
  ]);
  const ob = open(dir, [a], { maxBytes: Math.floor(batchBytes * 2.5), whenFull: 'drop_oldest' });
  await ob.enqueue(seqRecords(0, BATCH));
  const inFlight = ob.deliverOnce('a'); // writes batch 1 (0..99), blocked at the gate
  await new Promise((r) => setTimeout(r, 10));
  await ob.enqueue(seqRecords(100, BATCH));
  const r = await ob.enqueue(seqRecords(200, BATCH)); // must drop batch 2, not the in-flight batch 1
  assert.equal(r.droppedOldestRecords, BATCH);
  release();
  await inFlight;
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  assert.deepEqual(a.times(), [...range(0, 100), ...range(200, 100)]);
  assert.equal(ob.status().sinks[0].droppedRecords, BATCH);
  await ob.close();
});

test('drop_newest: the new batch is refused and counted for every sink', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const b = new ScriptedSink('b');
  const ob = open(dir, [a, b], { maxBytes: Math.floor(batchBytes * 2.5), whenFull: 'drop_newest' });
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await ob.enqueue(seqRecords(i * BATCH, BATCH)));
  assert.deepEqual(
    results.map((r) => r.accepted),
    [true, true, false, false, false],
  );
  assert.equal(results[2].droppedNewest, true);
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  assert.deepEqual(a.times(), range(0, 200));
  const st = ob.status();
  for (const s of st.sinks) assert.equal(s.droppedRecords, 300);
  await ob.close();
});

test('block: enqueue waits for space, FIFO, and resumes when a sink delivers', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = open(dir, [a], { maxBytes: Math.floor(batchBytes * 2.5), whenFull: 'block' });
  await ob.enqueue(seqRecords(0, BATCH));
  await ob.enqueue(seqRecords(100, BATCH));
  const order: number[] = [];
  const p3 = ob.enqueue(seqRecords(200, BATCH)).then((r) => {
    order.push(3);
    return r;
  });
  const p4 = ob.enqueue(seqRecords(300, BATCH)).then((r) => {
    order.push(4);
    return r;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(order, [], 'both wait while the outbox is full');
  assert.equal((await ob.deliverOnce('a')).kind, 'ok');
  const [r3, r4] = await Promise.all([p3, p4]);
  assert.deepEqual(order, [3, 4]);
  assert.ok(r3.waitedMs >= 40);
  assert.equal(r4.accepted, true);
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  assert.deepEqual(a.times(), range(0, 400));
  assert.equal(ob.status().sinks[0].droppedRecords, 0, 'block never drops');
  await ob.close();
});

test('block: times out with OutboxFullError naming the budget; nothing stored', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [new ScriptedSink('a')], { maxBytes: Math.floor(batchBytes * 1.5), blockTimeoutMs: 100 });
  await ob.enqueue(seqRecords(0, BATCH));
  const t0 = Date.now();
  await assert.rejects(ob.enqueue(seqRecords(100, BATCH)), (e: Error) => {
    assert.ok(e instanceof OutboxFullError && e.code === 'SF_ERR_OUTBOX_FULL');
    assert.match(e.message, /outbox full: \d+ of \d+ bytes pending; waited \d+ ms/);
    return true;
  });
  assert.ok(Date.now() - t0 >= 90);
  assert.equal(ob.status().pendingBatches, 1);
  // A per-call policy overrides the default: live sources pass drop_oldest.
  const r = await ob.enqueue(seqRecords(200, BATCH), { whenFull: 'drop_oldest' });
  assert.equal(r.droppedOldestRecords, BATCH);
  await ob.close();
});

test('a batch larger than the whole budget is refused with a clear error', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [new ScriptedSink('a')], { maxBytes: batchBytes });
  await assert.rejects(ob.enqueue(seqRecords(0, BATCH * 2)), {
    code: 'SF_ERR_OUTBOX_BATCH_TOO_LARGE',
    message: /more than the outbox budget/,
  });
  await ob.close();
});

test('max age: old pending batches are dropped and counted as expired', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000;
  const a = new ScriptedSink('a');
  const ob = open(dir, [a], { maxAgeMs: 60_000, now: () => now });
  await ob.enqueue(seqRecords(0, BATCH));
  now += 30_000;
  await ob.enqueue(seqRecords(100, BATCH));
  now += 40_000; // first batch is 70 s old, second 40 s
  assert.equal(ob.expireNow(), BATCH);
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  assert.deepEqual(a.times(), range(100, 100));
  const s = ob.status().sinks[0];
  assert.equal(s.expiredRecords, BATCH);
  assert.equal(s.droppedRecords, 0);
  await ob.close();
});

test('dead letters have their own budget: the oldest go first and are counted', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [], { kind: 'permanent', reason: 'rejected' });
  const ob = open(dir, [a], { deadLetterMaxBytes: Math.floor(batchBytes * 2.5) });
  for (let i = 0; i < 5; i++) {
    await ob.enqueue(seqRecords(i * BATCH, BATCH));
    await ob.deliverOnce('a');
  }
  const dl = ob.store.deadLetters();
  assert.equal(dl.length, 2);
  const s = ob.status().sinks[0];
  assert.equal(s.deadLettersDroppedRecords, 3 * BATCH);
  assert.equal(s.deadLetteredRecords, 5 * BATCH);
  await ob.close();
});

test('drop_newest / drop_oldest calls act at once, even while a block call waits for space', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [new ScriptedSink('a')], { maxBytes: Math.floor(batchBytes * 1.5), blockTimeoutMs: 3000 });
  await ob.enqueue(seqRecords(0, BATCH));
  const blocked = ob.enqueue(seqRecords(100, BATCH)).catch((e: Error) => e);
  const t0 = Date.now();
  const r = await ob.enqueue(seqRecords(200, BATCH), { whenFull: 'drop_newest', timeoutMs: 10 });
  assert.equal(r.accepted, false);
  assert.equal(r.droppedNewest, true);
  assert.ok(Date.now() - t0 < 1000, `drop_newest answered after ${Date.now() - t0} ms`);
  assert.equal(ob.status().sinks[0].droppedRecords, BATCH, 'the refused batch is counted');
  await ob.close();
  assert.ok((await blocked) instanceof Error, 'the blocked call is released by close');
});
