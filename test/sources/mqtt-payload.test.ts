/**
 * MQTT payloads → records (payloadToRecords), without a broker: a number JSON cannot hold as a double (1e999 parses
 * as Infinity) refuses the message with the reason — it is archived by the source — instead of its field vanishing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TelemetryRecord } from '../../src/records/index.js';
import { mqttSourceConfigSchema, payloadToRecords } from '../../src/sources/mqtt/index.js';

const T = 1_700_000_000_000_000_000n;

function read(payload: object, text: string) {
  const o = mqttSourceConfigSchema.parse({
    type: 'mqtt',
    url: 'mqtt://127.0.0.1:1883',
    topics: [{ topic: 'x/#' }],
    payload,
  });
  if (o.payload.format === 'packets') throw new Error('not here');
  const out: TelemetryRecord[] = [];
  const why = payloadToRecords(o.payload, 'x/dev1', new TextEncoder().encode(text), T, out);
  return { why, out };
}

test('a number beyond a double refuses the message, naming the field; finite ones pass', () => {
  const json = { format: 'json', measurement: 'env' };
  const ok = read(json, '{"temp": 21.5, "hum": 40}');
  assert.equal(ok.why, null);
  assert.deepEqual(ok.out[0].fields, { temp: 21.5, hum: 40 });
  for (const text of ['{"temp": 1e999, "hum": 40}', '{"hum": 40, "temp": -1e999}']) {
    const r = read(json, text);
    assert.match(r.why ?? '', /^field temp: a number beyond the range of a double \(read as -?Infinity\)$/, text);
    assert.equal(r.out.length, 0);
  }
  const arr = read(json, '[{"a": 1}, {"a": 1e400}]');
  assert.match(arr.why ?? '', /^item 1: field a: /);
  assert.equal(arr.out.length, 0, 'no item of a refused message is kept');
  const mapped = read({ ...json, fields: { t: 'v.t' } }, '{"v": {"t": 1e999}}');
  assert.match(mapped.why ?? '', /^field t: /);
  const env = read({ format: 'envelope', measurement: 'gw' }, '{"data": "AAE=", "snr": 1e999}');
  assert.match(env.why ?? '', /^field snr: /);
  assert.deepEqual(read({ format: 'envelope', measurement: 'gw' }, '{"data": "AAE=", "snr": -7.5}').out[0].fields, {
    data: '0001',
    snr: -7.5,
  });
});

test('a time no record can hold refuses the message (archived), not the outbox batch; items without a time are distinct points', () => {
  const json = { format: 'json', measurement: 'env', time: 't' };
  for (const text of ['{"t": 1e19, "v": 2}', '{"t": 9.3e18, "v": 2}', '{"t": "9999-01-01T00:00:00Z", "v": 2}']) {
    const r = read({ ...json, ...(text.includes('1e19') ? { time_unit: 'ns' } : {}) }, text);
    assert.match(r.why ?? '', /beyond the times a record can hold/, text);
    assert.equal(r.out.length, 0);
  }
  assert.equal(read(json, '{"t": 1700000001, "v": 3}').out[0].time, 1_700_000_001_000_000_000n);
  const arr = read({ format: 'json', measurement: 'env' }, '[{"v": 1}, {"v": 2}, {"v": 3}]');
  assert.deepEqual(
    arr.out.map((r) => r.time),
    [T, T + 1n, T + 2n],
  );
});

test('topic filters are checked in the config: # last and alone, + alone, $share/<group>/<filter>', () => {
  const parse = (topics: unknown[]) =>
    mqttSourceConfigSchema.safeParse({
      type: 'mqtt',
      url: 'mqtt://127.0.0.1:1883',
      topics,
      payload: { format: 'raw' },
    });
  for (const good of ['a/#', '#', 'a/+/b', '+', '$share/g/t8/#', 'a/b', '$SYS/#'])
    assert.ok(parse([good]).success, good);
  for (const bad of ['a/#/b', 'a#', 'a/b+', '$share//x', '$share/g+/x', '$share/g'])
    assert.ok(!parse([{ topic: bad }]).success && !parse([bad]).success, bad);
  assert.match(JSON.stringify(parse(['a/#/b']).error?.issues), /not a topic filter: # stands alone/);
});
