/**
 * The tenta sink against a real mosquitto, with the test playing Tenta's server: records routed to
 * measurements/logs/acknowledgments with Tenta's shapes and the records' own timestamps; records breaking
 * Tenta's rules rejected by index with the reason while the rest is sent; `configurations/<sensor>` (retained)
 * handed to remoteConfig on connect and again after a broker restart.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TentaSink } from '../../src/sinks/index.js';
import { type TentaSinkConfig, tentaKeyProblem } from '../../src/sinks/tenta/index.js';
import { rec, T0 } from '../harness/records.js';
import { type ServiceHandle, startMosquitto } from '../harness/services.js';
import { ServerSide, waitFor } from './uplink-helpers.js';

let mosq: ServiceHandle | null = null;
const open: { close(): Promise<void> }[] = [];
const SENSOR = '81bf7042-e20f-4a97-ac44-c15853e3618f';

before(async () => {
  mosq = await startMosquitto();
});
after(async () => {
  for (const o of open.reverse()) await o.close().catch(() => {});
  await mosq?.dispose();
});

function sink(extra: Partial<TentaSinkConfig> = {}, ctx = {}): TentaSink {
  const s = new TentaSink(
    {
      type: 'tenta',
      url: (mosq as ServiceHandle).url,
      sensor: SENSOR,
      reconnect_period: 200,
      connect_timeout: 2000,
      ...extra,
    } as TentaSinkConfig,
    ctx,
  );
  open.push(s);
  return s;
}

test('Tenta’s key rule', () => {
  for (const ok of ['a', 'temperature', 'co2_ppm', 'a1_b2_c3', '0', 'x'.repeat(64)])
    assert.equal(tentaKeyProblem(ok), null, ok);
  for (const bad of ['', 'Temp', 'temp__c', '_x', 'x_', 'a-b', 'a.b', 'ä', 'x'.repeat(65)])
    assert.notEqual(tentaKeyProblem(bad), null, bad);
});

test("a procedure's log line (exec: level, subject, body) is a Tenta log: message from subject and body, severity from the level", () => {
  const s = sink();
  const log = (fields: Record<string, string>) => s.element(rec(T0, fields, {}, 'log'));
  assert.equal(
    log({ level: 'WARNING', subject: 'disk almost full', body: '91 % used' }),
    '{"message":"disk almost full\\n91 % used","severity":"warning","timestamp":1700000000.0}',
  );
  assert.match(String(log({ level: 'EXCEPTION', subject: 'crashed' })), /"severity":"error"/);
  assert.match(String(log({ level: 'DEBUG', subject: 'x' })), /"message":"x","severity":"info"/);
  assert.match(String(log({ message: 'plain', severity: 'error' })), /"message":"plain","severity":"error"/);
  assert.deepEqual(log({ level: 'INFO' }), { problem: 'a log needs a string field "message" (or "subject")' });
});

test('routing and shapes: measurements, logs, acknowledgements with the records’ own timestamps; rule breakers rejected with the reason, the rest sent', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const srv = await ServerSide.start((mosq as ServiceHandle).url, [
    `measurements/${SENSOR}`,
    `logs/${SENSOR}`,
    `acknowledgments/${SENSOR}`,
  ]);
  open.push(srv);
  const s = sink({ max_payload_bytes: 300 });
  const batch = [
    rec(T0 + 123_456_789n, { temperature: 21.5, humidity: 40n }, { revision: '3' }, 'env'), // 0
    rec(T0 + 1_000_000_000n, { message: 'hello "world"', severity: 'warning' }, {}, 'log'), // 1
    rec(T0 + 2_000_000_000n, { revision: 3, success: true, status: 'accepted', detail: 'x' }, {}, 'config_ack'), // 2
    rec(T0, { Temp: 1 }, {}, 'env'), // 3: bad key
    rec(T0, { status: 'on' }, {}, 'env'), // 4: not a number
    rec(T0, { message: 'm', severity: 'debug' }, {}, 'log'), // 5: bad severity
    rec(T0, { success: true }, {}, 'config_ack'), // 6: no revision
    rec(T0, { v: 1 }, { revision: 'seven' }, 'env'), // 7: bad revision
    rec(-1n, { v: 1 }, {}, 'env'), // 8: before 1970
    rec(T0 + 3_000_000_000n, { message: 'no severity' }, {}, 'log'), // 9: info
  ];
  for (let i = 0; i < 10; i++) batch.push(rec(T0 + BigInt(10 + i) * 1_000_000_000n, { v: i }, {}, 'env')); // 10…19
  const r = await s.write(batch);
  assert.equal(r.kind, 'partial', JSON.stringify(r));
  const rejected = r.kind === 'partial' ? r.rejected : [];
  assert.deepEqual(
    rejected.map((x) => x.index),
    [3, 4, 5, 6, 7, 8],
  );
  assert.match(rejected[0].reason, /key "Temp" breaks Tenta's rule \^\[a-z0-9\]\(_\?\[a-z0-9\]\)\*\$/);
  assert.match(rejected[1].reason, /field "status": Tenta takes numbers only, not string/);
  assert.match(rejected[2].reason, /severity "debug" is not one of info, warning, error/);
  assert.match(rejected[3].reason, /acknowledgement needs a "revision"/);
  assert.match(rejected[4].reason, /revision seven is not a whole number/);
  assert.match(rejected[5].reason, /outside Tenta's range/);
  assert.match(r.kind === 'partial' ? r.reason : '', /^tenta: 6 of 20 records break Tenta's rules: /);

  await srv.until((a) => a.flatMap((m) => JSON.parse(m.payload) as unknown[]).length >= 14);
  for (const m of srv.arrivals) {
    assert.equal(m.qos, 1);
    assert.ok(Buffer.byteLength(m.payload) <= 300);
  }
  const meas = srv.on(`measurements/${SENSOR}`);
  assert.ok(meas.length >= 2, 'split under max_payload_bytes');
  const elems = meas.flatMap((m) => JSON.parse(m.payload) as { value: Record<string, number>; timestamp: number }[]);
  assert.deepEqual(elems[0], { value: { temperature: 21.5, humidity: 40 }, timestamp: 1700000000.123456, revision: 3 });
  // floats as floats (Tenta's strict float fields), the original time in seconds with µs
  assert.match(
    meas[0].payload,
    /^\[\{"value":\{"temperature":21\.5,"humidity":40\.0\},"timestamp":1700000000\.123456,"revision":3\}/,
  );
  assert.deepEqual(
    elems.slice(1).map((e) => [e.value.v, e.timestamp]),
    Array.from({ length: 10 }, (_, i) => [i, 1700000010 + i]),
  );
  assert.match(meas[meas.length - 1].payload, /"timestamp":1700000019\.0/);
  assert.deepEqual(
    srv.on(`logs/${SENSOR}`).flatMap((m) => JSON.parse(m.payload)),
    [
      { message: 'hello "world"', severity: 'warning', timestamp: 1700000001 },
      { message: 'no severity', severity: 'info', timestamp: 1700000003 },
    ],
  );
  // only Tenta's keys (extra keys would make the server drop the message)
  assert.deepEqual(
    srv.on(`acknowledgments/${SENSOR}`).map((m) => m.payload),
    ['[{"success":true,"revision":3,"timestamp":1700000002.0}]'],
  );
});

test('configurations/<sensor> reaches remoteConfig on connect, and again after a broker restart', async (t) => {
  if (!mosq) return t.skip('mosquitto not installed');
  const url = (mosq as ServiceHandle).url;
  const srv = await ServerSide.start(url, []);
  open.push(srv);
  // Tenta publishes configurations retained, QoS 1
  await srv.client.publishAsync(
    `configurations/${SENSOR}`,
    JSON.stringify({ revision: 4, configuration: { seconds_between_datapoints: 10 } }),
    { qos: 1, retain: true },
  );
  const pushes: { source: string; payload: unknown }[] = [];
  const s = sink(
    { name: 'tenta-up' },
    { remoteConfig: (source: string, payload: unknown) => pushes.push({ source, payload }) },
  );
  assert.equal(await s.probe(), null);
  await waitFor(() => pushes.length >= 1, 5000, 'the retained configuration');
  assert.deepEqual(pushes[0], {
    source: 'tenta-up',
    payload: { revision: 4, config: { seconds_between_datapoints: 10 } },
  });
  await (mosq as ServiceHandle).stop();
  await (mosq as ServiceHandle).start();
  // the broker kept the retained message (persistence): the new subscription gets it again
  await waitFor(() => pushes.length >= 2, 15_000, 'the configuration after the restart');
  assert.deepEqual(pushes[1], pushes[0]);
  assert.deepEqual(await s.write([rec(T0, { v: 1 })]), { kind: 'ok' });
});
