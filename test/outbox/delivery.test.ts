/** Delivery semantics: what the outbox does with each WriteResult class, batching, ordering, backoff. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeBatch } from '../../src/outbox/codec.js';
import { Outbox, OutboxLockedError, type SinkDelivery } from '../../src/outbox/index.js';
import type { TelemetryRecord } from '../../src/records/record.js';
import { range, ScriptedSink, seqRecords, silent, sorted, tempDir } from './helpers.js';

function open(dir: string, sinks: SinkDelivery[], extra: Partial<Parameters<typeof Outbox.open>[0]> = {}) {
  return Outbox.open({ dataDir: dir, sinks, logger: silent, checkpointIntervalMs: 0, ...extra });
}

test('ok: every record delivered once, in order, cursor advanced and batches deleted', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = open(dir, [{ sink: a, batchSize: 250 }]);
  for (let i = 0; i < 4; i++) await ob.enqueue(seqRecords(i * 100, 100));
  assert.equal(ob.status().pendingRecords, 400);
  let steps = 0;
  while ((await ob.deliverOnce('a')).kind !== 'idle') steps++;
  assert.equal(steps, 2, 'batchSize 250 over 400 records = two writes');
  assert.deepEqual(
    a.writes.map((w) => w.size),
    [250, 150],
  );
  assert.deepEqual(a.times(), range(0, 400));
  const st = ob.status();
  assert.equal(st.pendingBatches, 0);
  assert.equal(st.sinks[0].deliveredRecords, 400);
  assert.equal(st.sinks[0].deliveredWrites, 2);
  await ob.close();
});

test('records round-trip through the outbox unchanged', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = open(dir, [{ sink: a }]);
  const recs: TelemetryRecord[] = [
    {
      time: -1n,
      measurement: 'µ',
      tags: { 'k é': 'v😀' },
      fields: { f: -0, g: Number.NaN, h: Number.NEGATIVE_INFINITY, i: 2n ** 64n, s: '' },
    },
    { time: 9223372036854775807n, measurement: 'm', tags: {}, fields: { b: true, i: -(2n ** 63n) } },
  ];
  await ob.enqueue(recs);
  await ob.deliverOnce('a');
  assert.deepEqual(a.accepted, recs);
  assert.ok(Object.is(a.accepted[0].fields.f, -0));
  await ob.close();
});

test('two sinks each get everything; a batch is deleted only when both passed it', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const b = new ScriptedSink('b');
  const ob = open(dir, [{ sink: a }, { sink: b }]);
  await ob.enqueue(seqRecords(0, 10));
  await ob.enqueue(seqRecords(10, 10));
  await ob.deliverOnce('a');
  assert.equal(ob.status().pendingBatches, 2, 'b has not delivered yet');
  assert.equal(ob.status().sinks.find((s) => s.name === 'a')?.pendingRecords, 0);
  assert.equal(ob.status().sinks.find((s) => s.name === 'b')?.pendingRecords, 20);
  await ob.deliverOnce('b');
  assert.equal(ob.status().pendingBatches, 0);
  assert.deepEqual(a.times(), range(0, 20));
  assert.deepEqual(b.times(), range(0, 20));
  await ob.close();
});

test('retry keeps the batch, counts the retry and backs off; the next attempt delivers it', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [{ kind: 'retry', reason: '503 busy' }]);
  const ob = open(dir, [{ sink: a }], { random: () => 0.5 });
  await ob.enqueue(seqRecords(0, 5));
  const r1 = await ob.deliverOnce('a');
  assert.equal(r1.kind, 'retry');
  const s1 = ob.status().sinks[0];
  assert.equal(s1.pendingRecords, 5);
  assert.equal(s1.retries, 1);
  assert.match(s1.lastError ?? '', /503 busy/);
  assert.ok(s1.backoffUntilMs !== null, 'a backoff is scheduled');
  const r2 = await ob.deliverOnce('a');
  assert.equal(r2.kind, 'ok');
  assert.deepEqual(a.times(), range(0, 5));
  assert.equal(ob.status().sinks[0].pendingRecords, 0);
  await ob.close();
});

test('backoff defaults: 5 s, ×2, capped at 30 s, with jitter; Retry-After honoured', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  let rnd = 0.5;
  const ob = open(dir, [{ sink: a }], { random: () => rnd });
  const w = ob.workers.get('a');
  assert.ok(w);
  const delays: number[] = [];
  for (let k = 1; k <= 6; k++) {
    w.consecutiveFailures = k;
    delays.push(w.backoffDelay());
  }
  assert.deepEqual(delays, [5000, 10000, 20000, 30000, 30000, 30000]);
  w.consecutiveFailures = 1;
  rnd = 0;
  assert.equal(w.backoffDelay(), 4000, '-20 % jitter');
  rnd = 1;
  assert.equal(w.backoffDelay(), 6000, '+20 % jitter');
  assert.equal(w.backoffDelay(1234), 1234, 'Retry-After wins over the computed delay');
  assert.equal(w.backoffDelay(99 * 3600 * 1000), 3600 * 1000, 'absurd Retry-After clamped to 1 h');
  await ob.close();
});

test('running loop: Retry-After is waited for, then the batch is delivered', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [{ kind: 'retry', reason: '429', retryAfterMs: 300 }]);
  const ob = open(dir, [{ sink: a, flushIntervalMs: 0, flushJitterMs: 0 }]);
  ob.start();
  await ob.enqueue(seqRecords(0, 3));
  await ob.drain(5000);
  assert.equal(a.writes.length, 2);
  const gap = a.writes[1].at - a.writes[0].at;
  assert.ok(gap >= 280, `second attempt ${gap} ms after the 429 (Retry-After 300 ms)`);
  assert.ok(gap < 2000, `not the 5 s default backoff (${gap} ms)`);
  await ob.close();
});

test('auth: batch kept, alarm raised, cleared by the next success', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [
    { kind: 'auth', reason: '401 unauthorized' },
    { kind: 'auth', reason: '403 forbidden' },
  ]);
  const ob = open(dir, [{ sink: a }]);
  await ob.enqueue(seqRecords(0, 5));
  await ob.deliverOnce('a');
  await ob.deliverOnce('a');
  let s = ob.status().sinks[0];
  assert.equal(s.alarm, true);
  assert.match(s.alarmReason ?? '', /403/);
  assert.equal(s.authFailures, 2);
  assert.equal(s.pendingRecords, 5);
  assert.equal(s.deadLetteredRecords, 0, 'auth failures never dead-letter');
  await ob.deliverOnce('a');
  s = ob.status().sinks[0];
  assert.equal(s.alarm, false);
  assert.equal(s.pendingRecords, 0);
  assert.deepEqual(a.times(), range(0, 5));
  await ob.close();
});

test('misconfigured: batch kept, alarm raised (not an auth failure), cleared by the next success', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [{ kind: 'misconfigured', reason: '404 database not found: "x"' }]);
  const ob = open(dir, [{ sink: a }]);
  await ob.enqueue(seqRecords(0, 5));
  await ob.deliverOnce('a');
  let s = ob.status().sinks[0];
  assert.equal(s.alarm, true);
  assert.match(s.alarmReason ?? '', /database not found/);
  assert.equal(s.authFailures, 0);
  assert.equal(s.retries, 1);
  assert.equal(s.pendingRecords, 5);
  assert.equal(s.deadLetteredRecords, 0);
  await ob.deliverOnce('a');
  s = ob.status().sinks[0];
  assert.equal(s.alarm, false);
  assert.deepEqual(a.times(), range(0, 5));
  await ob.close();
});

test('permanent: the whole write is dead-lettered with the server reason, the sink moves on', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [{ kind: 'permanent', reason: '400 unable to parse' }]);
  const ob = open(dir, [{ sink: a }]);
  await ob.enqueue(seqRecords(0, 4));
  await ob.enqueue(seqRecords(4, 4));
  await ob.deliverOnce('a');
  await ob.deliverOnce('a');
  const s = ob.status().sinks[0];
  assert.equal(s.pendingRecords, 0);
  assert.equal(s.deadLetteredRecords, 8 - a.accepted.length);
  const dl = ob.store.deadLetters({ withData: true });
  assert.equal(dl.length, 1);
  assert.equal(dl[0].reason, '400 unable to parse');
  assert.equal(dl[0].kind, 'permanent');
  assert.equal(dl[0].sink, 'a');
  const dead = decodeBatch(dl[0].data as Buffer).map((r) => Number(r.time));
  assert.deepEqual(sorted([...dead, ...a.times()]), range(0, 8), 'every record is delivered or dead-lettered');
  await ob.close();
});

test('partial: the rest is delivered, rejects dead-lettered grouped by reason', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [
    {
      kind: 'partial',
      reason: 'partial write: field type conflict',
      rejected: [
        { index: 1, reason: 'type conflict' },
        { index: 3, reason: 'type conflict' },
        { index: 4, reason: 'bad tag' },
        { index: 99, reason: 'out of range index is ignored' },
      ],
    },
  ]);
  const ob = open(dir, [{ sink: a }]);
  await ob.enqueue(seqRecords(0, 6));
  const r = await ob.deliverOnce('a');
  assert.equal(r.kind, 'partial');
  assert.deepEqual(a.times(), [0, 2, 5]);
  const s = ob.status().sinks[0];
  assert.equal(s.deliveredRecords, 3);
  assert.equal(s.deadLetteredRecords, 3);
  assert.equal(s.pendingRecords, 0);
  const dl = ob.store.deadLetters({ withData: true });
  const byReason = Object.fromEntries(
    dl.map((d) => [d.reason, decodeBatch(d.data as Buffer).map((x) => Number(x.time))]),
  );
  assert.deepEqual(byReason, { 'type conflict': [1, 3], 'bad tag': [4] });
  await ob.close();
});

test('too_large: halves are written (recursively); a single record still too large is dead-lettered', async (t) => {
  const dir = tempDir(t);
  // Accept at most 3 records per write; record 5 is always too large.
  const limit = (b: readonly { time: bigint }[]) =>
    b.length > 3 || b.some((r) => r.time === 5n)
      ? { kind: 'too_large' as const, reason: '413 entity too large' }
      : { kind: 'ok' as const };
  const a = new ScriptedSink('a', [], { kind: 'ok' });
  a.write = (async (batch) => {
    const res = limit(batch);
    a.writes.push({ size: batch.length, at: Date.now(), result: res.kind });
    if (res.kind === 'ok') a.accepted.push(...batch);
    return res;
  }) as typeof a.write;
  const ob = open(dir, [{ sink: a }]);
  await ob.enqueue(seqRecords(0, 10));
  for (let i = 0; i < 50 && (await ob.deliverOnce('a')).kind !== 'idle'; i++);
  assert.deepEqual(a.times(), [0, 1, 2, 3, 4, 6, 7, 8, 9], 'order kept across splits');
  const dl = ob.store.deadLetters({ withData: true });
  assert.equal(dl.length, 1);
  assert.equal(dl[0].kind, 'too_large');
  assert.deepEqual(
    decodeBatch(dl[0].data as Buffer).map((r) => r.time),
    [5n],
  );
  assert.equal(ob.status().sinks[0].pendingRecords, 0);
  await ob.close();
});

test('maxAttempts: a batch that keeps failing is dead-lettered after N attempts (opt-in)', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [], { kind: 'retry', reason: 'connection refused' });
  const ob = open(dir, [{ sink: a, maxAttempts: 3 }]);
  await ob.enqueue(seqRecords(0, 2));
  const kinds = [];
  for (let i = 0; i < 3; i++) kinds.push((await ob.deliverOnce('a')).kind);
  assert.deepEqual(kinds, ['retry', 'retry', 'gave_up']);
  const dl = ob.store.deadLetters();
  assert.equal(dl.length, 1);
  assert.match(dl[0].reason, /gave up after 3 attempts: connection refused/);
  await ob.close();
});

test('a sink that throws or returns garbage is retried, never crashes the outbox', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [
    () => {
      throw new Error('socket hang up');
    },
    () => ({ kind: 'weird' }) as never,
  ]);
  const ob = open(dir, [{ sink: a }]);
  await ob.enqueue(seqRecords(0, 2));
  assert.equal((await ob.deliverOnce('a')).kind, 'retry');
  assert.match(ob.status().sinks[0].lastError ?? '', /socket hang up/);
  assert.equal((await ob.deliverOnce('a')).kind, 'retry');
  assert.match(ob.status().sinks[0].lastError ?? '', /unknown result/);
  assert.equal((await ob.deliverOnce('a')).kind, 'ok');
  assert.deepEqual(a.times(), [0, 1]);
  await ob.close();
});

test('a hanging write times out, is aborted and retried', async (t) => {
  const dir = tempDir(t);
  let signalSeen: AbortSignal | undefined;
  const a = new ScriptedSink('a');
  const orig = a.write.bind(a);
  let first = true;
  a.write = (async (batch: readonly TelemetryRecord[], signal?: AbortSignal) => {
    if (first) {
      first = false;
      signalSeen = signal;
      return new Promise(() => {});
    }
    return orig(batch);
  }) as typeof a.write;
  const ob = open(dir, [{ sink: a, writeTimeoutMs: 100 }]);
  await ob.enqueue(seqRecords(0, 2));
  const r = await ob.deliverOnce('a');
  assert.equal(r.kind, 'retry');
  assert.match(r.kind === 'retry' ? (r.reason ?? '') : '', /timed out after 100 ms/);
  assert.equal(signalSeen?.aborted, true);
  assert.equal((await ob.deliverOnce('a')).kind, 'ok');
  await ob.close();
});

test('small stored batches are combined up to batchSize; flush interval sends a partial batch', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a');
  const ob = open(dir, [{ sink: a, batchSize: 1000, flushIntervalMs: 600, flushJitterMs: 0 }]);
  ob.start();
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) await ob.enqueue(seqRecords(i * 10, 10));
  while (a.accepted.length < 100 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    a.writes.map((w) => w.size),
    [100],
    'ten stored batches, one write',
  );
  assert.ok(a.writes[0].at - t0 >= 550, 'waited for the flush interval since nothing filled the batch');
  // A full batch goes out at once.
  const t1 = Date.now();
  await ob.enqueue(seqRecords(100, 1000));
  while (a.accepted.length < 1100 && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 5));
  assert.ok(a.writes[1].at - t1 < 500, `full batch written without waiting (${a.writes[1].at - t1} ms)`);
  assert.deepEqual(a.times(), range(0, 1100));
  await ob.close();
});

test('concurrency 2: everything delivered exactly once, cursor only advances over completed batches', async (t) => {
  const dir = tempDir(t);
  let n = 0;
  const a = new ScriptedSink('a', [], { kind: 'ok' });
  const orig = a.write.bind(a);
  let maxInFlight = 0;
  let inFlight = 0;
  a.write = (async (batch) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // Odd writes are slow, so completions come out of order.
    await new Promise((r) => setTimeout(r, n++ % 2 ? 40 : 5));
    inFlight--;
    return orig(batch);
  }) as typeof a.write;
  const ob = open(dir, [{ sink: a, batchSize: 100, concurrency: 2, flushIntervalMs: 0, flushJitterMs: 0 }]);
  ob.start();
  for (let i = 0; i < 20; i++) await ob.enqueue(seqRecords(i * 100, 100));
  await ob.drain(10000);
  assert.equal(maxInFlight, 2);
  assert.deepEqual(sorted(a.times()), range(0, 2000));
  assert.equal(ob.status().pendingBatches, 0);
  await ob.close();
});

test('close waits for the write in flight and records it; the rest is delivered after reopen', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [
    async () => {
      await new Promise((r) => setTimeout(r, 100));
      return { kind: 'ok' };
    },
  ]);
  const ob = open(dir, [{ sink: a, batchSize: 10, flushIntervalMs: 0, flushJitterMs: 0 }]);
  await ob.enqueue(seqRecords(0, 10));
  await ob.enqueue(seqRecords(10, 10));
  ob.start();
  await new Promise((r) => setTimeout(r, 20));
  await ob.close();
  assert.deepEqual(a.times(), range(0, 10));
  const b = new ScriptedSink('a');
  const ob2 = open(dir, [{ sink: b }]);
  assert.equal(ob2.status().sinks[0].pendingRecords, 10);
  await ob2.deliverOnce('a');
  assert.deepEqual(b.times(), range(10, 10));
  await ob2.close();
});

test('a sink added later starts with what is accepted from then on; inactive sinks keep their backlog', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [{ sink: new ScriptedSink('a') }]);
  await ob.enqueue(seqRecords(0, 5));
  await ob.close();
  const a = new ScriptedSink('a');
  const b = new ScriptedSink('b');
  const ob2 = open(dir, [{ sink: a }, { sink: b }]);
  await ob2.enqueue(seqRecords(5, 5));
  await ob2.deliverOnce('a');
  await ob2.deliverOnce('b');
  assert.deepEqual(a.times(), range(0, 10));
  assert.deepEqual(b.times(), range(5, 5));
  await ob2.close();
  // Reopen with only b: a is inactive and its (new) backlog is kept for it.
  const b2 = new ScriptedSink('b');
  const ob3 = open(dir, [{ sink: b2 }]);
  await ob3.enqueue(seqRecords(10, 5));
  await ob3.deliverOnce('b');
  const st = ob3.status();
  const sa = st.sinks.find((s) => s.name === 'a');
  assert.equal(sa?.active, false);
  assert.equal(sa?.pendingRecords, 5);
  assert.equal(st.pendingBatches, 1, 'kept for the inactive sink');
  await ob3.close();
});

test('replayed dead letters go to their sink only', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [{ kind: 'permanent', reason: 'schema mismatch' }]);
  const b = new ScriptedSink('b');
  const ob = open(dir, [{ sink: a }, { sink: b }]);
  await ob.enqueue(seqRecords(0, 3));
  await ob.deliverOnce('a');
  await ob.deliverOnce('b');
  assert.equal(ob.status().sinks.find((s) => s.name === 'a')?.deadLetteredRecords, 3);
  const r = ob.store.replay({ sink: 'a' });
  assert.deepEqual(r, { replayed: 1, records: 3, skipped: [] });
  assert.equal(ob.store.deadLetters().length, 0);
  assert.equal((await ob.deliverOnce('b')).kind, 'idle', 'b does not get the replay');
  assert.equal((await ob.deliverOnce('a')).kind, 'ok');
  assert.deepEqual(a.times(), [0, 1, 2]);
  assert.deepEqual(b.times(), [0, 1, 2]);
  const st = ob.status();
  assert.equal(st.pendingBatches, 0);
  const sa = st.sinks.find((s) => s.name === 'a');
  assert.equal(sa?.deadLetteredRecords, 3, 'a counter: records ever dead-lettered');
  assert.equal(sa?.deadLettersStored.records, 0, 'none stored any more');
  await ob.close();
});

test('invalid records are refused with the index and nothing is stored', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [{ sink: new ScriptedSink('a') }]);
  const bad = [...seqRecords(0, 3), { time: 1, measurement: 'm', tags: {}, fields: { a: 1 } } as never];
  await assert.rejects(ob.enqueue(bad), { code: 'SF_ERR_OUTBOX_INPUT', message: /record 3: time must be a bigint/ });
  await assert.rejects(
    ob.enqueue([{ time: 1n, measurement: 'm', tags: {}, fields: { a: {} as never } }]),
    /record 0: field a has type object/,
  );
  assert.equal(ob.status().pendingBatches, 0);
  await ob.close();
  await assert.rejects(ob.enqueue(seqRecords(0, 1)), { code: 'SF_ERR_OUTBOX_CLOSED', message: /after close/ });
});

test('a second process cannot open the same data dir; a stale lock is taken over', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [{ sink: new ScriptedSink('a') }]);
  assert.throws(
    () => Outbox.open({ dataDir: dir, sinks: [{ sink: new ScriptedSink('a') }], logger: silent }),
    (e: unknown) =>
      e instanceof OutboxLockedError &&
      e.code === 'SF_ERR_OUTBOX_LOCKED' &&
      e.holder === process.pid &&
      /in use by process/.test(e.message),
  );
  await ob.close();
  writeFileSync(join(dir, 'outbox.lock'), '999999999\n');
  const ob2 = open(dir, [{ sink: new ScriptedSink('a') }]);
  await ob2.close();
});

/** Child processes that take the data directory's lock, print `locked` or `busy: …`, and hold it for `holdMs`. */
function lockers(dir: string, n: number, holdMs: number) {
  const ext = fileURLToPath(import.meta.url).endsWith('.ts') ? 'ts' : 'js';
  const lock = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), `../../src/outbox/lock.${ext}`)).href;
  const code = `
    const { lockDataDir } = await import(${JSON.stringify(lock)});
    await new Promise((r) => setTimeout(r, Number(process.env.START_AT) - Date.now()));
    // (the release is kept: the lock is a SQLite connection, closed when garbage collected)
    try { globalThis.release = lockDataDir(${JSON.stringify(dir)}); console.log('locked'); } catch (e) { console.log('busy: ' + e.message); }
    setTimeout(() => {}, ${holdMs});`;
  const startAt = String(Date.now() + 1500);
  return Array.from({ length: n }, () => {
    const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], {
      env: { ...process.env, START_AT: startAt },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const said = new Promise<string>((resolve) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.on('exit', () => resolve(out.trim()));
    });
    return { child, said };
  });
}

