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
