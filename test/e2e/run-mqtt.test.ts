/**
 * `sigflow run` with an MQTT source, end to end against real brokers: mosquitto from Debian (persistence on,
 * `max_queued_messages 0`) and aedes in this process.
 * - QoS 1 messages published while sigflow is SIGKILLed twice and mosquitto restarted once: every message is in
 *   the store exactly once.
 * - No message is acknowledged before it is durable: with the outbox full (its only sink unreachable) the broker
 *   sees exactly as many PUBACKs as the outbox holds records, while the unit has received more.
 * - Unreadable payloads (malformed JSON, invalid UTF-8, oversized) are archived with the reason and acknowledged;
 *   the unit keeps running.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { Daemon } from '../harness/daemon.js';
import { publishSeq, storedSeqs } from '../harness/mqtt.js';
import { freePort, startMosquitto } from '../harness/services.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sigflow-run-mqtt-'));
  dirs.push(d);
  return d;
}

function config(dir: string, url: string, extra = '', sink = `- { type: store, path: ${dir}/data/store.db }`): string {
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(
    file,
    `outbox: { data_dir: ${dir}/data${extra} }
sinks:
  ${sink}
pipelines:
  - name: env
    source:
      type: mqtt
      url: ${url}
      client_id: sigflow-test
      topics: [{ topic: "sensors/#", qos: 1 }]
      max_payload_bytes: 64KiB
      payload: { format: json, measurement: env, time: t, time_unit: ms, tags: { device: "topic:1" } }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
runtime: { drain_timeout: 30s }
`,
  );
  return file;
}

/** Publishes n QoS 1 messages (test/harness/mqtt.ts). */
function publish(url: string, n: number, t0: number, onProgress?: (i: number) => Promise<void> | void) {
  return publishSeq(url, `pub-${process.pid}`, n, t0, onProgress);
}

test('QoS 1 through two SIGKILLs of sigflow and a broker restart: every message stored exactly once', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const dir = tempDir();
  const file = config(dir, broker.url);
  const N = 100_000;
  const t0 = Date.UTC(2025, 0, 1);
  let d = Daemon.start(file, {});
  const events: string[] = [];
  try {
    await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to sensors/#')), 30_000);
    await publish(broker.url, N, t0, async (i) => {
      if (i === 20_000 || i === 70_000) {
        // crash: nothing is said, nothing is drained; the next start takes over the session and the outbox
        await d.stop('SIGKILL');
        events.push(`SIGKILL at ${i}`);
        d = Daemon.start(file, {});
        await d.until('the restart', () => d.http !== null, 30_000);
      }
      if (i === 45_000) {
        await broker.stop();
        await broker.start();
        events.push(`mosquitto restarted at ${i}`);
      }
    });
    // everything published was taken by the broker; wait until sigflow stored all of it
    await d.until(
      'all messages stored',
      async () =>
        (await d.metric('sigflow_outbox_pending_records', { sink: 'store' })) === 0 && storedSeqs(dir).length >= N,
      120_000,
    );
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await broker.dispose();
  }
  const seqs = storedSeqs(dir);
  assert.equal(events.length, 3, events.join(', '));
  assert.equal(seqs.length, N, `${seqs.length} stored of ${N} (${events.join(', ')})`);
  assert.equal(new Set(seqs).size, N, 'each once');
});

