/**
 * `sigflow serve`: a client that goes away stops its decoding (shown by the engine's counters) while other
 * requests are answered; bearer and basic auth; TLS; CORS only for the origins given.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeBusLog } from '../../src/formats/mdf4/index.js';
import { startServe } from '../../src/server/index.js';
import { getWithHost } from '../harness/http.js';
import { fixturesDir } from '../harness/paths.js';

const FIX = join(fixturesDir, 'canedge', 'serve', 'LOG');
const RANGE = { from: '2022-01-06T00:00:00.000Z', to: '2022-01-07T00:00:00.000Z' };
// (12 files, one per hour from 00:00)
const FILES = 12;
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigflow-serve-cancel-'));
  // one session of FILES logs written by the MDF4 writer, each 150,000 gnss_pos frames on CAN2 (10 batches of
  // the decoder: a cancellation can land in the middle of a file)
  const sess = join(dir, 'LOG', '2F6913DB', '00000004');
  mkdirSync(sess, { recursive: true });
  const t0 = 1_641_427_200_000_000_000n; // 2022-01-06
  for (let f = 0; f < FILES; f++) {
    const start = t0 + BigInt(f) * 3_600_000_000_000n;
    const frames = (function* () {
      for (let i = 0; i < 150_000; i++) {
        const data = new Uint8Array(8);
        new DataView(data.buffer).setUint32(0, i * 2654435761);
        yield { timeNs: start + BigInt(i) * 10_000_000n, channel: 2, id: 3, data };
      }
    })();
    writeBusLog(join(sess, `${String(f + 1).padStart(8, '0')}.MF4`), frames, {
      layout: 'canedge-v2',
      startTimeNs: start,
      device: { serial: '2F6913DB' },
    });
  }
  cpSync(join(FIX, 'canmod-gps.dbc'), join(dir, 'LOG', 'canmod-gps.dbc'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const body = JSON.stringify({
  range: RANGE,
  maxDataPoints: 1000,
  targets: [
    {
      refId: 'A',
      target: JSON.stringify({
        device: '2F6913DB',
        itf: 'CAN',
        chn: 'CH2',
        db: 'canmod-gps',
        signal: '(Latitude|Longitude|PositionAccuracy)',
      }),
    },
  ],
});

for (const workers of [0, 2]) {
  test(`a client that disconnects stops its decoding; the server keeps answering meanwhile (${workers ? `${workers} worker threads` : 'on the event loop'})`, async () => {
    const s = await startServe({
      data: join(dir, 'LOG'),
      port: 0,
      pollMs: 0,
      indexPath: join(dir, 'i.json'),
      workers,
      limitBytes: 1 << 30,
    });
    try {
      const ac = new AbortController();
      const pending = fetch(`${s.url}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: ac.signal,
      }).catch((e: Error) => e);
      // wait until decoding is under way, then measure a cheap request meanwhile
      for (let i = 0; i < 200 && s.engine.stats().passes < 3; i++) await sleep(10);
      assert.ok(s.engine.stats().passes >= 3, 'decoding started');
      const t0 = performance.now();
      const ok = await fetch(`${s.url}/`);
      const cheapMs = performance.now() - t0;
      assert.equal(ok.status, 200);
      assert.ok(cheapMs < 500, `GET / took ${cheapMs.toFixed(0)} ms during a big decode`);
      ac.abort();
      assert.ok((await pending) instanceof Error);
      await sleep(300);
      const a = s.engine.stats();
      await sleep(500);
      const b = s.engine.stats();
      assert.ok(a.passesAborted >= 1, `no pass was aborted: ${JSON.stringify(a)}`);
      assert.equal(b.eventsRead, a.eventsRead, 'decoding went on after the client left');
      assert.equal(b.passes, a.passes);
      assert.ok(b.passes < FILES, `${b.passes} of ${FILES} files were decoded: nothing was cancelled`);
      if (workers) {
        // the workers said they stopped mid-file, not just that the main thread stopped waiting
        assert.equal(b.workers?.size, workers);
        assert.ok((b.workers?.stoppedInWorker ?? 0) >= 1, JSON.stringify(b.workers));
      } else assert.equal(b.workers, null);
      // the same query to the end, for contrast: every file decoded
      const r = await fetch(`${s.url}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      assert.ok(s.engine.stats().passes >= FILES);
    } finally {
      await s.close();
    }
  });
}

test('bearer tokens and basic auth: 401 without or with wrong credentials, /healthz open', async () => {
  const s = await startServe({
    data: join(dir, 'LOG'),
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 'i.json'),
    auth: { tokens: ['tok-1', 'tok-2'], basic: { user: 'grafana', password: 'pa:ss' } },
  });
  try {
    const get = (h: Record<string, string> = {}) => fetch(`${s.url}/`, { headers: h });
    assert.equal((await get()).status, 401);
    const denied = await get({ authorization: 'Bearer nope' });
    assert.equal(denied.status, 401);
    assert.deepEqual(await denied.json(), {
      code: 'SF_ERR_SERVE_UNAUTHORIZED',
      message: 'missing or wrong credentials',
    });
    assert.equal((await get({ authorization: 'Bearer tok-2' })).status, 200);
    assert.equal((await get({ authorization: 'Bearer tok-1 ' })).status, 200);
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    assert.equal((await get({ authorization: basic('grafana', 'pa:ss') })).status, 200);
    assert.equal((await get({ authorization: basic('grafana', 'pass') })).status, 401);
    assert.equal((await get({ authorization: 'Basic !!!' })).status, 401);
    const post = await fetch(`${s.url}/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"target":"{\\"search\\":\\"device\\"}"}',
    });
    assert.equal(post.status, 401, 'every route but /healthz');
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    // CORS: not configured, so no header
    assert.equal(
      (await get({ authorization: 'Bearer tok-1', origin: 'http://evil.example' })).headers.get(
        'access-control-allow-origin',
      ),
      null,
    );
  } finally {
    await s.close();
  }
});

test('CORS only for the listed origins', async () => {
  const s = await startServe({
    data: join(dir, 'LOG'),
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 'i.json'),
    corsOrigins: ['http://grafana.local:3000'],
  });
  try {
    const pre = await fetch(`${s.url}/query`, {
      method: 'OPTIONS',
      headers: { origin: 'http://grafana.local:3000', 'access-control-request-method': 'POST' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://grafana.local:3000');
    const other = await fetch(`${s.url}/`, { headers: { origin: 'http://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await s.close();
  }
});

test('TLS: HTTPS with the given certificate', async (t) => {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  if (r.error || r.status !== 0) {
    t.skip(`openssl is not available to make a test certificate: ${r.error?.message ?? r.stderr}`);
    return;
  }
  const s = await startServe({
    data: join(dir, 'LOG'),
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 'i.json'),
    tls: { cert: certFile, key: keyFile },
  });
  try {
    assert.match(s.url, /^https:\/\//);
    const text = await new Promise<string>((resolve, reject) => {
      const req = request(`${s.url}/`, { ca: readFileSync(certFile) }, (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
        });
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(text, 'OK');
    // plain HTTP to the TLS port is refused
    await assert.rejects(fetch(s.url.replace('https:', 'http:')));
  } finally {
    await s.close();
  }
});

test('a client that trickles its body gets 408 and its connection closed at the deadline; others are served', async () => {
  const server = await startServe({ data: FIX, port: 0, pollMs: 0, bodyTimeoutMs: 400 });
  try {
    const { port } = new URL(server.url);
    const t0 = performance.now();
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      const s = connect(Number(port), '127.0.0.1', () => {
        s.write(
          'POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
        );
        const drip = setInterval(() => s.write(' '), 100);
        const giveUp = setTimeout(() => s.destroy(), 5000); // the server never ended it: the assertions below fail
        s.on('close', () => {
          clearInterval(drip);
          clearTimeout(giveUp);
          resolve(got);
        });
      });
      s.on('data', (d) => {
        got += String(d);
      });
      s.on('error', reject);
    });
    const ms = performance.now() - t0;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /did not arrive within 0\.4 s/);
    assert.ok(ms >= 350 && ms < 5000, `${ms} ms`);
    const ok = await fetch(`${server.url}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ range: RANGE, targets: [] }),
    });
    assert.equal(ok.status, 200, 'a whole body in time is answered');
  } finally {
    await server.close();
  }
});

test('DNS rebinding: on 127.0.0.1 without credentials only localhost names are answered (421 for others)', async () => {
  const open = await startServe({ data: FIX, port: 0, pollMs: 0, indexPath: join(dir, 'i2.json') });
  const guarded = await startServe({
    data: FIX,
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 'i3.json'),
    auth: { tokens: ['t'] },
  });
  try {
    const { port } = new URL(open.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`, '127.1.2.3']) {
      assert.equal((await getWithHost(open.url, '/api/stats', host)).status, 200, host);
    }
    for (const host of ['rebind.attacker.example', `evil.example:${port}`, '127.0.0.1.evil.example', '10.0.0.5']) {
      const r = await getWithHost(open.url, '/console/', host);
      assert.equal(r.status, 421, host);
      assert.equal(JSON.parse(r.body).code, 'SF_ERR_SERVE_FOREIGN_HOST');
    }
    // with credentials the token is the guard: any Host name, 401 without it
    assert.equal((await getWithHost(guarded.url, '/api/stats', 'rebind.attacker.example')).status, 401);
  } finally {
    await open.close();
    await guarded.close();
  }
});
