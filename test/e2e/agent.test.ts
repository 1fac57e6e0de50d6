/**
 * The edge agent end to end against mosquitto standing in for ThingsBoard, with a scripted server side: system
 * checks reach `v1/devices/me/telemetry` with their own timestamps; after a broker restart (the sink resubscribes)
 * a config pushed as the shared attribute is applied and acknowledged `accepted`; an invalid one is `rejected` with
 * the reason and the running config kept; no secret — from .env or pushed — appears in any published payload, log
 * line or archive file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import { Daemon } from '../harness/daemon.js';
import { startMosquitto } from '../harness/services.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TOKEN = 'tb-token-5e1f9a';
const PUSHED = 'pushed-key-77c2d0';

function agentConfig(dir: string, url: string, every: string, extraEnv = ''): Record<string, unknown> {
  return {
    outbox: { data_dir: join(dir, 'data') },
    pipelines: [
      { name: 'system', source: { type: 'system-checks', every, paths: ['/'] } },
      ...(extraEnv
        ? [
            {
              name: 'probe',
              source: { type: 'exec', command: ['/bin/true'], every: '1m', env: { API_KEY: extraEnv } },
            },
          ]
        : []),
    ],
    sinks: [
      { type: 'thingsboard', url, access_token: '${TB_TOKEN}', delivery: { flush_interval: '200ms' } },
      { type: 'archive', dir: join(dir, 'archive') },
    ],
    remote_config: {},
    server: { listen: '127.0.0.1:0' },
    logging: { stats_interval: 0 },
  };
}

test('telemetry, a config push after a reconnect, a rejected one, and no secret anywhere', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-agent-'));
  dirs.push(dir);
  const file = join(dir, 'agent.yaml');
  writeFileSync(join(dir, '.env'), `TB_TOKEN=${TOKEN}\n`);
  writeFileSync(file, JSON.stringify(agentConfig(dir, broker.url, '1s')));

  // the scripted server: every publish on the broker, and who connected with which username
  const published: { topic: string; payload: string; at: number }[] = [];
  const server = mqtt.connect(broker.url, { clientId: 'tb-server', reconnectPeriod: 200 });
  await new Promise<void>((r) => server.once('connect', () => r()));
  await server.subscribeAsync('#', { qos: 1 });
  server.on('message', (topic, payload) => published.push({ topic, payload: payload.toString(), at: Date.now() }));
  const telemetry = () =>
    published
      .filter((p) => p.topic === 'v1/devices/me/telemetry')
      .flatMap((p) => JSON.parse(p.payload) as { ts: number; values: Record<string, unknown> }[]);
  const acks = () => telemetry().filter((e) => 'revision' in e.values);

  const d = Daemon.start(file, {});
  try {
    await d.until(
      'system checks at ThingsBoard',
      () => telemetry().some((e) => 'load1' in e.values || Object.keys(e.values).some((k) => k.startsWith('load'))),
      30_000,
    );
    for (const e of telemetry()) assert.equal(e.ts % 1000, 0, 'timed at its wall-clock tick, not when sent');

    // the broker goes away and comes back: the sink reconnects and subscribes again
    await broker.stop();
    await broker.start();
    const before = published.length;
    await d.until(
      'telemetry again after the restart',
      () => published.slice(before).some((p) => p.topic === 'v1/devices/me/telemetry'),
      30_000,
    );

    const push = (revision: number, config: unknown) =>
      server.publishAsync('v1/devices/me/attributes', JSON.stringify({ sigflow_config: { revision, config } }), {
        qos: 1,
      });
    await push(5, agentConfig(dir, broker.url, '2s', PUSHED));
    await d.until('revision 5 acknowledged', () => acks().some((a) => a.values.revision === 5), 30_000);
    const ok = acks().find((a) => a.values.revision === 5);
    assert.equal(ok?.values.success, true, JSON.stringify(ok));
    assert.match(readFileSync(file, 'utf8'), /^# revision 5, pushed by thingsboard/);
    await d.until('the probe unit added', () => d.lines.some((l) => l.includes('pipeline probe: added')), 10_000);

    const bad = agentConfig(dir, broker.url, '2s', PUSHED) as { pipelines: { source: Record<string, unknown> }[] };
    bad.pipelines[0].source.every = 'often';
    await push(6, bad);
    await d.until('revision 6 acknowledged', () => acks().some((a) => a.values.revision === 6), 30_000);
    const no = acks().find((a) => a.values.revision === 6);
    assert.equal(no?.values.success, false);
    assert.match(String(no?.values.detail), /pipelines\[0\]\.source\.every/);
    assert.match(readFileSync(file, 'utf8'), /^# revision 5/, 'the running config is kept');

    const { code, signal } = (await d.stop('SIGTERM')) as { code: number | null; signal?: string };
    assert.equal(code, 0, `exit ${code} ${signal}\n${d.tail()}`);
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await server.endAsync();
    await broker.dispose();
  }
  // the secrets, looked for everywhere they could leak
  const archive = readdirSync(join(dir, 'archive'))
    .map((f) => readFileSync(join(dir, 'archive', f), 'utf8'))
    .join('');
  assert.ok(archive.includes('config_ack'), 'the acknowledgements are archived too');
  // (what sigflow published: everything but the server's own pushes on v1/devices/me/attributes)
  const fromAgent = published.filter((p) => p.topic !== 'v1/devices/me/attributes');
  assert.ok(fromAgent.length > 5);
  const everything = [fromAgent.map((p) => `${p.topic} ${p.payload}`).join('\n'), d.lines.join('\n'), archive];
  for (const secret of [TOKEN, PUSHED])
    for (const [i, text] of everything.entries())
      assert.ok(!text.includes(secret), `${secret} found in ${['payloads', 'logs', 'archive'][i]}`);
});

test('remote config: the uplink connects and asks for the config at start, with no record to send; without remote_config it asks nothing', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-agent-'));
  dirs.push(dir);
  const requests: string[] = [];
  const server = mqtt.connect(broker.url, { clientId: 'tb-server', reconnectPeriod: 200 });
  await new Promise<void>((r) => server.once('connect', () => r()));
  await server.subscribeAsync('v1/devices/me/attributes/request/+', { qos: 1 });
  server.on('message', (topic) => requests.push(topic));
  const config = (remote: boolean) => ({
    outbox: { data_dir: join(dir, remote ? 'data' : 'data2') },
    // a pipeline that writes nothing (its program is missing: it fails and is restarted with backoff)
    pipelines: [{ name: 'broken', source: { type: 'exec', command: [join(dir, 'missing')], every: '1h' } }],
    sinks: [{ type: 'thingsboard', url: broker.url, access_token: TOKEN }],
    ...(remote ? { remote_config: {} } : {}),
    server: { listen: '127.0.0.1:0' },
    logging: { stats_interval: 0 },
  });
  try {
    const quiet = join(dir, 'quiet.yaml');
    writeFileSync(quiet, JSON.stringify(config(false)));
    const q = Daemon.start(quiet, {});
    await new Promise((r) => setTimeout(r, 3000));
    await q.stop('SIGTERM');
    assert.equal(requests.length, 0, 'no attribute request without remote_config');
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, JSON.stringify(config(true)));
    const d = Daemon.start(file, {});
    try {
      await d.until('the attribute request at start', () => requests.length > 0, 20_000);
    } finally {
      await d.stop('SIGTERM');
    }
  } finally {
    await server.endAsync();
    await broker.dispose();
  }
});