test('processes starting together: exactly one holds the outbox lock; a crashed holder frees it', async (t) => {
  const dir = tempDir(t);
  const procs = lockers(dir, 4, 30_000);
  t.after(() => {
    for (const p of procs) p.child.kill('SIGKILL');
  });
  const said = await Promise.all(procs.map((p) => p.said));
  const winners = said.filter((s) => s === 'locked');
  assert.equal(winners.length, 1, said.join(' | '));
  const holder = procs[said.indexOf('locked')].child;
  for (const s of said)
    if (s !== 'locked') assert.match(s, new RegExp(`busy: .*in use by (process ${holder.pid}|another process)`));
  assert.throws(() => open(dir, [{ sink: new ScriptedSink('a') }]), new RegExp(`in use by process ${holder.pid}`));
  // kill -9: the kernel drops the lock with the process; the stale owner file does not block the next one
  const exited = new Promise((r) => holder.once('exit', r));
  holder.kill('SIGKILL');
  await exited;
  const ob = open(dir, [{ sink: new ScriptedSink('a') }]);
  assert.match(readFileSync(join(dir, 'outbox.lock'), 'utf8'), new RegExp(`^${process.pid}( \\d+)?\n$`));
  await ob.close();
});

test('Retry-After: 0 (or a past date) gets the normal backoff, not a tight retry loop', async (t) => {
  const dir = tempDir(t);
  const ob = open(dir, [{ sink: new ScriptedSink('a') }], { random: () => 0.5 });
  const w = ob.workers.get('a');
  assert.ok(w);
  w.consecutiveFailures = 1;
  assert.equal(w.backoffDelay(0), 5000);
  await ob.close();
});

