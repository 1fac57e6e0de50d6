/**
 * `sigflow import` / `decode` with s3://bucket/prefix inputs (s3rver on 127.0.0.1): the same values as the same
 * files on disk; and `import --watch --listen`: an upload followed by an S3 event notification is imported in the
 * next round, files already imported are skipped, a notification without a new file imports nothing twice.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TimeSeriesStore } from '../../src/store/index.js';
import { cliArgv, fixturesDir } from '../harness/paths.js';
import { startS3, type TestS3 } from '../harness/s3.js';

const LOG = join(fixturesDir, 'canedge', 'serve', 'LOG');
const DBC = join(LOG, 'canmod-gps.dbc');
let s3: TestS3;
let dir: string;

before(async () => {
  s3 = await startS3();
  await s3.createBucket('fleet');
  await s3.upload('fleet', join(LOG, '2F6913DB', '00000004'), 'LOG/2F6913DB/00000004/');
  dir = mkdtempSync(join(tmpdir(), 'sigflow-import-s3-'));
});
after(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });

/** Runs the CLI without blocking this process (s3rver answers from this process's event loop). */
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const [cmd, ...pre] = cliArgv();
  const p = spawn(cmd, [...pre, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  p.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve) => p.once('close', (status) => resolve({ status, stdout, stderr })));
}

test('decode s3://… gives what decode of the same files on disk gives', async () => {
  const args = ['decode', '--channel', `CAN2=${DBC}`, '--no-progress'];
  const fromS3 = await run([...args, 's3://fleet/LOG', '--s3-endpoint', s3.endpoint]);
  const fromDisk = await run([...args, join(LOG, '2F6913DB', '00000004')]);
  assert.equal(fromS3.status, 0, fromS3.stderr);
  assert.ok(fromS3.stdout.length > 1000);
  assert.equal(fromS3.stdout, fromDisk.stdout);
  const missing = await run([...args, 's3://no-such-bucket/x', '--s3-endpoint', s3.endpoint]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /s3:\/\/no-such-bucket\/x: cannot list: NoSuchBucket/);
});

test('import --watch --listen: an upload and its notification are imported in the next round, once', async () => {
  const [cmd, ...pre] = cliArgv();
  const data = join(dir, 'data');
  const p = spawn(
    cmd,
    [
      ...pre,
      'import',
      's3://fleet/LOG',
      '--s3-endpoint',
      s3.endpoint,
      '--channel',
      `CAN2=${DBC}`,
      '--data-dir',
      data,
      '--watch',
      '1h',
      '--listen',
      '127.0.0.1:0',
      '--drain-timeout',
      '10s',
      '--no-progress',
    ],
    { env: env(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const until = async (re: RegExp, what: string) => {
    for (let i = 0; i < 300 && !re.test(err); i++) await sleep(50);
    assert.match(err, re, `waiting for ${what}:\n${err}`);
  };
  try {
    await until(/listening for S3 event notifications on (\S+)/, 'the listener');
    const addr = (/listening for S3 event notifications on (\S+)/.exec(err) as RegExpExecArray)[1];
    await until(/1 file\(s\) imported, 0 already imported/, 'the first round');
    // a new split of the session, uploaded; the notification wakes the next round (the interval is an hour)
    const b = Buffer.from(readFileSync(join(LOG, '2F6913DB', '00000004', '00000001.MF4')));
    b.writeBigUInt64LE(b.readBigUInt64LE(136) + 3_600_000_000_000n, 136);
    await s3.put('fleet', 'LOG/2F6913DB/00000004/00000002.MF4', b);
    const note = {
      Records: [{ s3: { bucket: { name: 'fleet' }, object: { key: 'LOG/2F6913DB/00000004/00000002.MF4' } } }],
    };
    const r = await fetch(`http://${addr}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(note),
    });
    assert.equal(r.status, 204);
    await until(/1 file\(s\) imported, 1 already imported/, 'the round woken by the notification');
    // a repeated notification: a round that finds nothing new
    await fetch(`http://${addr}/`, { method: 'POST', body: JSON.stringify(note) });
    await until(/0 file\(s\) imported, 2 already imported/, 'a round with nothing new');
  } finally {
    p.kill('SIGTERM');
    await new Promise((resolve) => p.once('exit', resolve));
  }
  const store = TimeSeriesStore.open(join(data, 'store.db'), { readonly: true });
  try {
    // both files' gnss_pos frames, each once (the second file is the first shifted by an hour)
    const s = store.samples({ measurement: 'gnss_pos', fields: ['Latitude'], from: 0n, to: 2n ** 62n });
    const times = s.flatMap((x) => x.samples.map((v) => v.time));
    assert.equal(new Set(times.map(String)).size, times.length);
    const n = times.length / 2;
    assert.ok(n > 10 && Number.isInteger(n), `${times.length} samples`);
  } finally {
    store.close();
  }
});
