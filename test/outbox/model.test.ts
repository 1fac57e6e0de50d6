/**
 * Model-based property test (fast-check commands): random sequences of enqueue / deliver with every result class /
 * crash (abort without flush) / crash in the middle of a write (after the sink stored it, before the outbox
 * recorded it) / graceful reopen, against an in-memory model of what the outbox owes each sink.
 *
 * The model keeps, per sink, the stored batches not yet passed by the sink's cursor and, per record, whether it is
 * still owed. Checked after every command: the outbox's pending count per sink equals the records the model still
 * owes (a partly written batch counts only its rest; progress survives restarts), every write
 * carries only owed records in ascending order (acceptance order), counters match the dead-letter table. Checked at
 * the end: after draining, every accepted record reached each sink or its dead letters — nothing else, nothing lost.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeBatch } from '../../src/outbox/codec.js';
import { Outbox, type WriteResult } from '../../src/outbox/index.js';
import { ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

const SINKS = ['a', 'b'] as const;
type SinkName = (typeof SINKS)[number];

interface MBatch {
  seqs: number[];
  owed: Set<number>;
}

class Model {
  nextSeq = 0;
  accepted: number[] = [];
  batches: Record<SinkName, MBatch[]> = { a: [], b: [] };
  /** Records whose write succeeded but whose outcome a crash may have lost: they may be written again. */
  mayRepeat: Record<SinkName, Set<number>> = { a: new Set(), b: new Set() };
  /** Records still owed: a batch partly written counts only its rest (issue 8, item 2). */
  pending(s: SinkName): number {
    return this.batches[s].reduce((n, b) => n + b.owed.size, 0);
  }
  owed(s: SinkName): Set<number> {
    const out = new Set<number>();
    for (const b of this.batches[s]) for (const x of b.owed) out.add(x);
    return out;
  }
  settle(s: SinkName): void {
    const list = this.batches[s];
    while (list.length > 0 && list[0].owed.size === 0) list.shift();
  }
  /**
   * A crash keeps recorded progress: the outbox persists the done prefix of a partly written batch with the
   * counters, so nothing recorded as done is owed again (only a write whose answer was not recorded is repeated).
   */
  crash(): void {}
}

class Real {
  ob!: Outbox;
  readonly sinks: Record<SinkName, ScriptedSink> = { a: new ScriptedSink('a'), b: new ScriptedSink('b') };
  constructor(readonly dir: string) {
    this.open();
  }
  open(): void {
    this.ob = Outbox.open({
      dataDir: this.dir,
      sinks: SINKS.map((s) => ({ sink: this.sinks[s] })),
      logger: silent,
      checkpointIntervalMs: 0,
    });
  }
}

function check(m: Model, r: Real): void {
  const st = r.ob.status();
  for (const s of SINKS) {
    const ss = st.sinks.find((x) => x.name === s);
    assert.ok(ss);
    assert.equal(ss.pendingRecords, m.pending(s), `sink ${s}: pending records`);
    const dl = r.ob.store.deadLetters({ sink: s }).reduce((n, d) => n + d.records, 0);
    assert.equal(ss.deadLetteredRecords, dl, `sink ${s}: dead-letter counter = dead-letter table`);
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

class Enqueue implements Cmd {
  constructor(readonly n: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const res = await r.ob.enqueue(seqRecords(m.nextSeq, this.n));
    assert.equal(res.accepted, true);
    const seqs = Array.from({ length: this.n }, (_, i) => m.nextSeq + i);
    m.nextSeq += this.n;
    m.accepted.push(...seqs);
    for (const s of SINKS) m.batches[s].push({ seqs, owed: new Set(seqs) });
    check(m, r);
  }
  toString = () => `enqueue(${this.n})`;
}

type Answer = 'ok' | 'retry' | 'auth' | 'misconfigured' | 'permanent' | 'partial' | 'too_large';

class Deliver implements Cmd {
  constructor(
    readonly sink: SinkName,
    readonly answer: Answer,
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const sk = r.sinks[this.sink];
    let written: number[] = [];
    let rejected = new Set<number>();
    sk.script = [
      (batch) => {
        written = batch.map((x) => Number(x.time));
        switch (this.answer) {
          case 'ok':
            return { kind: 'ok' };
          case 'partial': {
            rejected = new Set([this.pick % batch.length]);
            return {
              kind: 'partial',
              reason: 'partial',
              rejected: [...rejected].map((index) => ({ index, reason: 'bad line' })),
            };
          }
          case 'retry':
            return { kind: 'retry', reason: '503' };
          default:
            return { kind: this.answer, reason: this.answer } as WriteResult;
        }
      },
    ];
    const out = await r.ob.deliverOnce(this.sink);
    sk.script = [];
    if (out.kind === 'idle') {
      assert.equal(m.owed(this.sink).size, 0, `idle only when nothing is owed to ${this.sink}`);
      m.settle(this.sink);
      check(m, r);
      return;
    }
    const owed = m.owed(this.sink);
    assert.ok(written.length > 0);
    for (const x of written) assert.ok(owed.has(x), `write to ${this.sink} carries ${x}, which is not owed`);
    for (let i = 1; i < written.length; i++) assert.ok(written[i - 1] < written[i], 'acceptance order');
    const settled = (xs: number[]) => {
      for (const b of m.batches[this.sink]) for (const x of xs) b.owed.delete(x);
      m.settle(this.sink);
    };
    if (this.answer === 'ok' || this.answer === 'permanent') settled(written);
    else if (this.answer === 'partial') settled(written);
    else if (this.answer === 'too_large' && written.length === 1) settled(written);
    check(m, r);
  }
  toString = () => `deliver(${this.sink}, ${this.answer}, ${this.pick})`;
}

class Crash implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    r.ob.abort();
    m.crash();
    r.open();
    check(m, r);
  }
  toString = () => 'crash';
}

