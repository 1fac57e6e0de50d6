/**
 * (b) sigflow killed with SIGKILL mid-stream and restarted: no acknowledged record is lost. A child process
 * enqueues numbered records (noting each accepted batch) while its delivery loop writes them to a file sink; it is
 * killed at random points several times, restarted, finally drained; every acknowledged record must be in the sink.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
const childArgv = fromSource
  ? [process.execPath, '--import', 'tsx', join(here, 'crash-child.ts')]
  : [process.execPath, join(here, 'crash-child.js')];

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text.split('\n').filter((l) => l.length > 0);
}

function startChild(args: string[]) {
  const [cmd, ...pre] = childArgv;
  const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  child.stderr.on('data', (b) => {
    out += b;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return { child, exited, output: () => out };
}

test('(b) kill -9 mid-stream, restart: every acknowledged record is delivered', { timeout: 110_000 }, async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const sinkFile = join(dir, 'sink.txt');
  const ackFile = join(dir, 'acks.txt');
  const cycles = 4;
  for (let k = 0; k < cycles; k++) {
    const before = lines(ackFile).length;
    const c = startChild(['produce', dataDir, sinkFile, ackFile, String(BigInt(k) * 1_000_000_000n)]);
    // Let it get going (first acks), then kill it at a random-ish moment while it enqueues and delivers.
    const t0 = Date.now();
    while (lines(ackFile).length < before + 5 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
    c.child.kill('SIGKILL');
    const ex = await c.exited;
    assert.equal(ex.signal, 'SIGKILL', `producer ${k} died by SIGKILL, not on its own: ${c.output()}`);
    assert.ok(lines(ackFile).length > before, `producer ${k} acknowledged batches before the kill: ${c.output()}`);
  }
  const d = startChild(['drain', dataDir, sinkFile]);
  const ex = await d.exited;
  assert.equal(ex.code, 0, `drain failed: ${d.output()}`);
  const delivered = new Set(lines(sinkFile).map((l) => BigInt(l)));
  let acked = 0;
  const missing: bigint[] = [];
  for (const l of lines(ackFile)) {
    const [from, n] = l.split(' ');
    for (let i = 0n; i < BigInt(n); i++) {
      acked++;
      if (!delivered.has(BigInt(from) + i)) missing.push(BigInt(from) + i);
    }
  }
  assert.ok(acked > 1000, `enough records acknowledged to mean something (${acked})`);
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${acked} acknowledged records lost`);
  t.diagnostic(`${acked} acknowledged records over ${cycles} kills, ${delivered.size} distinct delivered`);
});
