/**
 * `sigflow serve` over a log tree in S3 (s3rver on 127.0.0.1, the fixture tree uploaded): the same answers as the
 * same tree on disk, a file uploaded while the server runs is served within the poll interval, the old backend's
 * endpoint + bucket form and s3://bucket/prefix both work, and an unknown bucket is a clear error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningServer, startServe } from '../../src/server/index.js';
import { fixturesDir } from '../harness/paths.js';
import { startS3, type TestS3 } from '../harness/s3.js';

const LOG = join(fixturesDir, 'canedge', 'serve', 'LOG');
const RANGE = { from: '2022-01-06T00:00:00.000Z', to: '2023-01-12T00:00:00.000Z' };
let s3: TestS3;
let dir: string;

before(async () => {
  s3 = await startS3();
  await s3.createBucket('canedge');
  await s3.upload('canedge', LOG); // the root of the bucket, as CANedge2 uploads
  await s3.createBucket('fleet');
  await s3.upload('fleet', LOG, 'sites/LOG/'); // and under a prefix
  dir = mkdtempSync(join(tmpdir(), 'sigflow-serve-s3-'));
});

after(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

const requests: [string, unknown][] = [
  ['/search', { target: '{"search":"device_name"}' }],
  ['/search', { target: '{"search":"db"}' }],
  ['/search', { target: '{"search":"signal","db":"canmod-gps"}' }],
  [
    '/query',
    {
      range: RANGE,
      maxDataPoints: 500,
      targets: [
        {
          refId: 'A',
          target: JSON.stringify({
            device: '2F6913DB',
            itf: 'CAN',
            chn: 'CH2',
            db: 'canmod-gps',
            signal: '(Latitude|Longitude|Speed)',
          }),
        },
      ],
    },
  ],
  [
    '/query',
    { range: RANGE, maxDataPoints: 100, targets: [{ refId: 'T', type: 'table', target: '{"device":"2F6913DB"}' }] },
  ],
  [
    '/query',
    {
      range: RANGE,
      maxDataPoints: 100,
      targets: [{ refId: 'I', type: 'table', target: '{"device":"2F6913DB","type":"info"}' }],
    },
  ],
  ['/annotations', { range: RANGE, annotation: { query: '{"annotation":"split","device":"2F6913DB"}' } }],
];

async function answers(s: RunningServer): Promise<string[]> {
  const out: string[] = [];
  for (const [path, body] of requests) {
    const r = await fetch(`${s.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    assert.equal(r.status, 200, `${path}: ${text}`);
    out.push(text);
  }
  return out;
}

test('the same answers from the tree on disk and from S3 (endpoint + bucket, and s3://bucket/prefix)', async () => {
  const local = await startServe({ data: LOG, port: 0, pollMs: 0, indexPath: join(dir, 'local.json') });
  const creds = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const oldForm = await startServe({
    data: s3.endpoint,
    s3: { ...creds, bucket: 'canedge' },
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 's3a.json'),
  });
  const prefixed = await startServe({
    data: 's3://fleet/sites/LOG',
    s3: { ...creds, endpoint: s3.endpoint },
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 's3b.json'),
  });
  try {
    const want = await answers(local);
    assert.ok(want[3].includes('"datapoints":[['), 'the local tree has data');
    assert.deepEqual(await answers(oldForm), want);
    assert.deepEqual(await answers(prefixed), want);
    assert.deepEqual(oldForm.engine.dbcKeys(), ['canmod-gps']);
  } finally {
    await Promise.all([local.close(), oldForm.close(), prefixed.close()]);
  }
});

test('a file uploaded while the server runs is served within the poll interval', async () => {
  await s3.createBucket('live');
  await s3.upload('live', LOG);
  const s = await startServe({
    data: 's3://live',
    s3: { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    port: 0,
    pollMs: 500,
    indexPath: join(dir, 'live.json'),
  });
  try {
    const splits = async () => {
      const r = await fetch(`${s.url}/annotations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          range: { from: '2022-01-01T00:00:00Z', to: '2023-12-31T00:00:00Z' },
          annotation: { query: '{"annotation":"split","device":"2F6913DB"}' },
        }),
      });
      return ((await r.json()) as { text: string }[]).map((a) => a.text.split('\n')[0]);
    };
    assert.equal((await splits()).length, 3);
    // a new split of session 4, one hour later
    const b = Buffer.from(readFileSync(join(LOG, '2F6913DB', '00000004', '00000001.MF4')));
    b.writeBigUInt64LE(b.readBigUInt64LE(136) + 3_600_000_000_000n, 136);
    const t0 = performance.now();
    await s3.put('live', '2F6913DB/00000004/00000002.MF4', b);
    let got: string[] = [];
    while (performance.now() - t0 < 10_000) {
      got = await splits();
      if (got.length === 4) break;
      await sleep(50);
    }
    const ms = performance.now() - t0;
    assert.ok(got.includes('2F6913DB/00000004/00000002.MF4'), `not served after ${ms.toFixed(0)} ms: ${got}`);
    assert.ok(ms < 500 + 2000, `served after ${ms.toFixed(0)} ms (poll 500 ms)`);
  } finally {
    await s.close();
  }
});

test('an unknown bucket or endpoint: a clear error naming it', async () => {
  await assert.rejects(
    startServe({
      data: 's3://no-such-bucket',
      s3: { endpoint: s3.endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      port: 0,
      pollMs: 0,
      indexPath: join(dir, 'x.json'),
    }),
    (e: Error & { code?: string }) =>
      e.code === 'SF_ERR_IO_OPEN' && /s3:\/\/no-such-bucket\/: cannot list: NoSuchBucket/.test(e.message),
  );
  await assert.rejects(
    startServe({
      data: 'http://127.0.0.1:9',
      s3: { bucket: 'x', accessKeyId: 'a', secretAccessKey: 'b' },
      port: 0,
      pollMs: 0,
      indexPath: join(dir, 'y.json'),
    }),
    (e: Error & { code?: string }) => e.code === 'SF_ERR_IO_OPEN' && /cannot list/.test(e.message),
  );
});
