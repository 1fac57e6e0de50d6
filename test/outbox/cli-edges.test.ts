/**
 * Issue 8, item 15: `sigflow outbox` at its edges — one meaning of --data-dir for `import` and `outbox`,
 * forget-sink as its own event kind with a numeric count, dead-letters saying how many it did not show, replay and
 * purge refusing unknown ids, and read-only commands (outbox status / dead-letters, store list / query) that create
 * and change nothing, so read-only users and read-only media work.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Outbox } from '../../src/outbox/index.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';
import { ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

/** An outbox with `dead` dead letters for sink "a" (permanent rejects) and 20 records pending for sink "b". */
async function outboxWithDeadLetters(dir: string, dead: number): Promise<void> {
  const a = new ScriptedSink('a', [], { kind: 'permanent', reason: 'bad line' });
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [
      { sink: a, batchSize: 2 },
      { sink: new ScriptedSink('b'), batchSize: 2 },
    ],
    logger: silent,
  });
  await ob.enqueue(seqRecords(0, dead * 2));
  for (let i = 0; i < dead; i++) await ob.deliverOnce('a');
  await ob.enqueue(seqRecords(1000, 20));
  await ob.close();
}

test('outbox --data-dir takes the data directory of import (outbox in outbox/) as well as the outbox directory', {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir(t);
  const imp = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 100_000 });
  assert.equal(imp.code, 0, imp.stderr);
  for (const d of [dir, join(dir, 'outbox')]) {
    const st = await runCli(['outbox', 'status', '--data-dir', d, '--json']);
    assert.equal(st.code, 0, `--data-dir ${d}: ${st.stderr}`);
    assert.equal(JSON.parse(st.stdout).file, join(dir, 'outbox', 'outbox.db'));
    const dl = await runCli(['outbox', 'dead-letters', '--data-dir', d]);
    assert.equal(dl.code, 0, dl.stderr);
    assert.match(dl.stdout, /^no dead letters$/m);
  }
  const none = await runCli(['outbox', 'status', '--data-dir', join(dir, 'nothing')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no outbox at .*nothing.*outbox\.db/);
});

test('forget-sink is its own event kind with a numeric count; status shows it as such', async (t) => {
  const dir = tempDir(t);
  await outboxWithDeadLetters(dir, 1);
  const f = await runCli(['outbox', 'forget-sink', '--data-dir', dir, '--sink', 'b', '--yes']);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /forgot sink b: dropped 22 pending records/);
  const st = JSON.parse((await runCli(['outbox', 'status', '--data-dir', dir, '--json'])).stdout);
  const ev = st.recoveryEvents.find((e: { kind: string }) => e.kind === 'forget-sink');
  assert.ok(ev, 'a forget-sink event');
  assert.equal(ev.sink, 'b');
  assert.equal(ev.records, 22, 'the count is a number of its own');
  const human = await runCli(['outbox', 'status', '--data-dir', dir]);
  assert.match(human.stdout, /FORGOT SINK .*sink b forgotten/);
  assert.doesNotMatch(human.stdout, /RECOVERY/, 'not shown as a recovery');
});

test('dead-letters says how many it did not show; --all shows them all', async (t) => {
  const dir = tempDir(t);
  await outboxWithDeadLetters(dir, 5);
  const some = await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--limit', '2']);
  assert.equal(some.code, 0, some.stderr);
  assert.equal(some.stdout.split('\n').filter((l) => l.startsWith('#')).length, 2);
  assert.match(some.stdout, /showing 2 of 5 dead letters; --limit N or --all for more/);
  const all = await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--all']);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout.split('\n').filter((l) => l.startsWith('#')).length, 5);
  assert.doesNotMatch(all.stdout, /showing/);
  const json = await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--limit', '3', '--json']);
  assert.equal(json.stdout.trim().split('\n').length, 3);
  assert.match(json.stderr, /showing 3 of 5/);
});

test('replay and purge with an unknown --id: exit 2 naming it, nothing done', async (t) => {
  const dir = tempDir(t);
  await outboxWithDeadLetters(dir, 2);
  const ids = JSON.parse(
    `[${(await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--json'])).stdout.trim().split('\n').join(',')}]`,
  ).map((d: { id: number }) => d.id);
  assert.equal(ids.length, 2);
  const r = await runCli(['outbox', 'replay', '--data-dir', dir, '--id', `${ids[0]},999,1000`]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /no dead letter #999, #1000/);
  assert.match(r.stderr, /SF_ERR_OUTBOX_NO_SUCH_DEAD_LETTER/);
  const p = await runCli(['outbox', 'purge', '--data-dir', dir, '--id', '999', '--yes']);
  assert.equal(p.code, 2);
  assert.match(p.stderr, /no dead letter #999/);
  const wrongSink = await runCli(['outbox', 'replay', '--data-dir', dir, '--sink', 'b', '--id', String(ids[0])]);
  assert.equal(wrongSink.code, 2, 'an id of another sink is not one of --sink b');
  const left = await runCli(['outbox', 'dead-letters', '--data-dir', dir, '--json']);
  assert.equal(left.stdout.trim().split('\n').length, 2, 'nothing was replayed or purged');
});

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, `${statSync(p).mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}

function setReadOnly(dir: string, ro: boolean): void {
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else chmodSync(p, ro ? 0o444 : 0o644);
    }
    chmodSync(d, ro ? 0o555 : 0o755);
  };
  walk(dir);
}

async function readCommands(dir: string): Promise<void> {
  const store = join(dir, 'store.db');
  const list = await runCli(['store', 'list', store, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const measurement = JSON.parse(list.stdout).measurements[0].measurement as string;
  const runs = [
    ['outbox', 'status', '--data-dir', dir],
    ['outbox', 'dead-letters', '--data-dir', dir],
    ['store', 'list', store],
    [
      'store',
      'query',
      store,
      measurement,
      '--from',
      '2000-01-01T00:00:00Z',
      '--to',
      '2100-01-01T00:00:00Z',
      '--points',
      '10',
    ],
  ];
  for (const args of runs) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
}

test('read-only commands create and change nothing (no -wal/-shm/lock files, same bytes and mtimes)', {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir(t);
  const imp = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 100_000 });
  assert.equal(imp.code, 0, imp.stderr);
  const before = snapshot(dir);
  setReadOnly(dir, true);
  try {
    await readCommands(dir);
  } finally {
    setReadOnly(dir, false);
  }
  assert.deepEqual([...snapshot(dir).keys()].sort(), [...before.keys()].sort(), 'no file created or removed');
  assert.deepEqual(snapshot(dir), before, 'no file modified');
});

test('read-only commands work for a user who cannot write the data directory', {
  timeout: 120_000,
}, async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('SKIPPED: running as root, where permissions do not stop writes; the test above checks the same by files');
    return;
  }
  const dir = tempDir(t);
  const imp = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 100_000 });
  assert.equal(imp.code, 0, imp.stderr);
  setReadOnly(dir, true);
  try {
    await readCommands(dir);
  } finally {
    setReadOnly(dir, false);
  }
});
