/**
 * Corrupt and truncated outbox files (made by the outbox itself, then damaged): detected, the healthy part
 * recovered and reported, never a crash or a crash loop.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Outbox } from '../../src/outbox/outbox.js';
import { OutboxStore } from '../../src/outbox/store.js';
import { range, ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

const B = 50;

async function makeOutbox(dir: string, batches: number): Promise<void> {
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [{ sink: new ScriptedSink('a') }],
    logger: silent,
    checkpointIntervalMs: 0,
  });
  for (let i = 0; i < batches; i++) await ob.enqueue(seqRecords(i * B, B, `dev-${i}`));
  await ob.close(); // last connection: WAL checkpointed into outbox.db
}

async function deliverAll(dir: string): Promise<{ sink: ScriptedSink; ob: Outbox }> {
  const sink = new ScriptedSink('a');
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink }], logger: silent, checkpointIntervalMs: 0 });
  for (let i = 0; i < 1000 && (await ob.deliverOnce('a')).kind !== 'idle'; i++);
  return { sink, ob };
}

function offsetsOf(buf: Buffer, needle: Buffer): number[] {
  const out: number[] = [];
  for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + 1)) out.push(i);
  return out;
}

test('a batch whose bytes were overwritten fails its checksum: quarantined and counted, the rest delivered', async (t) => {
  const dir = tempDir(t);
  await makeOutbox(dir, 5);
  const file = join(dir, 'outbox.db');
  const db = new Database(file, { readonly: true });
  const blob = (db.prepare('SELECT data FROM batches ORDER BY id LIMIT 1 OFFSET 2').get() as { data: Buffer }).data;
  db.close();
  const bytes = readFileSync(file);
  // The blob's bytes, wherever they are in the file (b-tree balancing can leave stale copies in free space).
  const offs = offsetsOf(bytes, blob);
  assert.ok(offs.length >= 1, 'the batch blob is in the file');
  // Damage the third batch's payload (a byte of one record) without touching SQLite's structures.
  for (const o of offs) bytes[o + 200] ^= 0x5a;
  writeFileSync(file, bytes);
  const { sink, ob } = await deliverAll(dir);
  const got = sink.times();
  assert.deepEqual(got, [...range(0, 2 * B), ...range(3 * B, 2 * B)]);
  const st = ob.status();
  assert.equal(st.quarantined.count, 1);
  assert.equal(st.quarantined.records, B);
  assert.equal(st.sinks[0].corruptRecords, B, 'the loss is counted for the sink');
  assert.equal(st.pendingBatches, 0, 'the bad batch no longer blocks the queue');
  await ob.close();
});

test('a file with a destroyed header is moved aside, a fresh outbox starts, the event is reported', async (t) => {
  const dir = tempDir(t);
  await makeOutbox(dir, 3);
  const file = join(dir, 'outbox.db');
  const bytes = readFileSync(file);
  bytes.fill(0x41, 0, 100);
  writeFileSync(file, bytes);
  const { ob } = await deliverAll(dir);
  const st = ob.status();
  assert.ok(st.recoveryEvents.length > 0);
  assert.match(st.recoveryEvents.map((e) => e.message).join('\n'), /moved aside to .*outbox\.db\.corrupt-\d+/);
  const aside = readdirSync(dir).filter((f) => f.startsWith('outbox.db.corrupt-'));
  assert.equal(aside.length, 1, 'the damaged file is kept for inspection');
  const r = await ob.enqueue(seqRecords(0, 3));
  assert.equal(r.accepted, true, 'the fresh outbox works');
  await ob.close();
  // No crash loop: the next open is clean and adds no new event.
  const ob2 = Outbox.open({ dataDir: dir, sinks: [{ sink: new ScriptedSink('a') }], logger: silent });
  assert.equal(ob2.status().recoveryEvents.length, st.recoveryEvents.length);
  assert.equal(ob2.status().pendingRecords, 3);
  await ob2.close();
});

test('a truncated file: healthy batches salvaged with their cursors, the loss reported, delivery resumes', async (t) => {
  const dir = tempDir(t);
  await makeOutbox(dir, 40);
  const file = join(dir, 'outbox.db');
  const size = statSync(file).size;
  truncateSync(file, Math.floor(size * 0.6));
  const { sink, ob } = await deliverAll(dir);
  const st = ob.status();
  const msgs = st.recoveryEvents.map((e) => e.message).join('\n');
  assert.match(msgs, /salvaged \d+ sink cursors, \d+ batches/);
  const salvaged = Number(/salvaged \d+ sink cursors, (\d+) batches/.exec(msgs)?.[1]);
  assert.ok(salvaged > 0 && salvaged < 40, `some but not all batches salvaged (${salvaged})`);
  // Every delivered record is a real one, whole batches only, no duplicates.
  const got = sink.times();
  assert.equal(new Set(got).size, got.length);
  assert.equal(got.length, salvaged * B);
  const batchesSeen = new Set(got.map((x) => Math.floor(x / B)));
  for (const b of batchesSeen) for (const x of range(b * B, B)) assert.ok(got.includes(x), `batch ${b} complete`);
  await ob.close();
});

test('random garbage over interior pages: quick_check fails, readable rows salvaged, no crash', async (t) => {
  const dir = tempDir(t);
  await makeOutbox(dir, 40);
  const file = join(dir, 'outbox.db');
  const bytes = readFileSync(file);
  // Overwrite one 4 KiB page in the middle with garbage.
  const page = Math.floor(bytes.length / 4096 / 2);
  for (let i = page * 4096; i < (page + 1) * 4096; i++) bytes[i] = (i * 131) & 0xff;
  writeFileSync(file, bytes);
  const { sink, ob } = await deliverAll(dir);
  const got = sink.times();
  assert.equal(new Set(got).size, got.length);
  assert.ok(got.every((x) => x >= 0 && x < 40 * B));
  const st = ob.status();
  assert.ok(st.recoveryEvents.length > 0 || st.quarantined.count > 0, 'the damage was detected and reported');
  assert.ok(got.length >= 30 * B, `most of the data survives one bad page (${got.length / B} of 40 batches)`);
  await ob.close();
});

test('a torn WAL tail (crash image) opens cleanly with whole, checksummed batches only', async (t) => {
  const dir = tempDir(t);
  const live = join(dir, 'live');
  const sink = new ScriptedSink('a');
  const ob = Outbox.open({ dataDir: live, sinks: [{ sink }], logger: silent, checkpointIntervalMs: 0 });
  for (let i = 0; i < 20; i++) await ob.enqueue(seqRecords(i * B, B));
  // Crash image: copy the files while the connection is open (WAL not checkpointed), then tear the WAL.
  const img = join(dir, 'img');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(img);
  copyFileSync(join(live, 'outbox.db'), join(img, 'outbox.db'));
  assert.ok(existsSync(join(live, 'outbox.db-wal')));
  copyFileSync(join(live, 'outbox.db-wal'), join(img, 'outbox.db-wal'));
  ob.abort();
  const walSize = statSync(join(img, 'outbox.db-wal')).size;
  truncateSync(join(img, 'outbox.db-wal'), Math.floor(walSize * 0.55));
  const r = await deliverAll(img);
  const got = r.sink.times();
  const n = got.length / B;
  assert.ok(Number.isInteger(n) && n > 0 && n < 20, `a prefix of whole batches (${n})`);
  assert.deepEqual(got, range(0, got.length), 'committed prefix, in order');
  await r.ob.close();
});

test('an SQLite file that is not an outbox is refused and left untouched', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'outbox.db');
  const db = new Database(file);
  db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
  db.close();
  const before = readFileSync(file);
  assert.throws(() => Outbox.open({ dataDir: dir, sinks: [{ sink: new ScriptedSink('a') }], logger: silent }), {
    code: 'SF_ERR_OUTBOX_OPEN',
    message: /not a sigflow outbox \(tables: customers\)/,
  });
  assert.deepEqual(readFileSync(file), before);
  assert.throws(
    () => Outbox.open({ dataDir: dir, sinks: [{ sink: new ScriptedSink('a') }], logger: silent }),
    /not a sigflow outbox/,
    'and the lock was released',
  );
});

test('read-only tools report a corrupt file instead of repairing it', async (t) => {
  const dir = tempDir(t);
  await makeOutbox(dir, 2);
  const file = join(dir, 'outbox.db');
  const bytes = readFileSync(file);
  bytes.fill(0, 0, 100);
  writeFileSync(file, bytes);
  assert.throws(() => OutboxStore.open(dir, { readonly: true }), {
    code: 'SF_ERR_OUTBOX_CORRUPT',
    message: /is corrupt .*sigflow recovers it on start/,
  });
  assert.throws(() => OutboxStore.open(join(dir, 'nothing-here'), { readonly: true }), {
    code: 'SF_ERR_OUTBOX_MISSING',
    message: /no outbox at /,
  });
  assert.equal(readdirSync(dir).filter((f) => f.includes('corrupt')).length, 0);
});

test('a batch that goes bad after one sink read it intact is repaired from that copy: no sink loses it', async (t) => {
  const dir = tempDir(t);
  let release: (r: { kind: 'ok' }) => void = () => {};
  const a = new ScriptedSink('a', [() => new Promise((r) => (release = r))]);
  const b = new ScriptedSink('b');
  // (memoryCacheBytes 0: both sinks read the stored copy, as after a restart)
  const open = () =>
    Outbox.open({
      dataDir: dir,
      sinks: [{ sink: a }, { sink: b }],
      logger: silent,
      checkpointIntervalMs: 0,
      memoryCacheBytes: 0,
    });
  const ob = open();
  await ob.enqueue(seqRecords(0, B));
  const writingA = ob.deliverOnce('a'); // a holds the batch, decoded, its write in flight
  // The stored copy is damaged (another connection appends a byte to the blob) before b reads it.
  const db = new Database(join(dir, 'outbox.db'));
  db.prepare("UPDATE batches SET data = data || x'00'").run();
  db.close();
  assert.equal((await ob.deliverOnce('b')).kind, 'ok');
  assert.deepEqual(b.times(), range(0, B), 'b delivers the repaired batch');
  // a's write fails and the process stops before it is retried: the batch must still be on disk for a.
  release({ kind: 'retry', reason: '503' } as unknown as { kind: 'ok' });
  await writingA;
  await ob.close();
  const ob2 = open();
  for (let i = 0; i < 10 && (await ob2.deliverOnce('a')).kind !== 'idle'; i++);
  assert.deepEqual(a.times(), range(0, B), 'a delivers it after the restart');
  const st = ob2.status();
  assert.equal(st.quarantined.records, 0);
  for (const s of st.sinks) assert.equal(s.corruptRecords, 0, `${s.name}: nothing lost`);
  await ob2.close();
});

test('quarantining a damaged batch fails once (disk full): the batch is looked at again, never silently passed', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: a }], logger: silent, memoryCacheBytes: 0 });
  await ob.enqueue(seqRecords(0, 10));
  await ob.enqueue(seqRecords(10, 10));
  const db = new Database(join(dir, 'outbox.db'));
  db.prepare("UPDATE batches SET data = data || x'00' WHERE id = (SELECT min(id) FROM batches)").run();
  db.close();
  const store = ob.store as unknown as { quarantine: (...args: unknown[]) => void };
  const real = store.quarantine.bind(store);
  store.quarantine = () => {
    store.quarantine = real;
    throw new Error('database or disk is full');
  };
  await assert.rejects(ob.deliverOnce('a'), /disk is full/);
  for (let i = 0; i < 10 && (await ob.deliverOnce('a')).kind !== 'idle'; i++);
  const s = ob.status().sinks[0];
  assert.deepEqual(a.times(), range(10, 10));
  assert.equal(s.corruptRecords, 10, 'the damaged batch is quarantined and counted, not skipped');
  assert.equal(ob.status().quarantined.records, 10);
  await ob.close();
});
