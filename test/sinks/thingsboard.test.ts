/**
 * The thingsboard sink against a real mosquitto, with the test playing ThingsBoard: device and gateway telemetry
 * with the records' own timestamps, batches split under max_payload_bytes, a backlog paced under the rate limits
 * (measured at the subscriber), the pacing decisions (too_large / retry with retryAfterMs, nothing sent), the
 * attribute request answered on connect, a config pushed after a broker restart (subscribed again on reconnect),
 * refused credentials → auth (the token in no reason), and a half-open link (PUBACKs lost) → retry, then ok.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { Outbox } from '../../src/outbox/index.js';
import type { TelemetryRecord } from '../../src/records/index.js';
import { ThingsboardSink, type WriteResult } from '../../src/sinks/index.js';
import type { ThingsboardSinkConfig } from '../../src/sinks/thingsboard/index.js';
import { rec, T0 } from '../harness/records.js';
import type { ServiceHandle } from '../harness/services.js';
import { maxInWindow, ServerSide, startOwnMosquitto, TcpProxy, TimedSubscriber, waitFor } from './uplink-helpers.js';

let mosq: ServiceHandle | null = null;
const open: { close(): Promise<void> }[] = [];

before(async () => {
  mosq = await startOwnMosquitto();
});
after(async () => {
  for (const o of open.reverse()) await o.close().catch(() => {});
  await mosq?.dispose();
});

const MS = 1_000_000n;

function sink(extra: Partial<ThingsboardSinkConfig> = {}, ctx = {}): ThingsboardSink {
  const s = new ThingsboardSink(
    {
      type: 'thingsboard',
      url: (mosq as ServiceHandle).url,
      access_token: 'device-token',
      reconnect_period: 200,
      connect_timeout: 2000,
      publish_timeout: 3000,
      rate_limits: [],
      ...extra,
    } as ThingsboardSinkConfig,
    ctx,
  );
  open.push(s);
  return s;
}

async function server(topics: string[], onMessage?: Parameters<typeof ServerSide.start>[2]): Promise<ServerSide> {
  const s = await ServerSide.start((mosq as ServiceHandle).url, topics, onMessage);
  open.push(s);
  return s;
}

type Entry = { ts: number; values: Record<string, unknown> };

test('records of one ms: a burst of one series moved to the next free ms, a record sent twice one value, another series (tags dropped) refused', () => {
  const s = sink();
  const burst = [
    rec(T0 + 100n, { v: 1 }, { path: '/' }, 'exec'),
    rec(T0 + 200n, { v: 2 }, { path: '/' }, 'exec'),
    rec(T0 + 200n, { v: 2 }, { path: '/' }, 'exec'), // sent twice
    rec(T0 + MS, { v: 3 }, { path: '/' }, 'exec'), // its own ms, taken by the burst: after it
    rec(T0 + 300n, { v: 9 }, { path: '/tmp' }, 'exec'), // another series, its tag dropped: same key
    rec(T0 + 400n, { w: 1 }, { path: '/tmp' }, 'exec'), // another key: fine
  ];
  const e = s.encode(burst);
  const t0 = Number(T0 / MS);
  const got = [...(e.byDevice.get('') ?? new Map())].map(([ts, values]) => [ts - t0, Object.fromEntries(values)]);
  assert.deepEqual(got, [
    [0, { v: '1', w: '1' }],
    [1, { v: '2' }],
    [2, { v: '3' }],
  ]);
  assert.equal(e.rejected.length, 1);
  assert.equal(e.rejected[0].index, 4);
  assert.match(
    e.rejected[0].reason,
    /key "v" at .* is also another series' \(its tags are dropped: use tags: prefix\)/,
  );

  // a moved value never lands on a ms another series holds, and overwrites nothing: A, B (next ms), A again
  const e2 = s.encode([
    rec(T0, { speed: 1 }, { bus: 'a' }),
    rec(T0 + MS, { speed: 2 }, { bus: 'b' }),
    rec(T0 + MS / 2n, { speed: 3 }, { bus: 'a' }),
  ]);
  assert.deepEqual(
    [...(e2.byDevice.get('') ?? new Map())].map(([ts, v]) => [ts - t0, Object.fromEntries(v)]),
    [
      [0, { speed: '1' }],
      [1, { speed: '2' }],
      [2, { speed: '3' }],
    ],
  );
  assert.deepEqual(e2.rejected, []);
  // a burst of 5,000 in one ms (a JSON array's items): 5,000 points, placed in one pass each
  const burst5k = Array.from({ length: 5000 }, (_, i) => rec(T0 + BigInt(i), { v: i }));
  const e3 = s.encode(burst5k);
  assert.equal(e3.byDevice.get('')?.size, 5000);
});

test('device api: one array per PUBLISH, the records’ own ms timestamps, split under max_payload_bytes; unsendable records rejected by index', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await server(['v1/devices/me/telemetry']);
  const s = sink({ max_payload_bytes: 512 });
  const batch: TelemetryRecord[] = [];
  for (let i = 0; i < 100; i++)
    batch.push(
      rec(T0 + BigInt(i) * 10n * MS + 123n, { speed: i + 0.5, gear: BigInt(i) * 2n ** 40n }, { bus: 'can1' }, 'engine'),
    );
  batch.push(rec(T0 + 456n, { temp: 20.25, ok: true, note: 'späť' }, {}, 'env')); // same ms as record 0: one entry
  batch.push(rec(T0, {}, {}, 'empty'));
  batch.push(rec(T0, { bad: Number.NaN }, {}, 'nan'));
  const r = await s.write(batch);
  assert.equal(r.kind, 'partial', JSON.stringify(r));
  assert.deepEqual(r.kind === 'partial' ? r.rejected : [], [
    { index: 101, reason: 'record has no fields' },
    { index: 102, reason: 'field "bad": NaN is not representable in JSON' },
  ]);
  await srv.until((a) => a.length > 0 && a.flatMap((m) => JSON.parse(m.payload) as Entry[]).length >= 100);
  const msgs = srv.on('v1/devices/me/telemetry');
  assert.ok(msgs.length > 5, `split into ${msgs.length} PUBLISHes`);
  for (const m of msgs) {
    // ThingsBoard's limit is on the packet's remaining length: payload + topic (2 + 23 bytes) + packet id (2)
    const remaining = Buffer.byteLength(m.payload) + 2 + 'v1/devices/me/telemetry'.length + 2;
    assert.ok(remaining <= 512, `${remaining} bytes`);
    assert.equal(m.qos, 1);
    assert.equal(m.retain, false);
  }
  const entries = msgs.flatMap((m) => JSON.parse(m.payload) as Entry[]);
  const byTs = new Map<number, Record<string, unknown>>();
  for (const e of entries) byTs.set(e.ts, { ...byTs.get(e.ts), ...e.values });
  assert.equal(byTs.size, 100);
  const t0ms = Number(T0 / MS);
  for (let i = 0; i < 100; i++) {
    const v = byTs.get(t0ms + i * 10);
    assert.ok(v, `ts ${t0ms + i * 10}`);
    assert.equal(v.speed, i + 0.5);
  }
  // integers exact (JSON integer text), the second record merged into the first one's ms
  const raw = msgs.map((m) => m.payload).join('');
  assert.match(raw, new RegExp(`"gear":${99n * 2n ** 40n}[,}]`));
  assert.deepEqual(byTs.get(t0ms), { speed: 0.5, gear: 0, temp: 20.25, ok: true, note: 'späť' });

  // keys as measurement.field with the tag values before them
  srv.clear();
  const s2 = sink({ key: 'measurement.field', tags: 'prefix' });
  assert.deepEqual(await s2.write([rec(T0, { speed: 1 }, { bus: 'can1', axle: 'rear' }, 'engine')]), { kind: 'ok' });
  await srv.until((a) => a.length === 1);
  assert.deepEqual(JSON.parse(srv.arrivals[0].payload), [{ ts: t0ms, values: { 'rear.can1.engine.speed': 1 } }]);
});

test('a backlog is paced: never more than the limit in any window at the subscriber', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const sub = await TimedSubscriber.start((mosq as ServiceHandle).url, ['v1/devices/me/telemetry']);
  open.push(sub);
  const s = sink({ rate_limits: [{ messages: 20, per: '500ms' }], max_payload_bytes: 400 });
  const t0 = performance.now();
  for (let w = 0; w < 3; w++) {
    const batch = Array.from({ length: 200 }, (_, i) => rec(T0 + BigInt(w * 200 + i) * MS, { v: w * 200 + i }));
    assert.deepEqual(await s.write(batch), { kind: 'ok' });
  }
  const took = performance.now() - t0;
  const arrivals = await sub.until((a) => a.flatMap((m) => JSON.parse(m.payload) as Entry[]).length >= 600);
  const times = arrivals.map((a) => a.at);
  const n = times.length;
  assert.ok(n > 40, `${n} PUBLISHes`);
  assert.ok(
    maxInWindow(times, 500) <= 20,
    `at most 20 in any 500 ms at the subscriber, saw ${maxInWindow(times, 500)}`,
  );
  assert.ok(took >= Math.floor((n - 1) / 20) * 500, `${n} PUBLISHes at 20 per 500 ms take ${took} ms`);
  const seen = new Set(arrivals.flatMap((m) => (JSON.parse(m.payload) as Entry[]).map((e) => e.values.v)));
  assert.equal(seen.size, 600);
});

test('a backlog flushed through the outbox: split and retried as the sink asks, every record once, never above the rate', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const sub = await TimedSubscriber.start((mosq as ServiceHandle).url, ['v1/devices/me/telemetry']);
  open.push(sub);
  const s = sink({ rate_limits: [{ messages: 20, per: '500ms' }], max_payload_bytes: 400, max_rate_wait: '1s' });
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-tb-outbox-'));
  const ob = Outbox.open({
    dataDir: dir,
    sinks: [{ sink: s, batchSize: 5000, flushIntervalMs: 10, backoffInitialMs: 50 }],
    logger: pino({ level: 'silent' }),
    checkpointIntervalMs: 0,
  });
  try {
    for (let b = 0; b < 6; b++)
      await ob.enqueue(Array.from({ length: 100 }, (_, i) => rec(T0 + BigInt(b * 100 + i) * MS, { v: b * 100 + i })));
    await ob.drain(25_000);
  } finally {
    await ob.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const arrivals = await sub.until((a) => a.flatMap((m) => JSON.parse(m.payload) as Entry[]).length >= 600);
  const values = arrivals.flatMap((m) => (JSON.parse(m.payload) as Entry[]).map((e) => e.values.v));
  assert.equal(values.length, 600, 'every record once: refused writes sent nothing');
  assert.equal(new Set(values).size, 600);
  const times = arrivals.map((a) => a.at);
  assert.ok(maxInWindow(times, 500) <= 20, `saw ${maxInWindow(times, 500)} in 500 ms`);
});

test('pacing decisions: a batch the limits cannot take → too_large; a busy window → retry with retryAfterMs; nothing sent', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await server(['v1/devices/me/telemetry']);
  // (127: 100 bytes of payload once the topic and packet id are counted)
  const s = sink({ rate_limits: [{ messages: 5, per: '2s' }], max_rate_wait: '500ms', max_payload_bytes: 127 });
  const many = Array.from({ length: 40 }, (_, i) => rec(T0 + BigInt(i) * MS, { v: i }));
  const big = await s.write(many);
  assert.equal(big.kind, 'too_large', JSON.stringify(big));
  assert.match((big as { reason: string }).reason, /rate_limits even when idle/);
  assert.deepEqual(await s.write(many.slice(0, 10)), { kind: 'ok' }); // 5 PUBLISHes (2 records each): the window
  await srv.until((a) => a.length >= 5);
  const sent = srv.arrivals.length;
  assert.equal(sent, 5);
  const busy = await s.write(many.slice(10, 12)); // one more PUBLISH: only after the window, > max_rate_wait
  assert.equal(busy.kind, 'retry', JSON.stringify(busy));
  const after = (busy as { retryAfterMs?: number }).retryAfterMs ?? 0;
  assert.ok(after > 500 && after <= 2100, `retryAfterMs ${after}`);
  assert.match((busy as { reason: string }).reason, /nothing sent/);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(srv.arrivals.length, sent, 'nothing published by the refused writes');
  const single = await s.write([many[30]]);
  assert.equal(single.kind, 'retry'); // one record: retry too (it fits when idle)
});

test('gateway api: v1/gateway/connect once per device and connection, telemetry keyed by device with original timestamps', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await server(['v1/gateway/#']);
  const s = sink({ api: 'gateway', device_type: 'box' });
  const t0ms = Number(T0 / MS);
  const r1 = await s.write([
    rec(T0, { a: 1 }, { device: 'dev A', bus: 'x' }),
    rec(T0 + 5n * MS, { a: 2 }, { device: 'dev A' }),
    rec(T0 + 7n * MS, { b: 3 }, { device: 'devB' }),
    rec(T0, { c: 4 }, { site: 'no device' }),
  ]);
  assert.deepEqual(r1, {
    kind: 'partial',
    rejected: [{ index: 3, reason: 'no "device" tag: the gateway api needs the device\'s name' }],
    reason:
      'thingsboard: 1 of 4 records cannot be sent to ThingsBoard: no "device" tag: the gateway api needs the device\'s name',
  });
  assert.deepEqual(
    await s.write([rec(T0 + 9n * MS, { a: 5 }, { device: 'dev A' }), rec(T0, { d: 6 }, { device: 'devC' })]),
    {
      kind: 'ok',
    },
  );
  await srv.until((a) => a.filter((m) => m.topic === 'v1/gateway/telemetry').length >= 2);
  assert.deepEqual(
    srv.on('v1/gateway/connect').map((m) => JSON.parse(m.payload)),
    [
      { device: 'dev A', type: 'box' },
      { device: 'devB', type: 'box' },
      { device: 'devC', type: 'box' },
    ],
  );
  const tel = srv.on('v1/gateway/telemetry').map((m) => JSON.parse(m.payload));
  assert.deepEqual(tel[0], {
    'dev A': [
      { ts: t0ms, values: { a: 1 } },
      { ts: t0ms + 5, values: { a: 2 } },
    ],
    devB: [{ ts: t0ms + 7, values: { b: 3 } }],
  });
  assert.deepEqual(tel[1], { 'dev A': [{ ts: t0ms + 9, values: { a: 5 } }], devC: [{ ts: t0ms, values: { d: 6 } }] });
  // the connects precede the telemetry that needs them
  const order = srv.arrivals.map((a) => a.topic);
  assert.ok(order.indexOf('v1/gateway/connect') < order.indexOf('v1/gateway/telemetry'));
});

test('remote config: the attribute request on connect is answered; a push after a broker restart arrives (subscribed again)', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const requests: { topic: string; payload: unknown }[] = [];
  const srv = await server(['v1/devices/me/attributes/request/+'], (a, c) => {
    requests.push({ topic: a.topic, payload: JSON.parse(a.payload) });
    const id = a.topic.split('/').pop();
    void c.publishAsync(
      `v1/devices/me/attributes/response/${id}`,
      JSON.stringify({ shared: { sigflow_config: JSON.stringify({ revision: 1, config: { a: 1 } }) } }),
      { qos: 1 },
    );
  });
  const pushes: { source: string; payload: unknown }[] = [];
  const s = sink(
    { name: 'tb1' },
    { remoteConfig: (source: string, payload: unknown) => pushes.push({ source, payload }) },
  );
  assert.equal(await s.probe(), null);
  await waitFor(() => pushes.length >= 1, 5000, 'the answered attribute request');
  assert.deepEqual(requests[0], {
    topic: 'v1/devices/me/attributes/request/1',
    payload: { sharedKeys: 'sigflow_config' },
  });
  assert.deepEqual(pushes[0], { source: 'tb1', payload: { revision: 1, config: { a: 1 } } });

  // the broker restarts: the sink reconnects on its own and must subscribe again for the push to reach it
  await (mosq as ServiceHandle).stop();
  await (mosq as ServiceHandle).start();
  const deadline = Date.now() + 15_000;
  while (!pushes.some((p) => (p.payload as { revision?: number }).revision === 2) && Date.now() < deadline) {
    if (srv.client.connected)
      await srv.client
        .publishAsync(
          'v1/devices/me/attributes',
          JSON.stringify({ sigflow_config: { revision: 2, config: { b: 2 } } }),
          {
            qos: 1,
          },
        )
        .catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(
    pushes.some((p) => JSON.stringify(p.payload) === JSON.stringify({ revision: 2, config: { b: 2 } })),
    'the push after the restart reached remoteConfig',
  );
  // and it asked for the attribute again on the new connection
  assert.ok(requests.length >= 2, `${requests.length} attribute requests`);
  // other attributes, deletions: not a config
  const before = pushes.length;
  await srv.client.publishAsync('v1/devices/me/attributes', JSON.stringify({ other: 1 }), { qos: 1 });
  await srv.client.publishAsync('v1/devices/me/attributes', JSON.stringify({ deleted: ['sigflow_config'] }), {
    qos: 1,
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(pushes.length, before);
  // writes go on over the new connection
  assert.deepEqual(await s.write([rec(T0, { v: 1 })]), { kind: 'ok' });
});

test('refused credentials → auth; the access token is in no reason', async (t) => {
  const secure = await startOwnMosquitto({ 'gateway-user': 'gw-secret' });
  if (!secure) return t.skip('mosquitto / mosquitto_passwd not installed');
  try {
    const token = 'A1B2C3-secret-device-token';
    const bad = new ThingsboardSink({
      type: 'thingsboard',
      url: secure.url,
      access_token: token,
      connect_timeout: 2000,
    });
    open.push(bad);
    const r = await bad.write([rec(T0, { v: 1 })]);
    assert.equal(r.kind, 'auth', JSON.stringify(r));
    assert.ok(!JSON.stringify(r).includes(token));
    assert.match(
      (r as { reason: string }).reason,
      /^thingsboard: mqtt:\/\/127\.0\.0\.1:\d+: Connection refused: Not authorized/,
    );
    const why = await bad.probe();
    assert.ok(why !== null && !why.includes(token), String(why));
    const wrongPw = new ThingsboardSink({
      type: 'thingsboard',
      url: secure.url,
      api: 'gateway',
      username: 'gateway-user',
      password: 'nope-password',
    });
    open.push(wrongPw);
    const r2 = await wrongPw.write([rec(T0, { v: 1 }, { device: 'd' })]);
    assert.equal(r2.kind, 'auth');
    assert.ok(!JSON.stringify(r2).includes('nope-password'));
    const good = new ThingsboardSink({
      type: 'thingsboard',
      url: secure.url,
      api: 'gateway',
      username: 'gateway-user',
      password: 'gw-secret',
    });
    open.push(good);
    assert.deepEqual(await good.write([rec(T0, { v: 1 }, { device: 'd' })]), { kind: 'ok' });
  } finally {
    await secure.dispose();
  }
});

test('half-open link: PUBACKs lost → retry within publish_timeout (connection reset); healed → the batch is delivered', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const proxy = new TcpProxy((mosq as ServiceHandle).port);
  await proxy.start();
  open.push(proxy);
  const srv = await server(['v1/devices/me/telemetry']);
  const s = new ThingsboardSink({
    type: 'thingsboard',
    url: proxy.url,
    access_token: 'tok',
    publish_timeout: 800,
    connect_timeout: 1000,
    reconnect_period: 200,
    rate_limits: [],
  });
  open.push(s);
  assert.deepEqual(await s.write([rec(T0, { n: 1 })]), { kind: 'ok' });
  proxy.blackhole();
  const batch = [rec(T0 + MS, { n: 2 }), rec(T0 + 2n * MS, { n: 3 })];
  const t0 = performance.now();
  const r = await s.write(batch);
  const took = performance.now() - t0;
  assert.equal(r.kind, 'retry', JSON.stringify(r));
  assert.match((r as { reason: string }).reason, /no PUBACK within 800ms/);
  assert.ok(took >= 700 && took < 2500, `answered after ${took} ms`);
  // the broker got the PUBLISH (only its PUBACK was lost): the server saw it
  await srv.until((a) => a.some((m) => m.payload.includes('"n":2')));
  proxy.heal();
  let last: WriteResult = r;
  const deadline = Date.now() + 8000;
  while (last.kind !== 'ok' && Date.now() < deadline) {
    last = await s.write(batch);
    if (last.kind !== 'ok') await new Promise((res) => setTimeout(res, 200));
  }
  assert.deepEqual(last, { kind: 'ok' });
  assert.ok(srv.arrivals.filter((m) => m.payload.includes('"n":2')).length >= 2, 'sent again after the heal');
});
