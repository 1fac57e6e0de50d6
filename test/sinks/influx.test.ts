/**
 * The influx sink against real servers: InfluxDB 1.x (round trip, escaping property test read back, every
 * response class) and VictoriaMetrics (which answers 204 for everything: only a read-back proves storage).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { TelemetryRecord } from '../../src/records/record.js';
import { InfluxSink } from '../../src/sinks/influx/index.js';
import { rec, T0 } from '../harness/records.js';
import {
  freePort,
  influxQuery,
  type ServiceHandle,
  startInfluxDB,
  startVictoriaMetrics,
  vmExport,
} from '../harness/services.js';

const influx = await startInfluxDB({ maxBodySize: 64 * 1024 });
const vm = await startVictoriaMetrics();
after(async () => {
  await influx?.dispose();
  await vm?.dispose();
});

let dbn = 0;
async function freshDb(h: ServiceHandle): Promise<string> {
  const db = `db${dbn++}`;
  await influxQuery(h, `CREATE DATABASE ${db}`);
  return db;
}

/** All points of a measurement as { time, tags, fields } (InfluxDB 1.x `/query?epoch=ns`, GROUP BY * for tags). */
async function readBack(h: ServiceHandle, db: string, from = '/.*/', where = '') {
  const res = await influxQuery(h, `SELECT * FROM ${from} ${where} GROUP BY *`, db);
  const out: { measurement: string; time: bigint; tags: Record<string, string>; fields: Record<string, unknown> }[] =
    [];
  for (const s of res.results[0].series ?? [])
    for (const row of s.values) {
      const fields: Record<string, unknown> = {};
      s.columns.forEach((c, i) => {
        if (i > 0 && row[i] !== null) fields[c] = row[i];
      });
      // GROUP BY * lists every tag key of the measurement; keys this point does not have come back as ""
      const tags = Object.fromEntries(Object.entries(s.tags ?? {}).filter(([, v]) => v !== ''));
      out.push({ measurement: s.name, time: BigInt(row[0] as string), tags, fields });
    }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

describe('influx sink → InfluxDB 1.x', { skip: !influx && 'influxd not installed' }, () => {
  const h = influx as ServiceHandle;

  test('round trip of every type at ns precision; rewrite of the same points is idempotent', async () => {
    const db = await freshDb(h);
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: db });
    const batch = [
      rec(T0 + 1n, { f: 0.1, i: 9_007_199_254_740_991n, b: true, s: 'a "q" \\ b' }, { dev: 'x y', bus: 'can,0' }),
      rec(T0 + 2n, { f: -1e-300, i: -5n, b: false, s: '' }, { dev: 'x y', bus: 'can,0' }),
    ];
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    const got = await readBack(h, db);
    assert.deepEqual(got, [
      {
        measurement: 'm',
        time: T0 + 1n,
        tags: { bus: 'can,0', dev: 'x y' },
        fields: { f: 0.1, i: 9_007_199_254_740_991, b: true, s: 'a "q" \\ b' },
      },
      {
        measurement: 'm',
        time: T0 + 2n,
        tags: { bus: 'can,0', dev: 'x y' },
        fields: { f: -1e-300, i: -5, b: false, s: '' },
      },
    ]);
    const types = await influxQuery(h, 'SHOW FIELD KEYS FROM m', db);
    assert.deepEqual(types.results[0].series?.[0].values, [
      ['b', 'boolean'],
      ['f', 'float'],
      ['i', 'integer'],
      ['s', 'string'],
    ]);
    await sink.close();
  });

  test('precision ms/us/s: timestamps truncated to the unit, gzip bodies accepted', async () => {
    for (const precision of ['ms', 'us', 's'] as const) {
      const db = await freshDb(h);
      const sink = new InfluxSink({ type: 'influx', url: h.url, database: db, precision, gzip_min_bytes: 0 });
      assert.deepEqual(await sink.write([rec(T0 + 123_456_789n, { v: 1 })]), { kind: 'ok' });
      const unit = { ms: 1_000_000n, us: 1000n, s: 1_000_000_000n }[precision];
      assert.equal((await readBack(h, db))[0].time, ((T0 + 123_456_789n) / unit) * unit);
      await sink.close();
    }
  });

  test('property: any name/value the encoder accepts reads back equal from InfluxDB (fast-check)', async () => {
    const db = await freshDb(h);
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: db });
    const piece = fc.oneof(
      { arbitrary: fc.constantFrom(',', '=', ' ', '"', '\\\\', "'", 'é', '😀', '\t', 'time'), weight: 8 },
      { arbitrary: fc.constantFrom('\\', '\n', '#', '\u0000', '\uD800'), weight: 1 },
      { arbitrary: fc.string({ unit: 'binary', maxLength: 4 }), weight: 8 },
    );
    const text = fc.array(piece, { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
    let run = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(text, text, text, text, text, async (m, tk, tv, fk, sv) => {
        fc.pre(tk !== fk && m.length > 0 && tk.length > 0 && fk.length > 0); // the record model's own rules
        const t = T0 + BigInt(++run) * 1000n;
        const r = rec(t, { [fk]: sv }, { [tk]: tv }, m);
        const res = await sink.write([r]);
        if (res.kind !== 'ok') {
          // refused client-side, with a reason, and nothing of it reached the server
          assert.equal(res.kind, 'partial', JSON.stringify(res));
          if (res.kind === 'partial')
            assert.match(res.rejected[0].reason, /surrogate|line break|NUL|tab|backslash|'#'|"time"|64 KiB/);
          assert.deepEqual(await readBack(h, db, '/.*/', `WHERE time = ${t}`), []);
          return;
        }
        accepted++;
        const got = await readBack(h, db, '/.*/', `WHERE time = ${t}`);
        assert.deepEqual(got, [{ measurement: m, time: t, tags: tv === '' ? {} : { [tk]: tv }, fields: { [fk]: sv } }]);
      }),
      { numRuns: 200 },
    );
    assert.ok(accepted > 30, `only ${accepted} accepted samples: the generator is too hostile to test round trips`);
    await sink.close();
  });

  test('type conflict with stored data: 400 partial write → exactly that record rejected with the server message, rest stored', async () => {
    const db = await freshDb(h);
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: db });
    assert.deepEqual(await sink.write([rec(T0, { v: 1n })]), { kind: 'ok' });
    const batch: TelemetryRecord[] = [];
    for (let i = 1n; i <= 100n; i++) batch.push(rec(T0 + i, i === 37n ? { v: 2.5 } : { w: i }));
    const res = await sink.write(batch);
    assert.equal(res.kind, 'partial');
    if (res.kind !== 'partial') return;
    assert.deepEqual(
      res.rejected.map((r) => r.index),
      [36],
    );
    assert.match(
      res.rejected[0].reason,
      /field type conflict: input field "v" on measurement "m" is type float, already exists as type integer/,
    );
    assert.equal((await readBack(h, db)).length, 100);
    await sink.close();
  });

  test('a rejected line the message cannot pin down → too_large (split to isolate); a single line → partial', async () => {
    const db = await freshDb(h);
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: db });
    // Field types are per shard in 1.x: the same float line conflicts in the 2023 shard but not in a 1970 one, so
    // "input field v ... is type float" names 2 candidates while only 1 point was dropped.
    assert.deepEqual(await sink.write([rec(T0, { v: 1n })]), { kind: 'ok' });
    const res = await sink.write([rec(T0 + 1n, { v: 2.5 }), rec(5n, { v: 3.5 }), rec(T0 + 2n, { v: 4n })]);
    assert.equal(res.kind, 'too_large', JSON.stringify(res));
    assert.match((res as { reason: string }).reason, /split the batch/);
    // a new measurement whose new field has two types in one body: 1.x refuses the whole body without naming a
    // line → split. (With an existing measurement it answers an exact partial write instead.)
    const sink2 = new InfluxSink({ type: 'influx', url: h.url, database: await freshDb(h) });
    const mixed = await sink2.write([rec(T0 + 3n, { nf: 1n }), rec(T0 + 4n, { nf: 1.5 }), rec(T0 + 5n, { other: 1 })]);
    await sink2.close();
    assert.equal(mixed.kind, 'too_large', JSON.stringify(mixed));
    assert.match((mixed as { reason: string }).reason, /field type conflict/);
    const one = await sink.write([rec(T0 + 1n, { v: 2.5 })]);
    assert.equal(one.kind, 'partial');
    await sink.close();
  });

  test('413 above max-body-size → too_large; the halves go through', async () => {
    const db = await freshDb(h);
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: db, gzip_min_bytes: null });
    const batch: TelemetryRecord[] = [];
    for (let i = 0n; i < 3000n; i++) batch.push(rec(T0 + i, { value: Number(i) + 0.25 }, { device: 'dev-0001' }));
    const res = await sink.write(batch);
    assert.equal(res.kind, 'too_large');
    assert.match((res as { reason: string }).reason, /HTTP 413/);
    for (let k = 0; k < 3000; k += 750) assert.deepEqual(await sink.write(batch.slice(k, k + 750)), { kind: 'ok' });
    assert.equal((await readBack(h, db)).length, 3000);
    await sink.close();
  });

  test('database missing → misconfigured (kept, alarm); create_database creates it; unreachable server → retry', async () => {
    const missing = new InfluxSink({ type: 'influx', url: h.url, database: 'nope_db' });
    const r1 = await missing.write([rec(T0, { v: 1 })]);
    assert.equal(r1.kind, 'misconfigured');
    assert.match((r1 as { reason: string }).reason, /database not found.*create_database/);
    await missing.close();
    const creating = new InfluxSink({ type: 'influx', url: h.url, database: 'made "here"', create_database: true });
    assert.deepEqual(await creating.write([rec(T0, { v: 1 })]), { kind: 'ok' });
    assert.equal((await readBack(h, 'made "here"')).length, 1);
    await creating.close();
    const dead = new InfluxSink({
      type: 'influx',
      url: `http://127.0.0.1:${await freePort()}`,
      database: 'x',
      timeout: '2s',
    });
    const r2 = await dead.write([rec(T0, { v: 1 })]);
    assert.equal(r2.kind, 'retry');
    assert.match((r2 as { reason: string }).reason, /ECONNREFUSED/);
    await dead.close();
  });

  test('v2 endpoint is absent on 1.6 → misconfigured with the server message, not a silent drop', async () => {
    const sink = new InfluxSink({ type: 'influx', url: h.url, api: 'v2', org: 'o', bucket: 'b', token: 't' });
    const r = await sink.write([rec(T0, { v: 1 })]);
    assert.equal(r.kind, 'misconfigured');
    assert.match((r as { reason: string }).reason, /HTTP 404/);
    await sink.close();
  });
});

