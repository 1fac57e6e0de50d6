/**
 * Updates asked for by a pushed config, end to end: sigflow installed in a versions layout and run by a restart
 * loop (as systemd's Restart=always), a ThingsBoard-style mosquitto carrying the pushes (shared attribute
 * `sigflow_config`) and the acknowledgements (telemetry). The spool starts with 10,000 messages queued for the
 * uplink, flushed at 5 PUBLISH packets (of 100 records) per second. A push naming a good version, made while
 * most of them are still queued, makes sigflow stage it, self-test it with the pushed config, switch, stop, and
 * come back as the new version with that config — which flushes the rest of the queue (every one of the 10,000
 * arrives, with its own timestamp, never above the rate) and then acknowledges the push accepted. A push naming a
 * version whose self-test fails is acknowledged rejected and the running version stays.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { Outbox } from '../../src/outbox/index.js';
import { createSink } from '../../src/sinks/index.js';
import { guardUpdate, stageUpdate, switchVersion } from '../../src/update/index.js';
import { repoRoot } from '../harness/paths.js';
import { freePort, startMosquitto } from '../harness/services.js';
import { maxInWindow } from '../sinks/uplink-helpers.js';
import { makeRelease, serveDir, throwingMain } from './_release.js';

/** Messages queued for the uplink before the agent starts; their times: T0 + seq ms. */
const QUEUED = 10_000;
const T0 = Date.UTC(2026, 0, 1);
const RATE = 5; // PUBLISH packets per second towards "ThingsBoard", 100 records each