class CrashInWrite implements Cmd {
  constructor(readonly sink: SinkName) {}
  check = (m: Readonly<Model>) => m.owed(this.sink).size > 0;
  async run(m: Model, r: Real) {
    const sk = r.sinks[this.sink];
    // The sink stores the batch, then the process dies before the outbox records the ack.
    let written: number[] = [];
    sk.script = [
      (batch) => {
        written = batch.map((x) => Number(x.time));
        r.ob.abort();
        return { kind: 'ok' };
      },
    ];
    await r.ob.deliverOnce(this.sink);
    sk.script = [];
    assert.ok(written.length > 0, 'a write happened');
    for (const x of written) m.mayRepeat[this.sink].add(x);
    m.crash();
    r.open();
    check(m, r);
  }
  toString = () => `crashInWrite(${this.sink})`;
}

class Reopen implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    await r.ob.close();
    m.crash(); // recorded progress (also inside a partly written batch) survives a restart
    r.open();
    check(m, r);
  }
  toString = () => 'reopen';
}

const commands = [
  fc.integer({ min: 1, max: 12 }).map((n) => new Enqueue(n)),
  fc
    .tuple(
      fc.constantFrom(...SINKS),
      fc.constantFrom<Answer>('ok', 'ok', 'retry', 'auth', 'misconfigured', 'permanent', 'partial', 'too_large'),
      fc.nat(100),
    )
    .map(([s, a, p]) => new Deliver(s, a, p)),
  fc.constant(new Crash()),
  fc.constant(new Reopen()),
  fc.constantFrom(...SINKS).map((s) => new CrashInWrite(s)),
];

test('outbox matches its model over random enqueue / deliver / fail / crash / reopen sequences', {
  timeout: 100_000,
}, async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 30 }), async (cmds) => {
      const dir = tempDir();
      const m = new Model();
      const r = new Real(dir);
      try {
        await fc.asyncModelRun(() => ({ model: m, real: r }), cmds);
        // Drain: every sink answers ok from now on.
        for (const s of SINKS) {
          r.sinks[s].script = [];
          for (let i = 0; i < 500 && (await r.ob.deliverOnce(s)).kind !== 'idle'; i++);
        }
        assert.equal(r.ob.status().pendingBatches, 0, 'everything passed by every sink');
        for (const s of SINKS) {
          const got = r.sinks[s].times();
          const dead = r.ob.store
            .deadLetters({ sink: s, withData: true })
            .flatMap((d) => decodeBatch(d.data as Buffer).map((x) => Number(x.time)));
          const seen = new Set([...got, ...dead]);
          for (const x of m.accepted) assert.ok(seen.has(x), `sink ${s} lost accepted record ${x}`);
          const accepted = new Set(m.accepted);
          for (const x of seen) assert.ok(accepted.has(x), `sink ${s} got ${x}, which was never accepted`);
          // Duplicates only where a crash could cause them.
          const counts = new Map<number, number>();
          for (const x of got) counts.set(x, (counts.get(x) ?? 0) + 1);
          for (const [x, c] of counts)
            if (c > 1) assert.ok(m.mayRepeat[s].has(x), `sink ${s} got ${x} ${c} times without a crash to explain it`);
        }
      } finally {
        if (!r.ob.isClosed) await r.ob.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 60 },
  );
  t.diagnostic('60 random command sequences of up to 30 steps');
});
