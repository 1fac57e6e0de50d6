/**
 * The `candump` source run in-process with a fake SourceContext: a followed file that is appended to (a line in
 * two writes), truncated, moved away (gone), written on after the move, and replaced; `from: end`; `follow:
 * false`; a file that appears late; a command that prints candump lines and exits, restarted with backoff, its
 * stderr rate-limited; a command that cannot start or fails at once, said once per outage; a stop that ends the
 * child (SIGTERM, or SIGKILL after 2 s for one that ignores it) and still hands over its last line; an unfinished
 * last line dropped; backpressure; the config schema.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CandumpSource, KILL_AFTER_MS } from '../../src/sources/candump/candump.js';
import { candumpSourceConfigSchema } from '../../src/sources/candump/config.js';
import { candumpLine, delay, FakeContext, until } from './fake-context.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sigflow-candump-'));
  dirs.push(d);
  return d;
}

const T0 = 1_700_000_000_000_000;
/** Line k: at T0 + k ms, id 0x100 + k % 0x700, data k as 4 bytes. */
const L = (k: number, iface = 'can0') =>
  candumpLine(T0 + k * 1000, iface, (0x100 + (k % 0x700)).toString(16).toUpperCase(), k.toString(16).padStart(8, '0'));
const lines = (from: number, to: number, iface?: string) => {
  let s = '';
  for (let k = from; k < to; k++) s += L(k, iface);
  return s;
};
/** The k of each frame read (from its data). */
const ks = (f: FakeContext) => f.frames.map((r) => Number.parseInt(r.data, 16));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function source(config: Record<string, unknown>) {
  return new CandumpSource(candumpSourceConfigSchema.parse({ type: 'candump', ...config }));
}

test('schema: exactly one of file and command; defaults', () => {
  assert.equal(candumpSourceConfigSchema.safeParse({ type: 'candump' }).success, false);
  assert.equal(candumpSourceConfigSchema.safeParse({ type: 'candump', file: 'a', command: ['b'] }).success, false);
  assert.equal(candumpSourceConfigSchema.safeParse({ type: 'candump', command: [] }).success, false);
  assert.equal(
    candumpSourceConfigSchema.safeParse({ type: 'candump', file: 'a', channels: { can0: 256 } }).success,
    false,
  );
  const o = candumpSourceConfigSchema.parse({ type: 'candump', file: 'a', channels: { can0: '1' }, follow: 'no' });
  assert.deepEqual(o, {
    type: 'candump',
    file: 'a',
    follow: false,
    from: 'start',
    poll_interval: 200,
    channels: { can0: 1 },
    use_now_time: false,
    restart_initial: 500,
    restart_max: 10_000,
  });
});

