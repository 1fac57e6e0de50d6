/**
 * Uplink faults end to end, counting messages: a field broker (mosquitto) → `sigflow run` (MQTT source, QoS 1,
 * acknowledged once durable) → outbox → thingsboard sink → a TCP proxy of the test's → a ThingsBoard-side
 * mosquitto, where a subscriber in a worker thread stamps every PUBLISH. While messages keep coming: the broker
 * is down for 60 s; sigflow is SIGKILLed during the backlog flush that follows; the link goes half-open for 15 s;
 * PUBACKs are dropped for 30 s. Every message arrives at least once with its original timestamp, and the flush
 * never exceeds the configured rate.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import { Daemon } from '../harness/daemon.js';
import { startMosquitto } from '../harness/services.js';
import { maxInWindow, startOwnMosquitto, TcpProxy, TimedSubscriber } from '../sinks/uplink-helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const RATE = 10; // PUBLISH packets per second towards "ThingsBoard"
const T0 = Date.UTC(2025, 5, 1);

test('broker down 60 s, SIGKILL during the flush, half-open 15 s, PUBACKs lost 30 s: all arrive, paced', async (t) => {
  const field = await startMosquitto();
  const tb = await startOwnMosquitto();
  if (!field || !tb) {
    await field?.dispose();
    await tb?.dispose();
    return t.skip('mosquitto is not installed');
  }
  const proxy = new TcpProxy(tb.port);
  await proxy.start();
  const sub = await TimedSubscriber.start(tb.url, ['v1/devices/me/telemetry']);
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-uplink-faults-'));
  dirs.push(dir);
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      outbox: { data_dir: join(dir, 'data') },
      pipelines: [
        {
          name: 'field',
          source: {
            type: 'mqtt',
            url: field.url,
            client_id: 'sigflow-field',
            topics: [{ topic: 'field/#', qos: 1 }],
            payload: { format: 'json', measurement: 'reading', time: 't', time_unit: 'ms' },
          },
        },
      ],
      sinks: [
        {
          type: 'thingsboard',
          url: proxy.url,
          access_token: 'device-token',
          publish_timeout: '3s',
          connect_timeout: '3s',
          max_payload_bytes: '2KiB',
          rate_limits: [{ messages: RATE, per: '1s' }],
          max_rate_wait: '5s',
          delivery: {
            flush_interval: '100ms',
            batch_size: 400,
            write_timeout: '20s',
            backoff_initial: '500ms',
            backoff_max: '2s',
          },
        },
      ],
      server: { listen: '127.0.0.1:0' },
      logging: { stats_interval: 0 },
      runtime: { drain_timeout: '5s' },
    }),
  );

  const arrived = () => {
    const got = new Map<number, number>();
    for (const a of sub.arrivals)
      for (const e of JSON.parse(a.payload) as { ts: number; values: { seq?: number } }[])
        if (typeof e.values.seq === 'number') got.set(e.values.seq, e.ts);
    return got;
  };
  const events: string[] = [];
  /** Waits for the arrivals; on a timeout, says where the test was and what sigflow logged. */
  const until = async (what: string, pred: () => boolean, ms: number) => {
    try {
      await sub.until(pred, ms);
    } catch {
      const got = arrived();
      const missing: string[] = [];
      for (let k = 0; k < seq && missing.length < 10; k++) if (!got.has(k)) missing.push(String(k));
      const status = d.http ? await (await fetch(`${d.http}/status`)).text().catch(() => '') : '';
      throw new Error(
        `timed out waiting for ${what}: ${got.size} of ${seq} arrived (missing ${missing.join(', ')}…); ${events.join('; ')}\nstatus: ${status.slice(0, 3000)}\n${d.tail()}`,
      );
    }
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // the field: a message every 20 ms, {t, seq}, QoS 1 with its own persistent session
  const pub = mqtt.connect(field.url, { clientId: 'field-device', clean: false, reconnectPeriod: 200 });
  await new Promise<void>((r) => pub.once('connect', () => r()));
  let seq = 0;
  let publishing = true;
  const sent: Promise<unknown>[] = [];
  const produce = async () => {
    while (publishing) {
      const k = seq++;
      sent.push(pub.publishAsync(`field/dev${k % 4}`, JSON.stringify({ t: T0 + k * 20, seq: k }), { qos: 1 }));
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  let producer: Promise<void> = Promise.resolve();
  let d = Daemon.start(file, {});
  try {
    await d.until('the field subscription', () => d.lines.some((l) => l.includes('subscribed to field/#')), 30_000);
    // (from now on the broker keeps sigflow's messages in its session, whatever happens to sigflow)
    producer = produce();
    await until('the first telemetry', () => sub.arrivals.length > 3, 30_000);
    proxy.down();
    events.push(`broker down at seq ${seq}`);
    await sleep(60_000);
    proxy.heal();
    const backlog = seq;
    await until('30 % of the backlog', () => arrived().size > backlog * 0.3, 60_000);
    await d.stop('SIGKILL');
    events.push(`SIGKILL during the flush at ${arrived().size} of ${backlog}`);
    d = Daemon.start(file, {});
    await d.until('the restart', () => d.http !== null, 30_000);
    await until('the backlog', () => arrived().size >= backlog, 120_000);
    proxy.halfOpen();
    events.push(`half-open at seq ${seq}`);
    await sleep(15_000);
    proxy.heal();
    await sleep(3_000);
    proxy.blackhole();
    events.push(`PUBACKs dropped at seq ${seq}`);
    await sleep(30_000);
    proxy.heal();
    publishing = false;
    await producer;
    await Promise.all(sent);
    const total = seq;
    await until('every message', () => arrived().size >= total, 120_000);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
    const got = arrived();
    for (let k = 0; k < total; k++) {
      assert.ok(got.has(k), `seq ${k} of ${total} never arrived (${events.join('; ')})`);
      assert.equal(got.get(k), T0 + k * 20, `seq ${k} arrived with its original timestamp`);
    }
    // the rate at the ThingsBoard side: at most RATE PUBLISH packets in any second (30 ms for stamping jitter)
    const times = sub.arrivals.map((a) => a.at).sort((a, b) => a - b);
    const peak = maxInWindow(times, 1000 - 30);
    t.diagnostic(
      `${total} messages, ${sub.arrivals.length} PUBLISH packets at ThingsBoard, peak ${peak} per second (limit ${RATE}); ${events.join('; ')}`,
    );
    assert.ok(peak <= RATE, `peak ${peak} PUBLISH packets in a second, limit ${RATE}`);
  } finally {
    publishing = false;
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await pub.endAsync().catch(() => {});
    await sub.close();
    await proxy.close();
    await field.dispose();
    await tb.dispose();
  }
});