test('no message is acknowledged before it is durable in the outbox', async () => {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  let acks = 0;
  aedes.on('ack', (_packet, client) => {
    if (client?.id === 'sigflow-test') acks++;
  });
  const dir = tempDir();
  // the only sink never answers, and the outbox holds 200 KiB: once full, enqueue blocks (nothing is dropped)
  const file = config(
    dir,
    url,
    ', max_bytes: 200KiB, block_timeout: 1h',
    '- { type: influx, url: "http://127.0.0.1:9", database: x, timeout: 1s }',
  );
  const d = Daemon.start(file, {});
  try {
    await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to sensors/#')), 30_000);
    const pub = mqtt.connect(url, { clientId: 'pub-durable' });
    await new Promise<void>((r) => pub.once('connect', () => r()));
    for (let k = 0; k < 20_000; k++)
      pub.publish(`sensors/dev${k % 10}`, JSON.stringify({ t: 1_735_689_600_000 + k, seq: k, temp: k }), { qos: 1 });
    const status = async () =>
      (await (await fetch(`${d.http}/status`)).json()) as {
        units: { counters: Record<string, number> }[];
        outbox: { pendingRecords: number };
      };
    // the outbox fills up and blocks; reading stops soon after (the unit holds at most a few batches)
    let last = -1;
    await d.until(
      'the outbox to block',
      async () => {
        const s = await status();
        const steady = s.outbox.pendingRecords > 0 && s.outbox.pendingRecords === last;
        last = s.outbox.pendingRecords;
        return steady;
      },
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const s = await status();
    const received = s.units[0].counters.messages ?? 0;
    assert.ok(received > s.outbox.pendingRecords, `received ${received}, stored ${s.outbox.pendingRecords}`);
    // every PUBACK the broker got is for a message whose record is in the outbox, and no more
    assert.equal(
      acks,
      s.outbox.pendingRecords,
      `acks ${acks}, durable ${s.outbox.pendingRecords}, received ${received}`,
    );
    pub.end(true);
  } finally {
    await d.stop('SIGKILL');
    await new Promise<void>((r) => aedes.close(() => r()));
    server.close();
  }
});

test('unreadable payloads are archived with the reason and acknowledged; the unit keeps running', async () => {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  let acks = 0;
  aedes.on('ack', (_p, client) => {
    if (client?.id === 'sigflow-test') acks++;
  });
  const dir = tempDir();
  const d = Daemon.start(config(dir, url), {});
  try {
    await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to sensors/#')), 30_000);
    const pub = mqtt.connect(url, { clientId: 'pub-bad' });
    await new Promise<void>((r) => pub.once('connect', () => r()));
    const bad: [string, Buffer | string][] = [
      ['malformed JSON', '{"t": 1, "seq":'],
      ['not valid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
      ['over max_payload_bytes', Buffer.alloc(100_000, 0x20)],
      ['expected a JSON object', '[1, 2, 3]'],
      ['no fields', '{"t": 1735689600000}'],
    ];
    for (const [, payload] of bad) await pub.publishAsync('sensors/devX', payload, { qos: 1 });
    await pub.publishAsync('sensors/dev1', JSON.stringify({ t: 1_735_689_600_000, seq: 1, temp: 20 }), { qos: 1 });
    await d.until('all acknowledged', () => acks === bad.length + 1, 30_000);
    const archived = readFileSync(join(dir, 'data', 'rejected', 'env.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { topic: string; reason: string; payload: string });
    assert.equal(archived.length, bad.length);
    bad.forEach(([why], i) => {
      assert.ok(archived[i].reason.includes(why), `${archived[i].reason} (expected ${why})`);
      assert.equal(archived[i].topic, 'sensors/devX');
    });
    assert.equal(Buffer.from(archived[1].payload, 'base64').toString('hex'), '7bfffe7d');
    assert.equal(Buffer.from(archived[2].payload, 'base64').length, 4096, 'an oversized payload keeps its first 4 KiB');
    const st = (await (await fetch(`${d.http}/status`)).json()) as { units: { state: string; restarts: number }[] };
    assert.equal(st.units[0].state, 'running');
    assert.equal(st.units[0].restarts, 0);
    pub.end(true);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0);
    assert.deepEqual(storedSeqs(dir), [1]);
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await new Promise<void>((r) => aedes.close(() => r()));
    server.close();
  }
});

test('the embedded broker (broker: section): a box with no broker of its own', async () => {
  const port = await freePort();
  const dir = tempDir();
  const url = `mqtt://127.0.0.1:${port}`;
  // the broker runs inside sigflow; its mqtt pipeline subscribes to it like any other
  const file = config(dir, url);
  writeFileSync(file, `${readFileSync(file, 'utf8')}broker: { listen: "127.0.0.1:${port}" }\n`);
  const d = Daemon.start(file, {});
  try {
    await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to sensors/#')), 30_000);
    assert.ok(d.lines.some((l) => l.includes(`embedded MQTT broker on mqtt://127.0.0.1:${port}`)));
    await publish(url, 2000, Date.UTC(2025, 0, 2));
    await d.until('all stored', () => storedSeqs(dir).length === 2000, 30_000);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }
  assert.equal(new Set(storedSeqs(dir)).size, 2000);
});
