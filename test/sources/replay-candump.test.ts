/**
 * The `replay` source with candump logs, run in-process with a fake SourceContext: which files are candump logs
 * (by name, by their first line, in folders), their frames played with their own time (`retime: false`), channels,
 * error frames skipped, a last line without LF, pacing at `speed`, retiming, `loop`; and a CANedge log replayed as
 * before (every CAN frame of the MDF4 reader, in order), before a candump log in the same pass.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BUS_CAN, EV_CAN_DATA, EV_CAN_REMOTE } from '../../src/formats/mdf4/index.js';
import { expandInputs, runLogPipeline } from '../../src/pipelines/logdecode/index.js';
import { replaySourceConfigSchema } from '../../src/sources/replay/config.js';
import { listInputs, looksLikeCandump, ReplaySource } from '../../src/sources/replay/replay.js';
import { fixturesDir } from '../harness/paths.js';
import { candumpLine, FakeContext, until } from './fake-context.js';

const MF4 = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sigflow-replay-candump-'));
  dirs.push(d);
  return d;
}

const T0 = 1_600_000_000_123_456;
const L = (k: number, iface = 'can0', gapUs = 1000) =>
  candumpLine(T0 + k * gapUs, iface, (0x100 + k).toString(16).toUpperCase(), k.toString(16).padStart(4, '0'));

function source(config: Record<string, unknown>) {
  return new ReplaySource(replaySourceConfigSchema.parse({ type: 'replay', ...config }));
}

/** Runs the replay until it says it finished; returns the context. */
async function play(config: Record<string, unknown>): Promise<FakeContext> {
  const f = new FakeContext();
  const run = source(config).run(f.ctx);
  await until('the replay to finish', () => f.states.some((s) => s.detail === 'replay finished'), 30_000);
  f.ac.abort();
  await run;
  return f;
}

test('which files are candump logs: by name, by first line, in folders after the CANedge logs', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'sub'));
  copyFileSync(MF4, join(dir, 'sub', 'a.MF4'));
  writeFileSync(join(dir, 'b.candump'), L(0));
  writeFileSync(join(dir, 'c.log'), `# candump -l\n\n${L(0)}`);
  writeFileSync(join(dir, 'd.log'), 'an application log\n');
  writeFileSync(join(dir, 'sub', 'e.log'), L(0));
  writeFileSync(join(dir, 'x.txt'), `  ${L(0)}`);
  writeFileSync(join(dir, 'y.log'), 'not a candump line, but named .log\n');
  assert.equal(await looksLikeCandump(join(dir, 'x.txt')), true);
  assert.equal(await looksLikeCandump(join(dir, 'd.log')), false);
  assert.equal(await looksLikeCandump(MF4), false);
  assert.equal(await looksLikeCandump(join(dir, 'missing')), false);

  const r = await listInputs([join(dir, 'x.txt'), MF4, dir, join(dir, 'y.log'), join(dir, 'b.candump')]);
  assert.deepEqual(r.problems, []);
  const shape = r.items.map((i) =>
    i.kind === 'candump' ? `candump ${i.path}` : `mdf4 ${i.inputs.map((x) => x.path)}`,
  );
  assert.deepEqual(shape, [
    `candump ${join(dir, 'x.txt')}`,
    `mdf4 ${MF4},${join(dir, 'sub', 'a.MF4')}`, // consecutive CANedge logs: one run of the log pipeline
    `candump ${join(dir, 'b.candump')}`,
    `candump ${join(dir, 'c.log')}`,
    `candump ${join(dir, 'sub', 'e.log')}`,
    `candump ${join(dir, 'y.log')}`, // named: taken by its name (b.candump was already listed)
  ]);
  assert.equal(r.files, 7);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const e = await listInputs([empty, join(dir, 'nope')]);
  assert.equal(e.files, 0);
  assert.deepEqual(
    e.problems.map((p) => p.message),
    ['no log files (*.MF4, *.MFC, *.MFE, *.MFM, candump *.log, *.candump) in this folder', 'cannot read: ENOENT'],
  );
});

