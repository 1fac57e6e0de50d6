/**
 * Honest counts (issue 8, item 2): for every sink, at every moment,
 *
 *     accepted = delivered + pending + dead-lettered + dropped (disk budget, max age, corrupt, lost)
 *
 * where pending counts records, not stored batches: a write that covers only the first records of a stored batch
 * (the sink's batch_size cuts across stored batches) leaves only the rest pending, `forget-sink` drops only the
 * rest, and a restart does not write the done part again (it would be counted as delivered twice).
 *
 * A fast-check `commands` run drives random enqueues (block / drop_oldest / drop_newest under a small disk
 * budget), partial deliveries with every answer class, ageing past max_age, dead-letter replays, crashes,
 * restarts and forget-sink, and checks the identity per sink after every step against a model that counts what it
 * handed over and what the sinks stored.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { Outbox, OutboxStore, type SinkStatus, type WriteResult } from '../../src/outbox/index.js';
import { accountedRecords } from '../../src/outbox/schema.js';
import { ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

const SINKS = ['a', 'b'] as const;
type SinkName = (typeof SINKS)[number];

function identity(ss: SinkStatus): string {
  return (
    `accepted ${ss.acceptedRecords} vs delivered ${ss.deliveredRecords} + pending ${ss.pendingRecords} + ` +
    `dead ${ss.deadLetteredRecords} + dropped ${ss.droppedRecords} + expired ${ss.expiredRecords} + ` +
    `corrupt ${ss.corruptRecords} + lost ${ss.lostRecords}`
  );
}

function assertBalanced(ss: SinkStatus, what: string): void {
  assert.equal(accountedRecords(ss, ss.pendingRecords), ss.acceptedRecords, `${what}: ${identity(ss)}`);
}

test('a write that covers part of a stored batch leaves only the rest pending; forget-sink drops only the rest', async (t) => {
  const dir = tempDir(t);
  const sink = new ScriptedSink('a');
  const open = () =>
    Outbox.open({ dataDir: dir, sinks: [{ sink, batchSize: 5 }], logger: silent, checkpointIntervalMs: 0 });
  let ob = open();
  await ob.enqueue(seqRecords(0, 7));
  await ob.enqueue(seqRecords(7, 7));
  assert.equal((await ob.deliverOnce('a')).kind, 'ok'); // records 0..4 of the first batch
  let s = ob.status().sinks[0];
  assert.equal(s.deliveredRecords, 5);
  assert.equal(s.pendingRecords, 9, 'pending counts records: 14 accepted − 5 delivered');
  assertBalanced(s, 'after a partial write');
  assert.equal((await ob.deliverOnce('a')).kind, 'ok'); // 5, 6 and 7..9
  s = ob.status().sinks[0];
  assert.equal(s.pendingRecords, 4);
  assertBalanced(s, 'after the second write');
  // A restart resumes inside the second batch: nothing is written twice, nothing counted twice.
  await ob.close();
  ob = open();
  assert.equal((await ob.deliverOnce('a')).kind, 'ok');
  assert.deepEqual(
    sink.times(),
    Array.from({ length: 14 }, (_, i) => i),
  );
  s = ob.status().sinks[0];
  assert.equal(s.deliveredRecords, 14);
  assert.equal(s.pendingRecords, 0);
  assertBalanced(s, 'after the restart');
  // forget-sink on a partly done batch drops only what was not delivered.
  await ob.enqueue(seqRecords(14, 7));
  assert.equal((await ob.deliverOnce('a')).kind, 'ok'); // 14..18
  await ob.close();
  const store = OutboxStore.open(dir, { mustExist: true });
  const r = store.forgetSink('a');
  assert.equal(r.pendingRecords, 2, 'forget-sink drops the 2 records not delivered, not the whole batch of 7');
  const ev = store.events(1, { kind: 'forget-sink' })[0];
  assert.equal(ev.kind, 'forget-sink');
  assert.equal(ev.sink, 'a');
  assert.equal(ev.records, 2, 'the drop is a number in its own column, not only message text');
  store.close();
});

test('with concurrency > 1, a write that finishes before an earlier one is counted when the earlier one is done', async (t) => {
  const dir = tempDir(t);
  let releaseFirst: (() => void) | null = null;
  let secondDone = false;
  const sink = new ScriptedSink('a', [
    () => new Promise((r) => (releaseFirst = () => r({ kind: 'ok' }))),
    () => {
      secondDone = true;
      return { kind: 'ok' };
    },
  ]);
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [{ sink, batchSize: 5, concurrency: 2, flushIntervalMs: 0, flushJitterMs: 0 }],
    logger: silent,
    checkpointIntervalMs: 0,
    pollIntervalMs: 5,
  });
  await ob.enqueue(seqRecords(0, 10));
  ob.start();
  for (let i = 0; i < 400 && !(secondDone && releaseFirst); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(secondDone && releaseFirst, 'the second write finished while the first is in flight');
  await new Promise((r) => setTimeout(r, 20));
  let s = ob.status().sinks[0];
  assertBalanced(s, 'second write done, first in flight');
  assert.equal(s.pendingRecords, 10, 'nothing before it is done yet: both halves still pending');
  (releaseFirst as unknown as () => void)();
  await ob.drain(5000);
  s = ob.status().sinks[0];
  assert.equal(s.deliveredRecords, 10);
  assert.equal(s.pendingRecords, 0);
  assertBalanced(s, 'both done');
  await ob.close();
});

interface Counts {
  accepted: number;
  delivered: number;
}

class Model {
  next = 0;
  counts: Record<SinkName, Counts> = { a: { accepted: 0, delivered: 0 }, b: { accepted: 0, delivered: 0 } };
  clock = 1_000_000;
}

class Real {
  ob!: Outbox;
  sinks: Record<SinkName, ScriptedSink> = { a: new ScriptedSink('a'), b: new ScriptedSink('b') };
  constructor(
    readonly dir: string,
    readonly m: Model,
  ) {
    this.open();
  }
  open(): void {
    this.ob = Outbox.open({
      dataDir: this.dir,
      sinks: SINKS.map((s) => ({ sink: this.sinks[s], batchSize: 5 })),
      logger: silent,
      checkpointIntervalMs: 0,
      maxBytes: 1500,
      blockTimeoutMs: 0,
      maxAgeMs: 10_000,
      memoryCacheBytes: 0,
      now: () => this.m.clock,
    });
  }
}

function check(m: Model, r: Real, step: string): void {
  const st = r.ob.status();
  for (const s of SINKS) {
    const ss = st.sinks.find((x) => x.name === s);
    assert.ok(ss, `sink ${s} exists`);
    assert.equal(ss.acceptedRecords, m.counts[s].accepted, `${step}: sink ${s} accepted`);
    assert.equal(ss.deliveredRecords, m.counts[s].delivered, `${step}: sink ${s} delivered = what it stored`);
    assertBalanced(ss, `${step}: sink ${s}`);
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;
type Policy = 'block' | 'drop_oldest' | 'drop_newest';

class Enqueue implements Cmd {
  constructor(
    readonly n: number,
    readonly policy: Policy,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    try {
      await r.ob.enqueue(seqRecords(m.next, this.n), { whenFull: this.policy });
      // accepted, or dropped at once (drop_newest): either way each sink's queue took it
      for (const s of SINKS) m.counts[s].accepted += this.n;
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'SF_ERR_OUTBOX_FULL', String(e)); // block: refused, not taken
    }
    m.next += this.n;
    check(m, r, this.toString());
  }
  toString = () => `enqueue(${this.n}, ${this.policy})`;
}

type Answer = 'ok' | 'retry' | 'auth' | 'permanent' | 'partial' | 'too_large';

class Deliver implements Cmd {
  constructor(
    readonly sink: SinkName,
    readonly answer: Answer,
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const sk = r.sinks[this.sink];
    const before = sk.accepted.length;
    sk.script = [
      (batch) => {
        if (this.answer === 'partial')
          return {
            kind: 'partial',
            reason: 'partial',
            rejected: [{ index: this.pick % batch.length, reason: 'bad line' }],
          };
        return { kind: this.answer, reason: this.answer } as WriteResult;
      },
    ];
    await r.ob.deliverOnce(this.sink);
    sk.script = [];
    m.counts[this.sink].delivered += sk.accepted.length - before;
    check(m, r, this.toString());
  }
  toString = () => `deliver(${this.sink}, ${this.answer}, ${this.pick})`;
}

class Age implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.clock += this.ms;
    r.ob.expireNow();
    check(m, r, this.toString());
  }
  toString = () => `age(${this.ms})`;
}

class Replay implements Cmd {
  constructor(readonly sink: SinkName) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const res = r.ob.store.replay({ sink: this.sink });
    m.counts[this.sink].accepted += res.records;
    check(m, r, this.toString());
  }
  toString = () => `replay(${this.sink})`;
}

class Restart implements Cmd {
  constructor(readonly crash: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (this.crash) r.ob.abort();
    else await r.ob.close();
    r.open();
    check(m, r, this.toString());
  }
  toString = () => (this.crash ? 'crash' : 'restart');
}

class Forget implements Cmd {
  constructor(readonly sink: SinkName) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const pending = r.ob.status().sinks.find((x) => x.name === this.sink)?.pendingRecords;
    await r.ob.close();
    const store = OutboxStore.open(r.dir, { mustExist: true });
    try {
      assert.equal(store.forgetSink(this.sink).pendingRecords, pending, 'forget-sink drops exactly what was pending');
    } finally {
      store.close();
    }
    // Configured again: a new cursor that starts with what is accepted from now on.
    m.counts[this.sink] = { accepted: 0, delivered: 0 };
    r.sinks[this.sink] = new ScriptedSink(this.sink);
    r.open();
    check(m, r, this.toString());
  }
  toString = () => `forget(${this.sink})`;
}

const commands = [
  fc
    .tuple(fc.integer({ min: 1, max: 12 }), fc.constantFrom<Policy>('block', 'block', 'drop_oldest', 'drop_newest'))
    .map(([n, p]) => new Enqueue(n, p)),
  fc
    .tuple(
      fc.constantFrom(...SINKS),
      fc.constantFrom<Answer>('ok', 'ok', 'ok', 'retry', 'auth', 'permanent', 'partial', 'too_large'),
      fc.nat(100),
    )
    .map(([s, a, p]) => new Deliver(s, a, p)),
  fc.integer({ min: 100, max: 6000 }).map((ms) => new Age(ms)),
  fc.constantFrom(...SINKS).map((s) => new Replay(s)),
  fc.boolean().map((c) => new Restart(c)),
  fc.constantFrom(...SINKS).map((s) => new Forget(s)),
];

test('per sink, accepted = delivered + pending + dead-lettered + dropped after every step of random partial deliveries, failures, drops, restarts and forget-sink', {
  timeout: 200_000,
}, async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
      const dir = tempDir();
      const m = new Model();
      const r = new Real(dir, m);
      try {
        await fc.asyncModelRun(() => ({ model: m, real: r }), cmds);
        // Drain with ok answers: nothing pending, and still balanced.
        for (const s of SINKS) {
          r.sinks[s].script = [];
          const before = r.sinks[s].accepted.length;
          for (let i = 0; i < 500 && (await r.ob.deliverOnce(s)).kind !== 'idle'; i++);
          m.counts[s].delivered += r.sinks[s].accepted.length - before;
        }
        check(m, r, 'drained');
        for (const ss of r.ob.status().sinks) assert.equal(ss.pendingRecords, 0, `sink ${ss.name} drained`);
      } finally {
        if (!r.ob.isClosed) await r.ob.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 60 },
  );
  t.diagnostic('60 random command sequences of up to 40 steps, identity checked after each');
});

test('an outbox file of schema 1 is migrated: accepted starts as what the sink accounted for, and holds from then on', async (t) => {
  const dir = tempDir(t);
  const open = () =>
    Outbox.open({ dataDir: dir, sinks: [{ sink: new ScriptedSink('a'), batchSize: 5 }], logger: silent });
  let ob = open();
  await ob.enqueue(seqRecords(0, 7));
  await ob.deliverOnce('a');
  await ob.close();
  // Turn it back into a schema-1 file (no accepted/lost/partial columns, events without sink/records/detail).
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(`${dir}/outbox.db`);
  for (const c of ['partial_batch', 'partial_done', 'accepted_records', 'lost_records'])
    db.exec(`ALTER TABLE sinks DROP COLUMN ${c}`);
  for (const c of ['sink', 'records', 'detail']) db.exec(`ALTER TABLE events DROP COLUMN ${c}`);
  db.pragma('user_version = 1');
  db.close();
  ob = open();
  let s = ob.status().sinks[0];
  // schema 1 kept no progress inside a batch: its 5 delivered + the whole batch pending (7) is what it accounted for
  assert.equal(s.acceptedRecords, 5 + 7);
  assertBalanced(s, 'after the migration');
  await ob.enqueue(seqRecords(7, 3));
  for (let i = 0; i < 5 && (await ob.deliverOnce('a')).kind !== 'idle'; i++);
  s = ob.status().sinks[0];
  assertBalanced(s, 'after more deliveries');
  await ob.close();
});
