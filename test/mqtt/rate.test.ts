/**
 * The uplinks' rate limiter (src/mqtt/rate.ts) on a fake clock: sliding windows never over-admit, whatever the
 * send pattern; finishAt predicts what acquire then does; packers respect max_payload_bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  GroupedPacker,
  JSON_ARRAY,
  jsonFloat,
  jsonValue,
  LINES,
  Packer,
  RateJournal,
  RateLimiter,
  rateGuardMs,
} from '../../src/mqtt/index.js';
import { prng } from '../harness/prng.js';
import { maxInWindow } from '../sinks/uplink-helpers.js';

test('sliding windows: never more than `messages` in any `per`, for random send patterns', () => {
  const rnd = prng(7);
  for (let round = 0; round < 20; round++) {
    let now = 0;
    const windows = [
      { messages: 1 + Math.floor(rnd() * 10), perMs: 100 + Math.floor(rnd() * 900) },
      { messages: 5 + Math.floor(rnd() * 40), perMs: 2000 + Math.floor(rnd() * 5000) },
    ];
    const lim = new RateLimiter(windows, () => now);
    const sent: number[] = [];
    for (let i = 0; i < 300; i++) {
      // try to send at a random moment; if not allowed, wait until allowed (as acquire does)
      now += Math.floor(rnd() * 50);
      const at = lim.nextAt(now);
      now = at;
      lim.record(now);
      sent.push(now);
    }
    for (const w of windows)
      assert.ok(maxInWindow(sent, w.perMs + rateGuardMs(w.perMs)) <= w.messages, `round ${round}`);
  }
});

test('finishAt predicts the paced schedule, from now and from idle', () => {
  let now = 1000;
  const lim = new RateLimiter([{ messages: 10, perMs: 1000 }], () => now);
  assert.equal(lim.finishAt(10, now), now); // a full window at once
  const span = 1000 + rateGuardMs(1000);
  assert.equal(lim.finishAt(11, now), now + span);
  assert.equal(lim.finishAt(25, now), now + 2 * span);
  for (let i = 0; i < 10; i++) lim.record(now);
  now += 100;
  assert.equal(lim.finishAt(1, now), 1000 + span); // the window is used up: the next waits for the oldest to age
  assert.equal(lim.finishAt(1, now, true), now); // from idle: at once
  assert.equal(new RateLimiter([], () => 5).finishAt(1000), 5); // unlimited: at once
});

test('acquire waits as the limits say, and gives up when aborted', async () => {
  const lim = new RateLimiter([{ messages: 3, perMs: 200 }]);
  const t0 = performance.now();
  const at: number[] = [];
  for (let i = 0; i < 7; i++) {
    const ticket = await lim.acquire();
    assert.ok(ticket);
    at.push(performance.now() - t0);
    ticket.settle(); // acknowledged at once
  }
  assert.ok(maxInWindow(at, 200) <= 3, at.join(' '));
  assert.ok(at[6] >= 400, `7 sends at 3 per 200 ms take ≥ 400 ms, took ${at[6]}`);
  for (let i = 0; i < 3; i++) lim.record(); // the window is full for the next 200 ms
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  const t1 = performance.now();
  assert.equal(await lim.acquire(ac.signal), null);
  assert.ok(performance.now() - t1 < 150);
});

test('a slot is held until its send is acknowledged, then for a window', async () => {
  let now = 0;
  const lim = new RateLimiter([{ messages: 2, perMs: 100 }], () => now);
  const span = 100 + rateGuardMs(100);
  const a = await lim.acquire();
  const b = await lim.acquire();
  assert.ok(a && b);
  assert.equal(lim.nextAt(now), Number.POSITIVE_INFINITY, 'both slots await their PUBACK');
  let third = false;
  const c = lim.acquire().then((t) => {
    third = true;
    return t;
  });
  now = 50;
  a.settle(); // acknowledged at 50: its slot frees at 50 + span
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(third, false);
  assert.equal(lim.nextAt(now), 50 + span);
  now = 50 + span;
  assert.ok(await c);
  assert.ok(third);
  // unacknowledged sends count as acknowledged now when estimating
  assert.equal(lim.finishAt(1, now), now + span);
  b.settle();
});

test('packers keep every payload within max bytes and lose nothing', () => {
  const items = Array.from({ length: 200 }, (_, i) => JSON.stringify({ i, s: 'é'.repeat(i % 17) }));
  const p = new Packer(JSON_ARRAY, 300);
  for (const it of items) p.add(it);
  const out = p.finish();
  assert.ok(out.length > 1);
  for (const o of out) assert.ok(Buffer.byteLength(o) <= 300, `${Buffer.byteLength(o)}`);
  assert.deepEqual(
    out.flatMap((o) => JSON.parse(o)),
    items.map((i) => JSON.parse(i)),
  );
  const lines = new Packer(LINES, 45);
  for (const l of ['a 1', 'b 2', 'c'.repeat(40)]) lines.add(l);
  assert.deepEqual(lines.finish(), ['a 1\nb 2\n', `${'c'.repeat(40)}\n`]);
  assert.equal(new Packer(JSON_ARRAY, 10).fitsAlone(9), false);
  const g = new GroupedPacker(120);
  for (let i = 0; i < 20; i++) g.add(i % 2 ? 'dev A' : 'dev "B"', `{"ts":${i}}`);
  const gout = g.finish();
  const merged: Record<string, unknown[]> = {};
  for (const o of gout) {
    assert.ok(Buffer.byteLength(o) <= 120);
    for (const [k, v] of Object.entries(JSON.parse(o) as Record<string, unknown[]>)) (merged[k] ??= []).push(...v);
  }
  assert.equal(merged['dev A'].length, 10);
  assert.equal(merged['dev "B"'].length, 10);
});

test('JSON text of field values: integers exact, no NaN', () => {
  assert.equal(jsonValue(2n ** 62n), '4611686018427387904');
  assert.deepEqual(jsonValue(2n ** 64n), { problem: 'integer 18446744073709551616 is outside int64' });
  assert.deepEqual(jsonValue(Number.NaN), { problem: 'NaN is not representable in JSON' });
  assert.equal(jsonValue(-0), '0');
  assert.equal(jsonValue('a"b'), '"a\\"b"');
  assert.equal(jsonFloat(20), '20.0');
  assert.equal(jsonFloat(1e21), '1e+21');
  assert.equal(jsonFloat(0.5), '0.5');
});

test('the journal: a restarted limiter keeps the windows of the run before it (a SIGKILL, an update)', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-rate-journal-'));
  try {
    const path = join(dir, 'sink', 'rate.journal');
    const windows = [
      { messages: 10, perMs: 1000 },
      { messages: 25, perMs: 60_000 },
    ];
    const rnd = prng(11);
    let now = 0;
    const sent: number[] = [];
    // three runs of the process, each "killed" at a random point; the clock goes on across them
    for (let run = 0; run < 3; run++) {
      const lim = new RateLimiter(windows, () => now, RateJournal.open(path, RateLimiter.journalCap(windows)));
      for (let i = 0; i < 20 + Math.floor(rnd() * 20); i++) {
        now = lim.nextAt(now + Math.floor(rnd() * 30));
        lim.record(now);
        sent.push(now);
      }
      // no close(): what a killed process leaves behind is enough
      now += Math.floor(rnd() * 200);
    }
    for (const w of windows)
      assert.ok(maxInWindow(sent, w.perMs) <= w.messages, `${maxInWindow(sent, w.perMs)} in ${w.perMs} ms`);

    // a send never acknowledged before the process died holds its slot from the restart on
    now = 10_000_000;
    const one = [{ messages: 1, perMs: 1000 }];
    const p2 = join(dir, 'one.journal');
    const a = new RateLimiter(one, () => now, RateJournal.open(p2, 1));
    assert.ok(await a.acquire()); // sent, never settled: the process dies here
    now += 5000;
    const b = new RateLimiter(one, () => now, RateJournal.open(p2, 1));
    assert.equal(b.nextAt(now), now + 1000 + rateGuardMs(1000), 'as if acknowledged at the restart');

    // a larger journal read at a smaller capacity keeps the newest sends; garbage reads as none
    const big = RateJournal.open(join(dir, 'cap.journal'), 50);
    for (let i = 0; i < 40; i++) big.log(1000 + i);
    big.close();
    assert.deepEqual(RateJournal.open(join(dir, 'cap.journal'), 5).previous, [1035, 1036, 1037, 1038, 1039]);
    writeFileSync(join(dir, 'bad.journal'), 'not a journal at all, just text');
    assert.deepEqual(RateJournal.open(join(dir, 'bad.journal'), 5).previous, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
