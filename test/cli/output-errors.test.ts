/**
 * Issue 8 item 5: output that cannot be written. `decode -o` to a missing folder, to a folder, to /dev/full or to
 * a full file system used to exit 13 with no message (the writer waited for a 'drain' that never came) and leave
 * a truncated file; ENOSPC on stdout crashed with a stack trace. Now: `cannot write <file>: <reason>`, exit 1,
 * the partial file removed (and said so), one line without a stack — for every writer: frames, decode (text and
 * Parquet), dbc inspect, store query.
 *
 * ENOSPC for real: /dev/full (a device: nothing to remove) and a tiny tmpfs (mounted only when running as root;
 * skipped loudly otherwise). A regular file that stops growing for any user: RLIMIT_FSIZE (`ulimit -f`, with
 * SIGXFSZ ignored) makes the write fail with EFBIG.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TimeSeriesStore } from '../../src/store/index.js';
import { runCli } from '../harness/cli.js';
import { cliArgv, fixturesDir } from '../harness/paths.js';

const LOGS = join(fixturesDir, 'canedge');
const DBC = join(
  fixturesDir,
  'canedge/dbc/api-examples/examples/data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc',
);
const hasDevFull = existsSync('/dev/full');

/** Runs the CLI with its stdout redirected to a file or device (not a pipe). */
function runToFile(args: string[], stdoutPath: string): Promise<{ code: number | null; stderr: string }> {
  const [cmd, ...pre] = cliArgv();
  const fd = openSync(stdoutPath, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** Runs the CLI under `ulimit -f <blocks>` (1 KiB blocks in bash) with SIGXFSZ ignored: big writes fail EFBIG. */
function runWithFileSizeLimit(args: string[], kib: number): Promise<{ code: number | null; stderr: string }> {
  const quoted = [...cliArgv(), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `trap '' XFSZ; ulimit -f ${kib}; exec ${quoted}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function oneLineNoStack(stderr: string, re: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l.startsWith('sigflow: '));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], re);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
}

describe('output errors: one line naming the output, exit 1, no partial file', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-output-errors-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('decode -o into a missing folder or onto a folder', async () => {
    const missing = join(dir, 'no-such-folder', 'out.ndjson');
    let r = await runCli(['decode', LOGS, '--dbc', DBC, '-o', missing]);
    assert.equal(r.code, 1, r.stderr);
    oneLineNoStack(r.stderr, new RegExp(`cannot write ${missing}: ENOENT`));
    r = await runCli(['frames', LOGS, '--format', 'csv', '-o', dir]);
    assert.equal(r.code, 1, r.stderr);
    oneLineNoStack(r.stderr, new RegExp(`cannot write ${dir}: EISDIR`));
  });

  it('decode -o /dev/full and frames -o /dev/full: ENOSPC, exit 1', {
    skip: !hasDevFull && 'no /dev/full',
  }, async () => {
    let r = await runCli(['decode', LOGS, '--dbc', DBC, '-o', '/dev/full']);
    assert.equal(r.code, 1, r.stderr);
    oneLineNoStack(r.stderr, /cannot write \/dev\/full: ENOSPC/);
    r = await runCli(['frames', LOGS, '-o', '/dev/full']);
    assert.equal(r.code, 1, r.stderr);
    oneLineNoStack(r.stderr, /cannot write \/dev\/full: ENOSPC/);
    assert.ok(existsSync('/dev/full'), 'a device is never removed');
  });

  it('stdout redirected to /dev/full: frames, decode, dbc inspect (text and --json), store query', {
    skip: !hasDevFull && 'no /dev/full',
  }, async () => {
    const store = join(dir, 'q.db');
    const s = TimeSeriesStore.open(store);
    s.write(
      Array.from({ length: 20_000 }, (_, i) => ({
        time: BigInt(i) * 1_000_000n,
        measurement: 'm',
        tags: { d: 'x' },
        fields: { v: i * 0.5 },
      })),
    );
    s.close();
    for (const args of [
      ['frames', LOGS],
      ['decode', LOGS, '--dbc', DBC, '--format', 'csv'],
      ['dbc', 'inspect', DBC],
      ['dbc', 'inspect', DBC, '--json'],
      ['store', 'query', store, 'm', '--from', '0', '--to', '1000000000000000'],
    ]) {
      const r = await runToFile(args, '/dev/full');
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      oneLineNoStack(r.stderr, /cannot write stdout: ENOSPC/);
    }
  });

  it('a file that cannot grow (EFBIG under ulimit -f): the partial file is removed and the message says so', async () => {
    for (const [args, out, kib] of [
      [['frames', LOGS, '--format', 'csv'], join(dir, 'frames.csv'), 64],
      [['decode', LOGS, '--dbc', DBC, '--format', 'csv'], join(dir, 'decode.csv'), 16], // ~50 KB of values
    ] as const) {
      const r = await runWithFileSizeLimit([...args, '-o', out], kib);
      assert.equal(r.code, 1, r.stderr);
      oneLineNoStack(r.stderr, new RegExp(`cannot write ${out}: EFBIG .*; the partial file was removed`));
      assert.equal(existsSync(out), false, 'no truncated file under the name');
    }
    // Parquet: its temporary file is removed, nothing appears under the name
    const pq = join(dir, 'out.parquet');
    const r = await runWithFileSizeLimit(
      ['decode', LOGS, '--dbc', DBC, '--format', 'parquet', '--row-group-size', '100', '-o', pq],
      2, // the file is ~3.5 KB
    );
    assert.equal(r.code, 1, r.stderr);
    oneLineNoStack(r.stderr, new RegExp(`cannot write ${pq}: EFBIG`));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('out.parquet')),
      [],
    );
  });

  it('a full file system (tmpfs of 64 KiB; root only)', async (t) => {
    const mnt = join(dir, 'full');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      process.stderr.write('\n*** cannot mount a tmpfs (not root): the full-disk test is SKIPPED ***\n');
      t.skip('cannot mount a tmpfs (not root)');
      return;
    }
    try {
      const out = join(mnt, 'frames.csv');
      const r = await runCli(['frames', LOGS, '--format', 'csv', '-o', out]);
      assert.equal(r.code, 1, r.stderr);
      oneLineNoStack(r.stderr, new RegExp(`cannot write ${out}: ENOSPC .*; the partial file was removed`));
      assert.deepEqual(readdirSync(mnt), []);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