const work = mkdtempSync(join(tmpdir(), 'sigflow-update-push-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a pushed update with 10,000 messages queued: every one arrives, paced; a failing version is refused', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const [good0, good1, broken] = await Promise.all([
    makeRelease(work, '0.4.0'),
    makeRelease(work, '0.4.1'),
    makeRelease(work, '0.4.2-broken', { mainJs: throwingMain }),
  ]);
  const files = await serveDir(join(work, 'releases'));
  const root = join(work, 'root');
  const data = join(work, 'data');
  mkdirSync(data, { recursive: true });
  await stageUpdate({
    root,
    version: '0.4.0',
    url: `${files.url}/${good0.name}`,
    sha256: good0.sha256,
    currentDir: repoRoot,
    spool: [data],
  });
  switchVersion(root, '0.4.0');
  const http = await freePort();
  // the first install decided as an install script would: a guard that waits for it to answer healthy
  const firstGuard = guardUpdate({
    root,
    healthUrl: `http://127.0.0.1:${http}/healthz`,
    expectVersion: '0.4.0',
    deadlineMs: 60_000,
    pollMs: 200,
  });
  const cfgFile = join(work, 'agent.yaml');
  const config = (extra: Record<string, unknown> = {}) => ({
    outbox: { data_dir: data },
    pipelines: [{ name: 'system', source: { type: 'system-checks', every: '1s', paths: ['/'] } }],
    sinks: [
      {
        type: 'thingsboard',
        url: broker.url,
        access_token: 'device',
        rate_limits: [{ messages: RATE, per: '1s' }],
        delivery: { flush_interval: '200ms', batch_size: 100 },
      },
    ],
    remote_config: {},
    server: { listen: `127.0.0.1:${http}` },
    logging: { stats_interval: 0, format: 'json' },
    runtime: { drain_timeout: '2s' },
    ...extra,
  });
  writeFileSync(cfgFile, JSON.stringify(config({ updates: { url: `${files.url}/sigflow-{version}.tgz` } })));
  // the spool: QUEUED messages for the uplink, there before the agent starts
  const spool = Outbox.open({
    dataDir: data,
    sinks: [{ sink: createSink({ type: 'thingsboard', url: broker.url, access_token: 'device' }) }],
    logger: pino({ level: 'silent' }),
  });
  for (let i = 0; i < QUEUED; i += 1000)
    await spool.enqueue(
      Array.from({ length: 1000 }, (_, k) => ({
        time: BigInt(T0 + i + k) * 1_000_000n,
        measurement: 'queued',
        tags: {},
        fields: { seq: BigInt(i + k) },
      })),
    );
  await spool.close();

  // the service manager
  const log: string[] = [];
  let proc: ChildProcess | null = null;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const p = spawn(process.execPath, [join(root, 'current', 'bin', 'sigflow'), 'run', '-c', cfgFile], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      proc = p;
      p.stderr?.on('data', (b: Buffer) => log.push(...b.toString('utf8').trimEnd().split('\n')));
      await new Promise((r) => p.once('exit', r));
      if (!stopped) await sleep(300);
    }
  })();
  const server = mqtt.connect(broker.url, { clientId: 'tb-server', reconnectPeriod: 200 });
  await new Promise<void>((r) => server.once('connect', () => r()));
  await server.subscribeAsync('v1/devices/me/telemetry', { qos: 1 });
  const acks: Record<string, unknown>[] = [];
  /** Each queued message that arrived: its seq → its ts (ms). */
  const queued = new Map<number, number>();
  /** When each telemetry PUBLISH arrived (ms), for the rate. */
  const publishes: number[] = [];
  server.on('message', (_topic, payload) => {
    publishes.push(performance.now());
    for (const e of JSON.parse(payload.toString()) as { ts: number; values: Record<string, unknown> }[]) {
      if ('revision' in e.values) acks.push(e.values);
      if (typeof e.values.seq === 'number') {
        const seq = e.values.seq;
        assert.equal(e.ts, T0 + seq, `message ${seq} keeps its own timestamp`);
        queued.set(seq, e.ts);
      }
    }
  });
  const status = async () => {
    try {
      return (await (await fetch(`http://127.0.0.1:${http}/status`)).json()) as { version: string };
    } catch {
      return null;
    }
  };
  const until = async (what: string, pred: () => boolean | Promise<boolean>, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!(await pred())) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n${log.slice(-20).join('\n')}`);
      await sleep(200);
    }
  };
  const push = (revision: number, version: string, sha256: string) =>
    server.publishAsync(
      'v1/devices/me/attributes',
      JSON.stringify({
        sigflow_config: {
          revision,
          config: config({ updates: { url: `${files.url}/sigflow-{version}.tgz`, version, sha256 } }),
        },
      }),
      { qos: 1 },
    );
  try {
    await until('0.4.0 running', async () => (await status())?.version === '0.4.0');
    assert.equal((await firstGuard).status, 'done');
    await until('the queue flowing (the sink connected and subscribed)', () => queued.size > 0);

    await push(1, '0.4.1', good1.sha256);
    await until('0.4.1 running', async () => (await status())?.version === '0.4.1', 90_000);
    const before = queued.size;
    t.diagnostic(`0.4.1 took over with ${QUEUED - before} of the ${QUEUED} queued messages still to send`);
    assert.ok(QUEUED - before >= 5000, `the update applied with ${QUEUED - before} messages queued`);
    await until(`all ${QUEUED} queued messages`, () => queued.size === QUEUED, 120_000);
    await until('revision 1 acknowledged', () => acks.some((a) => a.revision === 1), 60_000);
    const accepted = acks.find((a) => a.revision === 1) as Record<string, unknown>;
    assert.equal(accepted.success, true, JSON.stringify(accepted));
    assert.match(String(accepted.detail), /running sigflow 0\.4\.1/);
    // the new version runs the pushed config (adopted from .next), the old one is kept for a rollback
    assert.match(readFileSync(cfgFile, 'utf8'), /^# revision 1 \(sigflow 0\.4\.1\)/);
    assert.ok(
      log.some((l) => l.includes('adopted as')),
      log.slice(-20).join('\n'),
    );
    // the flush, across the update, at most RATE PUBLISH packets in any second (30 ms for stamping jitter)
    const peak = maxInWindow(publishes, 1000 - 30);
    t.diagnostic(`${publishes.length} PUBLISH packets, peak ${peak} in a second (limit ${RATE})`);
    assert.ok(peak <= RATE, `peak ${peak} PUBLISH packets in a second, limit ${RATE}`);

    await push(2, '0.4.2-broken', broken.sha256);
    await until('revision 2 acknowledged', () => acks.some((a) => a.revision === 2));
    const refused = acks.find((a) => a.revision === 2) as Record<string, unknown>;
    assert.equal(refused.success, false);
    assert.match(String(refused.detail), /update to 0\.4\.2-broken refused: .*self-test/);
    assert.equal((await status())?.version, '0.4.1', 'the running version stays');
  } finally {
    stopped = true;
    (proc as ChildProcess | null)?.kill('SIGKILL');
    await loop;
    await server.endAsync();
    await files.close();
    await broker.dispose();
  }
});
