/**
 * Issue 8, item 3: a damaged outbox.db loses pending records — that loss must be counted per sink (so delivered +
 * pending + dead-lettered + dropped + lost = accepted still holds), recorded as an event with the number and the
 * lost batch ids, reported by `sigflow import` (summary + exit status) together with the files it forgot in its
 * ledger to read them again; `outbox status` and `dead-letters` report a damaged file instead of crashing or
 * listing nothing.
 */
import assert from 'node:assert/strict';
import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Outbox } from '../../src/outbox/index.js';
import { accountedRecords } from '../../src/outbox/schema.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';
import { damagePages, ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

const B = 50;

test('records a damaged outbox file lost are counted per sink (identity holds) and recorded with the lost batch ids', async (t) => {
  const dir = tempDir(t);
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [{ sink: new ScriptedSink('a'), batchSize: B }, { sink: new ScriptedSink('b') }],
    logger: silent,
    checkpointIntervalMs: 0,
  });
  for (let i = 0; i < 40; i++) await ob.enqueue(seqRecords(i * B, B));
  // sink a takes the first 10 batches; b nothing
  for (let i = 0; i < 10; i++) await ob.deliverOnce('a');
  const before = ob.status().sinks;
  assert.equal(before.find((s) => s.name === 'a')?.pendingRecords, 30 * B);
  await ob.close();
  const file = join(dir, 'outbox.db');
  truncateSync(file, Math.floor(statSync(file).size * 0.6));

  const ob2 = Outbox.open({
    dataDir: dir,
    sinks: [{ sink: new ScriptedSink('a') }, { sink: new ScriptedSink('b') }],
    logger: silent,
    checkpointIntervalMs: 0,
  });
  const st = ob2.status();
  const losses = ob2.store.events(20, { kind: 'recovery-loss' });
  for (const s of st.sinks) {
    assert.equal(s.acceptedRecords, 40 * B, `sink ${s.name}: accepted survives the recovery`);
    assert.equal(
      accountedRecords(s, s.pendingRecords),
      s.acceptedRecords,
      `sink ${s.name}: delivered ${s.deliveredRecords} + pending ${s.pendingRecords} + corrupt ${s.corruptRecords} + lost ${s.lostRecords} = accepted`,
    );
    const lost = s.lostRecords + s.corruptRecords;
    const pendingBefore = before.find((x) => x.name === s.name)?.pendingRecords ?? 0;
    assert.ok(lost > 0, `sink ${s.name}: the truncation lost pending records`);
    assert.equal(s.pendingRecords + lost, pendingBefore, `sink ${s.name}: what was pending is now pending or lost`);
    const ev = losses.find((e) => e.sink === s.name);
    assert.ok(ev, `a recovery-loss event for ${s.name}`);
    assert.equal(ev.records, lost, 'the event carries the number');
    assert.ok(ev.lostBatches && ev.lostBatches.length > 0, 'and the lost batch ids');
    // the lost ids are exactly the batches that did not come over (after the sink's cursor)
    const have = new Set(ob2.store.fetch(0, 1000).map((b) => b.id));
    const lostIds = ev.lostBatches.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
    for (const id of lostIds) assert.ok(!have.has(id), `batch ${id} reported lost is not stored`);
    assert.equal(lostIds.length * B, lost, 'every lost record is in a reported batch');
  }
  await ob2.close();
});

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

test('sigflow import after a damaged outbox: loss in the summary and exit status, lost files read again; status and dead-letters report the damage', {
  timeout: 240_000,
}, async (t) => {
  const dir = tempDir(t);
  const obDir = join(dir, 'outbox');
  // A second sink ("later") not in the import: its backlog stays pending in the outbox.
  const pre = Outbox.open({ dataDir: obDir, sinks: [{ sink: new ScriptedSink('later') }], logger: silent });
  await pre.close();
  const first = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stderr);
  const records = Number(/(\d+) records in/.exec(first.stderr)?.[1]);
  assert.ok(records > 1000);

  damagePages(join(obDir, 'outbox.db'), 20, 7);

  // Reading commands report the damage (one line, exit 1) instead of crashing or saying "no dead letters".
  for (const args of [
    ['outbox', 'status', '--data-dir', dir],
    ['outbox', 'dead-letters', '--data-dir', dir],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /outbox .*outbox\.db is (corrupt|damaged)/);
    assert.doesNotMatch(r.stdout, /no dead letters/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }

  const second = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 120_000 });
  assert.equal(second.code, 1, `a loss makes the run fail:\n${second.stderr}`);
  assert.match(second.stderr, /OUTBOX DAMAGED/);
  assert.match(second.stderr, /sink later: \d+ pending records lost/);
  assert.match(second.stderr, /forgot 1 file\(s\) in the ledger/);
  // the forgotten file was among this run's inputs: read again in this run, its records pending again for "later"
  assert.match(second.stderr, /1 file\(s\) imported, 0 already imported/);
  const status = await runCli(['outbox', 'status', '--data-dir', dir, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const later = JSON.parse(status.stdout).sinks.find((s: { name: string }) => s.name === 'later');
  assert.equal(later.pendingRecords, records, 'the re-read file is pending again for the sink that lost it');
  assert.ok(later.lostRecords > 0, 'the loss stays counted');
  assert.equal(accountedRecords(later, later.pendingRecords), later.acceptedRecords);
  const human = await runCli(['outbox', 'status', '--data-dir', dir]);
  assert.match(human.stdout, /LOST IN RECOVERY .*sink later/);

  // reported once: the next run is clean
  const third = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 120_000 });
  assert.equal(third.code, 0, third.stderr);
  assert.doesNotMatch(third.stderr, /OUTBOX DAMAGED/);
  assert.match(third.stderr, /0 file\(s\) imported, 1 already imported/);
});
