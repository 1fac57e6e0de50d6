/**
 * The generic mqtt sink against a real mosquitto: topic templates (placeholders filled per record; an unknown one
 * is SF_ERR_UPLINK_CONFIG at create), `format: json` (an array per topic and PUBLISH, RFC 3339 or ms times, exact
 * integers) and `format: line` (line protocol, ns), max_payload_bytes, QoS 0/1, retain.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SigflowError } from '../../src/errors/index.js';
import { LineEncoder } from '../../src/records/index.js';
import { createSink, MqttSink } from '../../src/sinks/index.js';
import type { MqttSinkConfig } from '../../src/sinks/mqtt/index.js';
import { rec, T0 } from '../harness/records.js';
import { type ServiceHandle, startMosquitto } from '../harness/services.js';
import { ServerSide } from './uplink-helpers.js';

let mosq: ServiceHandle | null = null;
const open: { close(): Promise<void> }[] = [];

before(async () => {
  mosq = await startMosquitto();
});
after(async () => {
  for (const o of open.reverse()) await o.close().catch(() => {});
  await mosq?.dispose();
});

function sink(extra: Partial<MqttSinkConfig>): MqttSink {
  const s = new MqttSink({ type: 'mqtt', url: (mosq as ServiceHandle).url, topic: 'x', ...extra } as MqttSinkConfig);
  open.push(s);
  return s;
}

async function server(topics: string[]): Promise<ServerSide> {
  const s = await ServerSide.start((mosq as ServiceHandle).url, topics);
  open.push(s);
  return s;
}

test('topic templates: an unknown placeholder, a stray brace or a wildcard is SF_ERR_UPLINK_CONFIG at create', () => {
  const base = { type: 'mqtt', url: 'mqtt://127.0.0.1:1', name: 'up' };
  const isUplink = (re: RegExp) => (e: unknown) =>
    e instanceof SigflowError && e.code === 'SF_ERR_UPLINK_CONFIG' && e.exitCode === 2 && re.test(e.message);
  assert.throws(
    () => createSink({ ...base, topic: 'a/{device}/b' }, 'sinks[0]'),
    isUplink(
      /^up\.topic: topic "a\/\{device\}\/b": unknown placeholder \{device\} \(known: \{measurement\}, \{tag:<name>\}\)$/,
    ),
  );
  assert.throws(() => createSink({ ...base, topic: 'a/{tag:}' }), isUplink(/unknown placeholder \{tag:\}/));
  assert.throws(
    () => createSink({ ...base, topic: 'a/{measurement' }),
    isUplink(/a "\{" or "\}" outside a placeholder/),
  );
  assert.throws(() => createSink({ ...base, topic: 'a/+/{measurement}' }), isUplink(/wildcards/));
  const s = createSink({ ...base, topic: 'a/{tag:dev}/{measurement}/{tag:bus}' }) as MqttSink;
  assert.deepEqual(s.topic.tags, ['dev', 'bus']);
  assert.equal(s.topic.render(rec(T0, { v: 1 }, { dev: 'd1', bus: 'can0' }, 'm')), 'a/d1/m/can0');
  assert.deepEqual(s.topic.render(rec(T0, { v: 1 }, { dev: 'd1' }, 'm')), {
    problem: 'no "bus" tag for topic a/{tag:dev}/{measurement}/{tag:bus}',
  });
  assert.deepEqual(s.topic.render(rec(T0, { v: 1 }, { dev: 'd+1', bus: 'x' }, 'm')), {
    problem: 'topic "a/d+1/m/x" contains +, # or NUL',
  });
  // a CA file that cannot be read: at create, not a retry loop later
  assert.throws(
    () => createSink({ ...base, topic: 't', ca: '/nonexistent/ca.pem' }),
    isUplink(/^up: ca \/nonexistent\/ca\.pem cannot be read: ENOENT$/),
  );
  // the URL takes no credentials
  assert.throws(
    () => createSink({ ...base, url: 'mqtt://user:pw@127.0.0.1', topic: 't' }),
    (e: unknown) =>
      e instanceof SigflowError && /credentials go in their own keys/.test(e.message) && !/pw@/.test(e.message),
  );
});

test('format json: an array per topic and PUBLISH, RFC 3339 with ns, exact integers; a record without its topic tag rejected', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await server(['sig/#']);
  const s = sink({ topic: 'sig/{tag:device}/{measurement}', max_payload_bytes: 1000 });
  const batch = [
    rec(T0 + 123_456_789n, { temp: 21.5, count: 2n ** 60n, on: true, label: 'a "b"' }, { device: 'd1' }, 'env'),
    rec(T0 + 1n, { temp: 22 }, { device: 'd2' }, 'env'),
    rec(T0 + 2n, { temp: 23 }, {}, 'env'),
    rec(T0 + 3n, { temp: Number.POSITIVE_INFINITY }, { device: 'd1' }, 'env'),
  ];
  for (let i = 0; i < 30; i++) batch.push(rec(T0 + BigInt(i) * 1_000_000n, { i }, { device: 'd1' }, 'bulk'));
  const r = await s.write(batch);
  assert.deepEqual(r.kind === 'partial' ? r.rejected : r, [
    { index: 2, reason: 'no "device" tag for topic sig/{tag:device}/{measurement}' },
    { index: 3, reason: 'field "temp": Infinity is not representable in JSON' },
  ]);
  await srv.until((a) => a.flatMap((m) => JSON.parse(m.payload) as unknown[]).length >= 32);
  assert.deepEqual([...new Set(srv.arrivals.map((a) => a.topic))].sort(), ['sig/d1/bulk', 'sig/d1/env', 'sig/d2/env']);
  const env1 = srv.on('sig/d1/env');
  assert.equal(
    env1[0].payload,
    `[{"time":"2023-11-14T22:13:20.123456789Z","measurement":"env","tags":{"device":"d1"},"fields":{"temp":21.5,"count":${2n ** 60n},"on":true,"label":"a \\"b\\""}}]`,
  );
  const bulk = srv.on('sig/d1/bulk');
  assert.ok(bulk.length >= 2, 'split under max_payload_bytes');
  for (const m of srv.arrivals) {
    assert.ok(Buffer.byteLength(m.payload) <= 1000);
    assert.equal(m.qos, 1);
  }
  assert.deepEqual(
    bulk.flatMap((m) => (JSON.parse(m.payload) as { fields: { i: number } }[]).map((x) => x.fields.i)),
    Array.from({ length: 30 }, (_, i) => i),
  );
  // time as ms
  srv.clear();
  const ms = sink({ topic: 'sig/ms', time_format: 'ms' });
  assert.deepEqual(await ms.write([rec(T0 + 5_999_999n, { v: 1 }, {}, 'm')]), { kind: 'ok' });
  await srv.until((a) => a.length === 1);
  assert.deepEqual(JSON.parse(srv.arrivals[0].payload), [
    { time: 1700000000005, measurement: 'm', tags: {}, fields: { v: 1 } },
  ]);
});

test('format line: line protocol with ns timestamps, the records’ lines per PUBLISH', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await server(['telegraf/#']);
  const s = sink({ topic: 'telegraf/{measurement}', format: 'line', max_payload_bytes: 200 });
  const batch = Array.from({ length: 20 }, (_, i) =>
    rec(T0 + BigInt(i), { speed: i + 0.25, n: BigInt(i), s: `x y,${i}` }, { bus: 'can 1', dev: 'a' }, 'engine'),
  );
  batch.push(rec(T0, { time: 1 }, {}, 'engine')); // a field named time: line protocol refuses it
  const r = await s.write(batch);
  assert.equal(r.kind, 'partial');
  assert.deepEqual(r.kind === 'partial' ? r.rejected.map((x) => x.index) : [], [20]);
  await srv.until(
    (a) =>
      a
        .map((m) => m.payload)
        .join('')
        .split('\n')
        .filter(Boolean).length >= 20,
  );
  const msgs = srv.on('telegraf/engine');
  assert.ok(msgs.length > 1);
  for (const m of msgs) {
    assert.ok(Buffer.byteLength(m.payload) <= 200);
    assert.ok(m.payload.endsWith('\n'));
  }
  const enc = new LineEncoder('ns');
  assert.deepEqual(
    msgs
      .map((m) => m.payload)
      .join('')
      .split('\n')
      .filter(Boolean),
    batch.slice(0, 20).map((x) => enc.encodeOne(x).line),
  );
  assert.match(msgs[0].payload, /^engine,bus=can\\ 1,dev=a speed=0\.25,n=0i,s="x y,0" 1700000000000000000\n/);
});

test('qos 0 and retain', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await server(['q0/#']);
  const s = sink({ topic: 'q0/{measurement}', qos: 0 });
  assert.deepEqual(await s.write([rec(T0, { v: 1 }, {}, 'a')]), { kind: 'ok' });
  await srv.until((a) => a.length === 1);
  assert.equal(srv.arrivals[0].qos, 0);
  const r = sink({ topic: 'retained/{measurement}', retain: true });
  assert.deepEqual(await r.write([rec(T0, { v: 2 }, {}, 'b')]), { kind: 'ok' });
  // a subscriber arriving later gets it, flagged retained
  const late = await server(['retained/#']);
  await late.until((a) => a.length === 1);
  assert.equal(late.arrivals[0].retain, true);
  assert.equal(late.arrivals[0].topic, 'retained/b');
});

test('a slow link that keeps acknowledging is no timeout: publish_timeout watches progress, not each message', async () => {
  // a broker that takes 250 ms per PUBLISH: the 16th message of a batch is acknowledged 4 s after it was handed
  // over, twice publish_timeout — but something is acknowledged every 250 ms
  const { Aedes } = await import('aedes');
  const { createServer } = await import('node:net');
  const aedes = await Aedes.createBroker();
  let published = 0;
  let line = Promise.resolve(); // one PUBLISH after the other, 250 ms each
  aedes.authorizePublish = (_client, packet, callback) => {
    if (!packet.topic.startsWith('slow/')) return callback(null);
    line = line.then(
      () =>
        new Promise<void>((r) =>
          setTimeout(() => {
            published++;
            callback(null);
            r();
          }, 250),
        ),
    );
  };
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const s = new MqttSink({
    type: 'mqtt',
    url,
    topic: 'slow/x',
    max_payload_bytes: 300,
    publish_timeout: '2s',
  } as MqttSinkConfig);
  try {
    const batch = Array.from({ length: 64 }, (_, i) => rec(T0 + BigInt(i), { i, pad: 'x'.repeat(40) }, {}, 'm'));
    const t0 = performance.now();
    assert.deepEqual(await s.write(batch), { kind: 'ok' });
    assert.ok(published >= 16, `${published} PUBLISHes`);
    assert.ok(performance.now() - t0 > 2000 * 1.5, 'the batch took longer than publish_timeout');
  } finally {
    await s.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    server.close();
  }
});

test('a broker certificate that does not verify is misconfigured (an alarm to fix), not retried as a passing fault', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-tls-'));
  try {
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
    } catch {
      return t.skip('openssl is not installed');
    }
    const { Aedes } = await import('aedes');
    const { createServer } = await import('node:tls');
    const aedes = await Aedes.createBroker();
    const server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      aedes.handle,
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const s = new MqttSink({
      type: 'mqtt',
      url: `mqtts://127.0.0.1:${(server.address() as { port: number }).port}`,
      topic: 'x',
      connect_timeout: '3s',
    } as MqttSinkConfig);
    try {
      const r = await s.write([rec(T0, { v: 1 }, {}, 'm')]);
      assert.equal(r.kind, 'misconfigured', JSON.stringify(r));
      assert.match((r as { reason: string }).reason, /certificate does not verify: self[- ]signed/);
    } finally {
      await s.close();
      await new Promise<void>((r) => aedes.close(() => r()));
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