test('file: followed as it grows, a line in two writes, truncated, gone, written after the move, replaced', async () => {
  const dir = tmp();
  const path = join(dir, 'can0.log');
  writeFileSync(path, lines(0, 3));
  const f = new FakeContext();
  const run = source({ file: path, poll_interval: 20 }).run(f.ctx);
  await until('the first lines', () => f.frames.length === 3);
  assert.deepEqual(f.states[0], { connected: true, detail: `following ${path} from its start` });
  const first = f.frames[0];
  assert.deepEqual(
    { us: first.us, id: first.id, ext: first.ext, channel: first.channel, data: first.data },
    { us: T0, id: 0x100, ext: false, channel: 0, data: '00000000' },
  );

  // appended: one whole line and the first half of the next; the half waits for its LF
  const half = L(4);
  appendFileSync(path, L(3) + half.slice(0, 20));
  await until('the appended line', () => f.frames.length === 4);
  await delay(150);
  assert.equal(f.frames.length, 4, 'a half-written line waits for its end');
  appendFileSync(path, half.slice(20) + L(5, 'can1'));
  await until('the rest', () => f.frames.length === 6);
  assert.deepEqual(ks(f), range(0, 6));
  assert.equal(f.frames[5].channel, 1, 'a second interface gets channel 1');

  // truncated in place (copytruncate), then shorter content: read again from the start
  writeFileSync(path, L(10));
  await until('the line after the truncation', () => f.frames.length === 7);
  assert.equal(f.counts.rotations, 1);
  assert.equal(f.said(/was truncated/).length, 1);

  // moved away: gone, said once; the writer still appends to the moved file: read
  renameSync(path, `${path}.1`);
  await until('the file to be gone', () => f.states.some((s) => !s.connected && /is gone/.test(s.detail)));
  appendFileSync(`${path}.1`, L(11));
  await until('the line appended to the moved file', () => f.frames.length === 8);
  await delay(100);
  assert.equal(f.states.filter((s) => /is gone/.test(s.detail)).length, 1, 'said once');

  // a new file at the path: read from its start; the rest of the old one first
  appendFileSync(`${path}.1`, L(12) + L(13).slice(0, 10)); // ends in an unfinished line: dropped
  writeFileSync(path, lines(20, 23, 'can1') + L(23, 'can0'));
  await until('the new file', () => f.frames.length === 13);
  assert.deepEqual(ks(f), [...range(0, 6), 10, 11, 12, 20, 21, 22, 23]);
  assert.deepEqual(
    f.frames.slice(-4).map((r) => r.channel),
    [1, 1, 1, 0],
    'interfaces keep their channels across rotations',
  );
  assert.equal(f.counts.rotations, 2);
  assert.equal(f.said(/was replaced \(rotated\)/).length, 1);
  assert.deepEqual(f.states.at(-1), { connected: true, detail: `following ${path} from its start` });
  assert.equal(f.tracked?.frames, 13);
  assert.equal(f.tracked?.malformed_lines, 1, 'the unfinished line of the replaced file');

  f.ac.abort();
  await run;
});

test('file: from end skips what is there at the start; a half line at a stop is not guessed at', async () => {
  const path = join(tmp(), 'can.log');
  writeFileSync(path, lines(0, 5));
  const f = new FakeContext();
  const run = source({ file: path, from: 'end', poll_interval: 20 }).run(f.ctx);
  await until('the source to open the file', () => f.states.length > 0);
  assert.match(f.states[0].detail, /^following .* from byte \d+$/);
  appendFileSync(path, L(5) + L(6).slice(0, 30));
  await until('the appended line', () => f.frames.length === 1);
  assert.deepEqual(ks(f), [5]);
  f.ac.abort();
  await run;
  assert.equal(f.frames.length, 1);
  assert.equal(f.tracked?.malformed_lines, 0);
});

test('file: follow false reads to the end (a last line without LF included), then idles', async () => {
  const path = join(tmp(), 'dump.candump');
  writeFileSync(path, `# a comment\n\n${lines(0, 4)}${L(4).trimEnd()}`);
  const f = new FakeContext();
  const run = source({ file: path, follow: false }).run(f.ctx);
  await until('the end of the file', () => f.states.some((s) => /read to its end/.test(s.detail)));
  assert.deepEqual(ks(f), range(0, 5));
  assert.equal(f.tracked?.malformed_lines, 0);
  f.ac.abort();
  await run;
});

test('file: missing at start is retried with backoff, said once; read from its start when it appears', async () => {
  const path = join(tmp(), 'later.log');
  const f = new FakeContext();
  const run = source({ file: path, from: 'end', poll_interval: 20, restart_initial: 10, restart_max: 30 }).run(f.ctx);
  await until('several failed opens', () => (f.counts.open_failures ?? 0) >= 4);
  assert.equal(f.states.length, 1);
  assert.match(f.states[0].detail, /^cannot open .*later\.log: ENOENT; retrying with backoff/);
  writeFileSync(path, lines(0, 2));
  await until('the lines', () => f.frames.length === 2, 5000);
  assert.equal(f.states.at(-1)?.connected, true);
  f.ac.abort();
  await run;
});

