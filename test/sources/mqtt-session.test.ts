/**
 * The MQTT source against a broker in this process (aedes):
 * - under a full outbox (its sinks down longer than block_timeout) the batch is offered again with backoff, its
 *   messages stay unacknowledged meanwhile, and once the outbox takes it every message is stored and acknowledged
 *   — the unit does not end (it crash-looped into "failed" before, and stayed there after the sink came back);
 * - a retained message received but not stored (the batch failed) is stored when the session resumes: the broker
 *   sends it again with its retain flag, and it must not be taken for a mere re-send of retained state.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { SigflowError } from '../../src/errors/index.js';
import { MqttSource, mqttSourceConfigSchema } from '../../src/sources/mqtt/index.js';
import { until } from './fake-context.js';
import { RecordsContext } from './records-context.js';

/** An MQTT broker in this process on 127.0.0.1 (any free port), and how to stop it. */
async function broker() {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const close = async () => {
    await new Promise<void>((r) => aedes.close(() => r()));
    server.close();
  };
  return { aedes, url, close };
}

test('a full outbox holds the batch (unacknowledged) and offers it again; then every message is stored and acked', async () => {
  const { aedes, url, close } = await broker();
  let acks = 0;
  aedes.on('ack', (_p, client) => {
    if (client?.id === 'src') acks++;
  });
  const f = new RecordsContext();
  f.refuse = new SigflowError('SF_ERR_OUTBOX_FULL', 'outbox full: waited 60000 ms for space', { where: 'p' });
  const o = mqttSourceConfigSchema.parse({
    type: 'mqtt',
    url,
    topics: ['t/#'],
    batch_wait: '20ms',
    payload: { format: 'json', measurement: 'm', time: 't' },
  });
  const run = new MqttSource(o, 'src').run(f.ctx);
  let ended = false;
  run.then(
    () => {
      ended = true;
    },
    () => {
      ended = true;
    },
  );
  const pub = await mqtt.connectAsync(url, { clientId: 'pub' });
  try {
    await until('connected', () => f.states.some((s) => s.connected));
    for (let i = 0; i < 5; i++) pub.publish(`t/${i}`, JSON.stringify({ t: 1_700_000_000 + i, v: i }), { qos: 1 });
    await until('held and offered again', () => (f.counts.outbox_full_waits ?? 0) >= 2, 15_000);
    assert.equal(ended, false, 'the unit keeps running');
    assert.equal(acks, 0, 'nothing acknowledged while the outbox is full');
    assert.equal(f.records.length, 0);
    f.refuse = null; // the sink is back: the outbox has room
    await until('stored', () => f.records.length === 5, 40_000);
    await until('acknowledged', () => acks === 5, 5_000);
    assert.deepEqual(f.records.map((h) => h.record.fields.v).sort(), [0, 1, 2, 3, 4]);
    assert.equal(f.problems().filter((m) => /outbox full: the batch is held/.test(m)).length, 1);
  } finally {
    f.ac.abort();
    await run;
    await pub.endAsync();
    await close();
  }
});

test('a retained message whose batch could not be stored is stored when the persistent session resumes', async () => {
  const { url, close } = await broker();
  const pub = await mqtt.connectAsync(url, { clientId: 'pub' });
  await pub.publishAsync('cfg/setpoint', JSON.stringify({ setpoint: 42 }), { qos: 1, retain: true });
  const o = mqttSourceConfigSchema.parse({
    type: 'mqtt',
    url,
    topics: ['cfg/#'],
    batch_wait: '20ms',
    payload: { format: 'json', measurement: 'cfg' },
  });
  const f = new RecordsContext();
  try {
    // the first run cannot store its batch (a damaged outbox): run() fails, nothing acknowledged
    f.refuse = new Error('the outbox cannot store it');
    await assert.rejects(new MqttSource(o, 'keeper').run(f.ctx), /cannot store it/);
    assert.equal(f.records.length, 0);
    // restarted: the resumed session's re-send (retained flag set) is stored
    f.refuse = null;
    const ac = new AbortController();
    const run = new MqttSource(o, 'keeper').run({ ...f.ctx, signal: ac.signal });
    await until('stored', () => f.records.length === 1, 10_000);
    ac.abort();
    await run;
    assert.equal(f.records[0].record.fields.setpoint, 42);
  } finally {
    await pub.endAsync();
    await close();
  }
});

test('two instances with one client id (they take the session from each other): a warning that says so, once', async () => {
  const { url, close } = await broker();
  const o = mqttSourceConfigSchema.parse({
    type: 'mqtt',
    url,
    topics: ['x/#'],
    reconnect_period: '100ms',
    payload: { format: 'raw' },
  });
  const a = new RecordsContext();
  const b = new RecordsContext();
  const runs = [new MqttSource(o, 'same-id').run(a.ctx), new MqttSource(o, 'same-id').run(b.ctx)];
  try {
    const said = () =>
      [...a.problems(), ...b.problems()].filter((m) => /another client may be connected as same-id/.test(m));
    await until('the warning', () => said().length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(a.problems().filter((m) => /another client/.test(m)).length <= 1);
    assert.ok(b.problems().filter((m) => /another client/.test(m)).length <= 1);
  } finally {
    a.ac.abort();
    b.ac.abort();
    await Promise.all(runs);
    await close();
  }
});