describe('influx sink: statuses real servers rarely produce (local HTTP responder)', () => {
  let url = '';
  type Answer = { status: number; headers?: Record<string, string>; body: string };
  let next: Answer = { status: 204, body: '' };
  /** Answers by path prefix, before `next`. */
  let byPath: Record<string, Answer> = {};
  const seen: { url: string; headers: Record<string, unknown>; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const ans = Object.entries(byPath).find(([p]) => req.url?.startsWith(p))?.[1] ?? next;
      res.writeHead(ans.status, ans.headers ?? {});
      res.end(ans.body);
    });
  });
  before(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r())));
  before(() => {
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('create_database refused (not an admin): the write is tried anyway; a missing database then alarms', async () => {
    byPath = {
      '/query': { status: 403, body: '{"error":"error authorizing query: user is not an admin"}' },
      '/write': { status: 204, body: '' },
    };
    const sink = new InfluxSink({ type: 'influx', url, database: 'exists', create_database: true });
    assert.deepEqual(await sink.write([rec(T0, { v: 1 })]), { kind: 'ok' }, 'the database exists: written');
    seen.length = 0;
    assert.deepEqual(await sink.write([rec(T0, { v: 2 })]), { kind: 'ok' });
    assert.deepEqual(
      seen.map((s) => s.url.split('?')[0]),
      ['/write'],
      'no more CREATE attempts once a write succeeded',
    );
    await sink.close();
    byPath = {
      '/query': { status: 403, body: '{"error":"error authorizing query: user is not an admin"}' },
      '/write': { status: 404, body: '{"error":"database not found: \\"gone\\""}' },
    };
    const missing = new InfluxSink({ type: 'influx', url, database: 'gone', create_database: true });
    const r = await missing.write([rec(T0, { v: 1 })]);
    assert.equal(r.kind, 'misconfigured', JSON.stringify(r));
    assert.match((r as { reason: string }).reason, /not found.*CREATE DATABASE → HTTP 403.*not an admin/);
    await missing.close();
    byPath = {};
  });

  test('429/503 with Retry-After → retry with the delay; 401/403 → auth; 422 → permanent; v2 URL and token', async () => {
    const sink = new InfluxSink({
      type: 'influx',
      url,
      api: 'v2',
      org: 'acme',
      bucket: 'b1',
      token: 's3cret',
      precision: 'ms',
    });
    next = { status: 429, headers: { 'retry-after': '3' }, body: '{"code":"too many requests","message":"slow down"}' };
    assert.deepEqual(await sink.write([rec(T0, { v: 1 })]), {
      kind: 'retry',
      reason: `influx: HTTP 429 from ${new URL(url).host}: slow down`,
      retryAfterMs: 3000,
    });
    assert.equal(seen.at(-1)?.url, '/api/v2/write?org=acme&bucket=b1&precision=ms');
    assert.equal(seen.at(-1)?.headers.authorization, 'Token s3cret');
    next = { status: 503, body: 'down' };
    assert.equal((await sink.write([rec(T0, { v: 1 })])).kind, 'retry');
    next = { status: 401, body: '{"code":"unauthorized","message":"unauthorized access"}' };
    assert.equal((await sink.write([rec(T0, { v: 1 })])).kind, 'auth');
    next = { status: 403, body: 'forbidden' };
    assert.equal((await sink.write([rec(T0, { v: 1 })])).kind, 'auth');
    next = { status: 422, body: '{"code":"unprocessable entity","message":"points beyond retention policy"}' };
    const r = await sink.write([rec(T0, { v: 1 }), rec(T0 + 1n, { v: 2 })]);
    assert.equal(r.kind, 'too_large'); // not attributable to a line: split to isolate
    next = { status: 418, body: 'teapot' };
    assert.deepEqual(await sink.write([rec(T0, { v: 1 })]), {
      kind: 'permanent',
      reason: `influx: HTTP 418 from ${new URL(url).host}: teapot`,
    });
    // a request timeout (proxy) is temporary; a redirect is a wrong URL: neither dead-letters the batch
    for (const status of [408, 425]) {
      next = { status, body: 'later' };
      assert.equal((await sink.write([rec(T0, { v: 1 })])).kind, 'retry', String(status));
    }
    next = { status: 307, headers: { location: 'https://influx.example/api/v2/write' }, body: '' };
    const moved = await sink.write([rec(T0, { v: 1 })]);
    assert.equal(moved.kind, 'misconfigured');
    assert.match((moved as { reason: string }).reason, /HTTP 307 .*redirected to https:\/\/influx\.example/);
    await sink.close();
  });

  test('InfluxDB 2.x 400 (nothing written, first bad line named) → split, never "delivered with rejects"', async () => {
    const sink = new InfluxSink({ type: 'influx', url, api: 'v2', org: 'o', bucket: 'b', token: 't' });
    next = {
      status: 400,
      body: '{"code":"invalid","message":"unable to parse \'m v=1 x\': bad timestamp"}',
    };
    const two = await sink.write([rec(T0, { v: 1 }), rec(T0 + 1n, { v: 2 })]);
    assert.equal(two.kind, 'too_large', 'the other lines were not written: they must be retried');
    const one = await sink.write([rec(T0, { v: 1 })]);
    assert.equal(one.kind, 'partial', 'a single line is attributable: dead-letter it');
    await sink.close();
  });

  test('a partial write that dropped every line rejects them all at once (no bisecting)', async () => {
    const sink = new InfluxSink({ type: 'influx', url, database: 'd' });
    next = { status: 400, body: '{"error":"partial write: points beyond retention policy dropped=2"}' };
    const r = await sink.write([rec(1n, { v: 1 }), rec(2n, { v: 2 })]);
    assert.equal(r.kind, 'partial');
    assert.deepEqual(
      (r as { rejected: { index: number }[] }).rejected.map((x) => x.index),
      [0, 1],
    );
    next = { status: 400, body: '{"error":"partial write: points beyond retention policy dropped=1"}' };
    assert.equal((await sink.write([rec(1n, { v: 1 }), rec(2n, { v: 2 })])).kind, 'too_large');
    await sink.close();
  });

  test('InfluxDB 3 partial-write body (line_number list) maps to record indexes; v1 basic auth + rp', async () => {
    const sink = new InfluxSink({
      type: 'influx',
      url,
      database: 'd',
      retention_policy: 'week',
      username: 'u',
      password: 'p',
    });
    next = {
      status: 400,
      body: JSON.stringify({
        error: 'partial write of line protocol occurred',
        data: [{ original_line: 'x', line_number: 2, error_message: 'bad value' }],
      }),
    };
    const r = await sink.write([rec(T0, { v: 1 }), rec(T0 + 1n, { v: 2 }), rec(T0 + 2n, { v: 3 })]);
    assert.deepEqual(r, {
      kind: 'partial',
      rejected: [{ index: 1, reason: 'bad value' }],
      reason: 'influx: 1 of 3 records rejected: partial write of line protocol occurred',
    });
    assert.equal(seen.at(-1)?.url, '/write?db=d&rp=week&precision=ns');
    assert.equal(seen.at(-1)?.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    await sink.close();
  });

  test('a slow server → retry after the timeout, not a hang', async () => {
    const slow = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const a = slow.address();
    const sink = new InfluxSink({
      type: 'influx',
      url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
      database: 'd',
      timeout: 300,
    });
    const t0 = Date.now();
    const r = await sink.write([rec(T0, { v: 1 })]);
    assert.equal(r.kind, 'retry');
    assert.match((r as { reason: string }).reason, /no answer within 300ms/);
    assert.ok(Date.now() - t0 < 3000);
    await sink.close();
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
  });
});

describe('influx sink → VictoriaMetrics', { skip: !vm && 'victoria-metrics not installed' }, () => {
  const h = vm as ServiceHandle;
  test('204 is not proof: read back via /api/v1/export; numbers and booleans stored, ms resolution, db label', async () => {
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: 'sig' });
    const batch: TelemetryRecord[] = [];
    for (let i = 0n; i < 1000n; i++)
      batch.push(
        rec(T0 + i * 1_000_000n + 7n, { speed: Number(i) / 2, gear: i % 6n, on: i % 2n === 0n }, { dev: 'a b' }, 'veh'),
      );
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    const got = await vmExport(h, 'veh_.*');
    const by = new Map(got.map((s) => [s.metric.__name__, s]));
    assert.deepEqual(by.get('veh_speed')?.metric, { __name__: 'veh_speed', db: 'sig', dev: 'a b' });
    for (const name of ['veh_speed', 'veh_gear', 'veh_on']) assert.equal(by.get(name)?.values.length, 1000, name);
    const speed = by.get('veh_speed');
    assert.deepEqual(speed?.timestamps.slice(0, 2), [Number(T0 / 1_000_000n), Number(T0 / 1_000_000n) + 1]);
    assert.deepEqual(speed?.values.slice(0, 3), [0, 0.5, 1]);
    assert.deepEqual(by.get('veh_on')?.values.slice(0, 2), [1, 0]);
    await sink.close();
  });
});