test('a candump log at full speed with its own times: channels, error frames skipped, last line without LF', async () => {
  const dir = tmp();
  const path = join(dir, 'trip.log');
  const text =
    L(0, 'can1') +
    L(1, 'can0') +
    '(1600000000.200000) can0 20000004#0004000000000000\n' +
    L(2, 'vcan9') +
    L(3).trimEnd();
  writeFileSync(path, text);
  const f = await play({ paths: [path], speed: 0, retime: false, channels: { can0: 3, can1: '7' } });
  assert.deepEqual(
    f.frames.map((r) => [r.us, r.id, r.channel, r.data]),
    [
      [T0, 0x100, 7, '0000'],
      [T0 + 1000, 0x101, 3, '0001'],
      [T0 + 3000, 0x103, 3, '0003'],
    ],
  );
  assert.equal(f.tracked?.malformed_lines, 1, 'the line of an interface not in channels');
  assert.equal(f.tracked?.frames, 4, 'the error frame is read, not played');
  assert.equal(f.counts.passes, 1);
  assert.equal(f.counts.file_errors ?? 0, 0);
});

test('pacing at speed and retiming: frames 100 ms apart at speed 2 play 50 ms apart, stamped from the start', async () => {
  const path = join(tmp(), 'slow.candump');
  writeFileSync(path, L(0, 'can0', 100_000) + L(1, 'can0', 100_000) + L(2, 'can0', 100_000) + L(3, 'can0', 100_000));
  const t0 = Date.now();
  const f = await play({ paths: path, speed: 2 });
  const took = Date.now() - t0;
  assert.equal(f.frames.length, 4);
  assert.ok(took >= 140, `3 gaps of 50 ms took ${took} ms`);
  const start = f.frames[0].us;
  assert.ok(Math.abs(start - t0 * 1000) < 2_000_000, 'retimed: stamped now');
  assert.deepEqual(
    f.frames.map((r) => Math.round(r.us - start)),
    [0, 50_000, 100_000, 150_000],
  );
  // handed over when due, not all at once
  assert.ok(f.frames[3].receivedUs - f.frames[0].receivedUs >= 140_000);
});

test('loop: every pass plays the candump log again, interfaces keep their channels', async () => {
  const path = join(tmp(), 'loop.log');
  writeFileSync(path, L(0, 'can1') + L(1, 'can0'));
  const f = new FakeContext();
  const run = source({ paths: [path], speed: 0, loop: true }).run(f.ctx);
  await until('three passes', () => (f.counts.passes ?? 0) >= 3);
  f.ac.abort();
  await run;
  assert.ok(f.frames.length >= 6);
  for (let i = 0; i + 1 < f.frames.length; i += 2)
    assert.deepEqual([f.frames[i].channel, f.frames[i + 1].channel], [0, 1]);
  // at full speed retimed frames are strictly increasing across passes
  for (let i = 1; i < f.frames.length; i++) assert.ok(f.frames[i].us > f.frames[i - 1].us);
});

test('a CANedge log plays as before — every CAN frame of the MDF4 reader, in order — then a candump log', async () => {
  const { files } = await expandInputs([MF4]);
  const expected: string[] = [];
  await runLogPipeline(files, {
    onBatch: (view) => {
      const b = view.frames;
      for (let i = 0; i < b.count; i++) {
        if (b.bus[i] !== BUS_CAN || (b.type[i] !== EV_CAN_DATA && b.type[i] !== EV_CAN_REMOTE)) continue;
        const us = Number(b.startNs / 1000n) + b.offsetNs[i] / 1000;
        const data = Buffer.from(b.data.subarray(b.dataStart[i], b.dataStart[i] + b.length[i]));
        expected.push(`${us} ${b.id[i]} ${b.channel[i]} ${data.toString('hex').toUpperCase()}`);
      }
    },
  });
  assert.ok(expected.length > 100);
  const dump = join(tmp(), 'after.candump');
  writeFileSync(dump, L(0));
  const f = await play({ paths: [MF4, dump], speed: 0, retime: false });
  const got = f.frames.map((r) => `${r.us} ${r.id} ${r.channel} ${r.data}`);
  assert.deepEqual(got.slice(0, -1), expected);
  assert.equal(got.at(-1), `${T0} ${0x100} 0 0000`);
  assert.equal(f.counts.passes, 1);
});