/** A node command printing `script`'s output. */
const node = (script: string) => [process.execPath, '-e', script];

test('command: prints lines and exits: restarted with backoff, every run read; stderr rate-limited', async () => {
  const out = JSON.stringify(lines(0, 3));
  // 15 stderr lines per run: the first 10 of the source's life are logged, then every 1000th
  const f = new FakeContext();
  const script = `for (let i = 0; i < 15; i++) process.stderr.write('warning ' + i + '\\n'); process.stdout.write(${out});`;
  const t0 = Date.now();
  const run = source({ command: node(script), restart_initial: 100, restart_max: 200 }).run(f.ctx);
  await until('three runs', () => f.frames.length >= 9);
  const elapsed = Date.now() - t0;
  await until('three runs to end', () => (f.counts.restarts ?? 0) >= 2);
  f.ac.abort();
  await run;
  assert.deepEqual(ks(f).slice(0, 9), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
  assert.ok(elapsed >= 2 * 80, `restarted after a wait (${elapsed} ms for 3 runs)`);
  const runs = f.frames.length / 3;
  assert.ok(f.counts.restarts >= runs - 1 && f.counts.restarts <= runs, `restarts ${f.counts.restarts}, runs ${runs}`);
  assert.match(f.states[0].detail, /started \(pid \d+\)$/);
  assert.ok(
    f.states.some((s) => !s.connected && /exited with code 0; restarting with backoff/.test(s.detail)),
    JSON.stringify(f.states),
  );
  // stderr: counted, logged at warn (first 10 only), the 10th says what follows
  const warned = f.logs.filter((l) => l.level === 40 && /warning \d+/.test(l.msg));
  assert.equal(warned.length, 10);
  assert.match(warned[9].msg, /warning 9 \(further stderr lines: every 1000th only\)$/);
  assert.ok(f.counts.stderr_lines >= 15 * 3, `stderr_lines ${f.counts.stderr_lines}`);
});

test('command: one that fails at once or cannot start is said once per outage, restarts counted', async () => {
  for (const [argv, why] of [
    [node('process.exit(3)'), /exited with code 3/],
    [['/nonexistent/sigflow-candump'], /cannot start: ENOENT/],
  ] as const) {
    const f = new FakeContext();
    const run = source({ command: [...argv], restart_initial: 5, restart_max: 20 }).run(f.ctx);
    await until('several restarts', () => (f.counts.restarts ?? 0) >= 5);
    f.ac.abort();
    await run;
    const down = f.states.filter((s) => !s.connected);
    assert.equal(down.length, 1, JSON.stringify(f.states));
    assert.match(down[0].detail, why);
    assert.match(down[0].detail, /said once per outage/);
    assert.equal(f.states.filter((s) => /running again/.test(s.detail)).length, 0);
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
const pidOf = (f: FakeContext) => Number(/pid (\d+)/.exec(f.states[0]?.detail ?? '')?.[1]);

test('command: a stop sends SIGTERM; what the child writes as it ends is still handed over', async () => {
  const f = new FakeContext();
  // (the handler first: a SIGTERM right after the first line must find it)
  const script = `process.on('SIGTERM', () => { process.stdout.write(${JSON.stringify(L(1))}); process.exit(0); });
process.stdout.write(${JSON.stringify(L(0))});
setInterval(() => {}, 1000);`;
  const run = source({ command: node(script) }).run(f.ctx);
  await until('the first line', () => f.frames.length === 1);
  const pid = pidOf(f);
  assert.ok(alive(pid));
  const t0 = Date.now();
  f.ac.abort();
  await run;
  assert.ok(Date.now() - t0 < KILL_AFTER_MS, 'ended by SIGTERM');
  assert.equal(alive(pid), false, 'the child is gone');
  assert.deepEqual(ks(f), [0, 1]);
  assert.equal(f.counts.restarts ?? 0, 0);
});

test('command: a child that ignores SIGTERM is killed 2 s later', async () => {
  const f = new FakeContext();
  const script = `process.on('SIGTERM', () => {}); process.stdout.write(${JSON.stringify(L(0))}); setInterval(() => {}, 1000);`;
  const run = source({ command: node(script) }).run(f.ctx);
  await until('the first line', () => f.frames.length === 1);
  const pid = pidOf(f);
  const t0 = Date.now();
  f.ac.abort();
  await run;
  const took = Date.now() - t0;
  assert.ok(took >= KILL_AFTER_MS - 50 && took < KILL_AFTER_MS + 2000, `stopped after ${took} ms`);
  assert.equal(alive(pid), false, 'the child is gone');
  assert.equal(f.said(/did not end on SIGTERM: killed/).length, 1);
});

// an unfinished last line is dropped as malformed, never guessed at: cut after 2 of its 4 data bytes (parsed alone a
// valid 2-byte frame), or right after its id (parsed alone an empty frame)
for (const [what, cut] of [
  ['inside its data', L(2).slice(0, L(2).length - 5)],
  ['right after its id', L(2).slice(0, L(2).indexOf('#'))],
] as const) {
  test(`command: a last line cut ${what} is dropped as malformed, not a frame`, async () => {
    const f = new FakeContext();
    const run = source({
      command: node(`process.stdout.write(${JSON.stringify(lines(0, 2) + cut)})`),
      restart_initial: 5000,
    }).run(f.ctx);
    await until('the exit', () => f.states.some((s) => !s.connected));
    f.ac.abort();
    await run;
    assert.deepEqual(ks(f), [0, 1]);
    assert.equal(f.tracked?.malformed_lines, 1);
    assert.equal(f.tracked?.frames, 2);
  });
}

test('command: exits while the pipeline holds a batch: every frame handed over once (no duplicates)', async () => {
  const f = new FakeContext();
  let release: () => void = () => {};
  f.hold = new Promise<void>((r) => {
    release = r;
  });
  // several writes, then exit while the first batch is still held (Node resumes a paused stdout to drain it)
  const script = `const l = ${JSON.stringify(lines(0, 3000))}; let i = 0;
const t = setInterval(() => { process.stdout.write(l.slice(i, i + 20000)); i += 20000; if (i >= l.length) clearInterval(t); }, 5);`;
  const run = source({ command: node(script), restart_initial: 60_000 }).run(f.ctx);
  await until('the first batch', () => f.frames.length > 0);
  await delay(1500); // the command wrote everything (~30 ms) and exited meanwhile
  f.hold = null;
  release();
  await until('every line', () => f.frames.length >= 3000);
  await delay(100);
  assert.deepEqual(ks(f), range(0, 3000));
  f.ac.abort();
  await run;
});

test('command: backpressure pauses reading until the pipeline takes the frames', async () => {
  const f = new FakeContext();
  let release: () => void = () => {};
  f.hold = new Promise<void>((r) => {
    release = r;
  });
  // many lines in several writes, so more than one read happens
  const script = `const l = ${JSON.stringify(lines(0, 2000))}; let i = 0;
const t = setInterval(() => { process.stdout.write(l.slice(i, i + 20000)); i += 20000; if (i >= l.length) { clearInterval(t); setInterval(() => {}, 1000); } }, 5);`;
  const run = source({ command: node(script) }).run(f.ctx);
  await until('the first batch', () => f.frames.length > 0);
  await delay(200);
  const held = f.frames.length;
  assert.ok(held < 2000, `reading paused while the batch is held (${held} read)`);
  f.hold = null;
  release();
  await until('every line', () => f.frames.length === 2000);
  assert.deepEqual(ks(f), range(0, 2000));
  f.ac.abort();
  await run;
});
