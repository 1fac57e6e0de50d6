/**
 * Several `sigflow lake write` workers over one input (issue 14's scale-out): three worker processes at once over
 * the same logs share them through claims — in PostgreSQL, with the logs and the lake in an S3 bucket (s3rver,
 * which has no conditional writes: the reason PostgreSQL holds the claims), and in the lake itself for a lake
 * folder (create-only files). Each log is decoded by exactly one worker (their summaries add up to the number of
 * logs; without claims each would decode all), and the lake holds every (log, message, day) once: the same files
 * as one worker writes alone. A worker SIGKILLed mid-run leaves its claims to expire (--lease); the next run
 * finishes its logs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FolderLakeStore, type LakeStore, openLakeStore } from '../../src/formats/lake/index.js';
import { cliArgv } from '../harness/paths.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { type ServiceHandle, startPostgres } from '../harness/services.js';
import { DBC, MIDNIGHT, syntheticLog } from './lake-helpers.js';

const LOGS = 24;
let work: string;
let root: string;
let dbc: string;
let s3: TestS3;
let pg: ServiceHandle | null;
/** The table files one worker alone writes. */
let reference: string[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'sigflow-lake-workers-'));
  root = join(work, 'LOG');
  for (let i = 0; i < LOGS; i++)
    syntheticLog(root, 1 + Math.floor(i / 6), 1 + (i % 6), MIDNIGHT + BigInt(i) * 60_000_000_000n, 200);
  dbc = join(work, 'v1.dbc');
  writeFileSync(dbc, DBC());
  s3 = await startS3();
  await s3.createBucket('fleet');
  await s3.createBucket('fleet-parquet');
  await s3.upload('fleet', root, 'LOG/');
  pg = await startPostgres();
  // what one worker alone writes: the reference set of files
  const r = start(['lake', 'write', root, '--dbc', dbc, '--lake', join(work, 'reference'), '--no-progress']);
  const { code, stderr } = await r.done;
  assert.equal(code, 0, stderr);
  reference = await tableKeys(new FolderLakeStore(join(work, 'reference')));
  assert.ok(reference.length >= LOGS * 4, `${reference.length} files`);
});
after(async () => {
  await pg?.dispose();
  await s3?.close();
  rmSync(work, { recursive: true, force: true });
});

const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });

interface Run {
  proc: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
}

/** Starts a CLI run without blocking this process (s3rver answers from this process's event loop). */
function start(args: string[]): Run {
  const [cmd, ...pre] = cliArgv();
  const proc = spawn(cmd, [...pre, ...args], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return { proc, done: new Promise((resolve) => proc.once('close', (code) => resolve({ code, stderr }))) };
}

/** The number of logs a worker's summary says it wrote. */
const written = (stderr: string) => Number(/(\d+) log\(s\) written/.exec(stderr)?.[1] ?? Number.NaN);

async function tableKeys(store: LakeStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(''))
    if (/^AABBCCDD\/CAN1_[^/]+\/\d{4}\/\d{2}\/\d{2}\/\d{8}_\d{8}\.parquet$/.test(o.key)) out.push(o.key);
  return out.sort();
}

async function ledgerCount(store: LakeStore): Promise<number> {
  let n = 0;
  for await (const o of store.list('_sigflow/ledger/')) if (o.key.endsWith('.json')) n++;
  return n;
}

test('three workers, claims in PostgreSQL, logs and lake in S3: each log once; a killed worker’s logs taken over', async (t) => {
  if (!pg) return t.skip('postgresql is not installed');
  const lake = 's3://fleet-parquet/lake/';
  const args = (extra: string[] = []) => [
    'lake',
    'write',
    's3://fleet/LOG',
    '--dbc',
    dbc,
    '--lake',
    lake,
    '--s3-endpoint',
    s3.endpoint,
    '--claims',
    (pg as ServiceHandle).url,
    '--no-progress',
    ...extra,
  ];
  const runs = [start(args()), start(args()), start(args())];
  const results = await Promise.all(runs.map((r) => r.done));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const counts = results.map((r) => written(r.stderr));
  t.diagnostic(`logs written per worker: ${counts.join(', ')}`);
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    LOGS,
    'each log decoded by one worker',
  );
  const store = openLakeStore(lake, {
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  try {
    assert.deepEqual(await tableKeys(store), reference);
    assert.equal(await ledgerCount(store), LOGS);

    // six more logs; a worker killed while it works, its claims expiring after 2 s; then a worker finishes
    for (let i = LOGS; i < LOGS + 6; i++)
      syntheticLog(root, 9, 1 + (i - LOGS), MIDNIGHT + BigInt(i) * 60_000_000_000n, 200);
    await s3.upload('fleet', root, 'LOG/');
    const victim = start(args(['--lease', '2s']));
    await sleep(700);
    victim.proc.kill('SIGKILL');
    await victim.done;
    await sleep(2500);
    const last = await start(args(['--lease', '2s'])).done;
    assert.equal(last.code, 0, last.stderr);
    const refAll = start(['lake', 'write', root, '--dbc', dbc, '--lake', join(work, 'reference'), '--no-progress']);
    assert.equal((await refAll.done).code, 0);
    reference = await tableKeys(new FolderLakeStore(join(work, 'reference')));
    assert.deepEqual(await tableKeys(store), reference);
    assert.equal(await ledgerCount(store), LOGS + 6);
  } finally {
    store.close();
  }
});

test('three workers, claims in the lake folder itself: each log once', async (t) => {
  const lake = join(work, 'folder-lake');
  const args = ['lake', 'write', root, '--dbc', dbc, '--lake', lake, '--claims', 'lake', '--no-progress'];
  const results = await Promise.all([start(args), start(args), start(args)].map((r) => r.done));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const counts = results.map((r) => written(r.stderr));
  t.diagnostic(`logs written per worker: ${counts.join(', ')}`);
  const store = new FolderLakeStore(lake);
  const all = await ledgerCount(store);
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    all,
    'each log decoded by one worker',
  );
  // (the same logs as the reference lake: 24, or 30 after the PostgreSQL test added six)
  assert.deepEqual(await tableKeys(store), reference);
});
