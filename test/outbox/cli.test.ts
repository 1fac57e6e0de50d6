/** `sigflow outbox status|dead-letters|replay|purge` against a real data directory. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Outbox } from '../../src/outbox/outbox.js';
import { runCli } from '../harness/cli.js';
import { ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

async function prepared(dir: string): Promise<void> {
  const influx = new ScriptedSink('influx', [
    { kind: 'permanent', reason: '400 unable to parse' },
    { kind: 'auth', reason: '401 unauthorized' },
  ]);
  const store = new ScriptedSink('store');
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: influx }, { sink: store }], logger: silent });
  await ob.enqueue(seqRecords(0, 4));
  await ob.deliverOnce('influx'); // dead-lettered
  await ob.deliverOnce('store');
  await ob.enqueue(seqRecords(4, 3));
  await ob.deliverOnce('influx'); // auth failure: kept, alarm
  await ob.close();
}

test('status: per-sink pending, counters, alarm; --json; unknown sink named', async (t) => {
  const dir = tempDir(t);
  await prepared(dir);
  const human = await runCli(['outbox', 'status', '--data-dir', dir]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /sink influx\s+\*\* ALARM: auth: 401 unauthorized \*\*/);
  assert.match(human.stdout, /pending\s+3 records, 1 batches/);
  assert.match(human.stdout, /dead-letter 4 records so far, 4 stored now/);
  const js = await runCli(['outbox', 'status', '--data-dir', dir, '--json', '--sink', 'store']);
  assert.equal(js.code, 0, js.stderr);
  const st = JSON.parse(js.stdout);
  assert.equal(st.sinks.length, 1);
  assert.equal(st.sinks[0].name, 'store');
  assert.equal(st.sinks[0].pendingRecords, 3);
  assert.equal(st.sinks[0].deliveredRecords, 4);
  assert.equal(st.pendingRecords, 3);
  const bad = await runCli(['outbox', 'status', '--data-dir', dir, '--sink', 'nope']);
  assert.equal(bad.code, 2, 'SF_ERR_OUTBOX_UNKNOWN_SINK: a usage error');
  assert.match(bad.stderr, /no sink named nope .*sinks: influx, store/);
  const missing = await runCli(['outbox', 'status', '--data-dir', join(dir, 'nothing-here')]);
  assert.equal(missing.code, 2, 'SF_ERR_OUTBOX_MISSING: a usage error');
  assert.match(missing.stderr, /no outbox at .*nothing-here/);
});

test('dead-letters lists reasons and records; replay moves them back for their sink; purge needs --yes', async (t) => {
  const dir = tempDir(t);
  await prepared(dir);
  const list = await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--records']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /#1 {2}sink influx .* permanent {2}4 records .* 400 unable to parse/);
  assert.match(
    list.stdout,
    /1970-01-01T00:00:00\.000000003Z \{"measurement":"m","tags":\{"device":"d1","bus":"can0"\},"fields":\{"v":1\.5,"n":"3","ok":false\}\}/,
  );
  const js = await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--json']);
  assert.equal(JSON.parse(js.stdout.trim()).reason, '400 unable to parse');

  const replay = await runCli(['outbox', 'replay', '--data-dir', dir, '--sink', 'influx']);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /replayed 1 dead letters \(4 records\)/);
  // The replayed records are delivered to influx only, after what it already had pending.
  const influx = new ScriptedSink('influx');
  const store = new ScriptedSink('store');
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: influx }, { sink: store }], logger: silent });
  while ((await ob.deliverOnce('influx')).kind !== 'idle');
  while ((await ob.deliverOnce('store')).kind !== 'idle');
  assert.deepEqual(influx.times(), [4, 5, 6, 0, 1, 2, 3]);
  assert.deepEqual(store.times(), [4, 5, 6]);
  // Make another dead letter, then purge it.
  influx.script = [{ kind: 'permanent', reason: 'schema' }];
  await ob.enqueue(seqRecords(7, 2));
  await ob.deliverOnce('influx');
  await ob.close();
  const no = await runCli(['outbox', 'purge', '--data-dir', dir]);
  assert.equal(no.code, 2);
  assert.match(no.stderr, /would delete 1 dead letters \(2 records\) for good; add --yes/);
  const yes = await runCli(['outbox', 'purge', '--data-dir', dir, '--yes', '--json']);
  assert.equal(yes.code, 0, yes.stderr);
  assert.deepEqual(JSON.parse(yes.stdout), { purged: 1, records: 2 });
  const st = JSON.parse((await runCli(['outbox', 'status', '--data-dir', dir, '--json'])).stdout);
  const si = st.sinks.find((s: { name: string }) => s.name === 'influx');
  assert.equal(si.purgedRecords, 2, 'purge is a drop the user chose: counted');
  assert.equal(si.deadLettersStored.records, 0);
  const badId = await runCli(['outbox', 'replay', '--data-dir', dir, '--id', 'x1']);
  assert.equal(badId.code, 2);
  assert.match(badId.stderr, /--id: "x1" is not a dead-letter id/);
});

test("forget-sink drops an unconfigured sink's backlog (recorded), frees the budget, needs --yes", async (t) => {
  const dir = tempDir(t);
  await prepared(dir); // influx has 3 pending, store has 3 pending
  const no = await runCli(['outbox', 'forget-sink', '--data-dir', dir, '--sink', 'influx']);
  assert.equal(no.code, 2);
  assert.match(no.stderr, /drops its 3 pending records \(1 batches\); add --yes/);
  const yes = await runCli(['outbox', 'forget-sink', '--data-dir', dir, '--sink', 'influx', '--yes']);
  assert.equal(yes.code, 0, yes.stderr);
  const st = JSON.parse((await runCli(['outbox', 'status', '--data-dir', dir, '--json'])).stdout);
  assert.deepEqual(
    st.sinks.map((s: { name: string }) => s.name),
    ['store'],
  );
  assert.equal(st.pendingRecords, 3, 'still held for store');
  assert.match(st.recoveryEvents[0].message, /sink influx forgotten: 3 pending records in 1 batches dropped/);
  // Refused while a sigflow process owns the directory.
  const ob = Outbox.open({ dataDir: dir, sinks: [{ sink: new ScriptedSink('store') }], logger: silent });
  const busy = await runCli(['outbox', 'forget-sink', '--data-dir', dir, '--sink', 'store', '--yes']);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /is running on .*; stop it first/);
  await ob.close();
});

test('outbox --help explains the commands', async () => {
  const r = await runCli(['outbox', '--help']);
  assert.equal(r.code, 0);
  for (const c of ['status', 'dead-letters', 'replay', 'purge', 'forget-sink']) assert.match(r.stdout, new RegExp(c));
  assert.match(r.stdout, /safe while sigflow runs/);
});