test('an error while acting on an answer (e.g. disk full) does not lose the write: it is retried', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', [{ kind: 'retry', reason: '503' }]);
  const ob = open(dir, [{ sink: a, backoffInitialMs: 1, backoffMaxMs: 1 }]);
  const store = ob.store as unknown as { recordFailure: (...args: unknown[]) => void };
  const real = store.recordFailure.bind(store);
  let failures = 0;
  store.recordFailure = () => {
    failures++;
    throw new Error('SQLITE_FULL: database or disk is full');
  };
  await ob.enqueue(seqRecords(0, 20));
  await ob.deliverOnce('a');
  store.recordFailure = real;
  await new Promise((r) => setTimeout(r, 5));
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  assert.equal(failures, 1);
  assert.deepEqual(a.times(), range(0, 20), 'delivered after the failed bookkeeping');
  assert.equal(ob.status().sinks[0].pendingRecords, 0);
  await ob.close();
});

test('a delivery that cannot be recorded (disk full) is not written again: only the recording is retried', async (t) => {
  const dir = tempDir(t);
  const a = new ScriptedSink('a', []);
  const ob = open(dir, [{ sink: a, backoffInitialMs: 1, backoffMaxMs: 1 }]);
  const store = ob.store as unknown as { complete: (...args: unknown[]) => void };
  const real = store.complete.bind(store);
  let refused = 0;
  store.complete = () => {
    refused++;
    throw new Error('SQLITE_FULL: database or disk is full');
  };
  await ob.enqueue(seqRecords(0, 20));
  await ob.deliverOnce('a'); // written; its recording refused
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 3));
    await assert.rejects(ob.deliverOnce('a'), /SQLITE_FULL/); // nothing new is written while it cannot record
  }
  assert.ok(refused >= 6);
  assert.deepEqual(a.times(), range(0, 20), 'written once, not once per retry');
  store.complete = real;
  while ((await ob.deliverOnce('a')).kind !== 'idle');
  assert.deepEqual(a.times(), range(0, 20), 'still once: the recording was retried, not the write');
  const s = ob.status().sinks[0];
  assert.equal(s.pendingRecords, 0);
  assert.equal(s.deliveredRecords, 20);
  await ob.close();
});

test('an outbox that cannot be opened for a system reason names its folder (SF_ERR_OUTBOX_OPEN)', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'outbox.db')); // a folder where the database file should be: SQLite cannot open it
  assert.throws(
    () => open(dir, [{ sink: new ScriptedSink('a', []) }]),
    (e: unknown) =>
      (e as { code?: string }).code === 'SF_ERR_OUTBOX_OPEN' &&
      (e as Error).message.startsWith(`cannot open the outbox in ${dir}: `),
  );
});
