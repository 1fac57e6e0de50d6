/**
 * Updates asked for by a pushed config, end to end: sigflow installed in a versions layout and run by a restart
 * loop (as systemd's Restart=always), a ThingsBoard-style mosquitto carrying the pushes (shared attribute
 * `sigflow_config`) and the acknowledgements (telemetry). A push naming a version whose self-test fails is
 * acknowledged rejected and the running version stays; a push naming a good version makes sigflow stage it,
 * self-test it with the pushed config, switch, stop, and come back as the new version with that config — which
 * then acknowledges the push accepted.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { guardUpdate, stageUpdate, switchVersion } from '../../src/update/index.js';
import { repoRoot } from '../harness/paths.js';
import { freePort, startMosquitto } from '../harness/services.js';
import { makeRelease, serveDir, throwingMain } from './_release.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-update-push-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a pushed update: a version failing its self-test is refused; a good one is installed and acknowledged', async (t) => {
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
    sinks: [{ type: 'thingsboard', url: broker.url, access_token: 'device', delivery: { flush_interval: '200ms' } }],
    remote_config: {},
    server: { listen: `127.0.0.1:${http}` },
    logging: { stats_interval: 0, format: 'json' },
    runtime: { drain_timeout: '2s' },
    ...extra,
  });
  writeFileSync(cfgFile, JSON.stringify(config({ updates: { url: `${files.url}/sigflow-{version}.tgz` } })));

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
  server.on('message', (_topic, payload) => {
    for (const e of JSON.parse(payload.toString()) as { values: Record<string, unknown> }[])
      if ('revision' in e.values) acks.push(e.values);
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
    await until('telemetry flowing (the sink subscribed)', () => log.some((l) => l.includes('reporting system')));
    await sleep(1500);

    await push(1, '0.4.2-broken', broken.sha256);
    await until('revision 1 acknowledged', () => acks.some((a) => a.revision === 1));
    const refused = acks.find((a) => a.revision === 1) as Record<string, unknown>;
    assert.equal(refused.success, false);
    assert.match(String(refused.detail), /update to 0\.4\.2-broken refused: .*self-test/);
    assert.equal((await status())?.version, '0.4.0', 'the running version stays');

    await push(2, '0.4.1', good1.sha256);
    await until('0.4.1 running', async () => (await status())?.version === '0.4.1', 90_000);
    await until('revision 2 acknowledged', () => acks.some((a) => a.revision === 2), 60_000);
    const accepted = acks.find((a) => a.revision === 2) as Record<string, unknown>;
    assert.equal(accepted.success, true, JSON.stringify(accepted));
    assert.match(String(accepted.detail), /running sigflow 0\.4\.1/);
    // the new version runs the pushed config (adopted from .next), the old one is kept for a rollback
    assert.match(readFileSync(cfgFile, 'utf8'), /^# revision 2 \(sigflow 0\.4\.1\)/);
    assert.ok(
      log.some((l) => l.includes('adopted as')),
      log.slice(-20).join('\n'),
    );
  } finally {
    stopped = true;
    (proc as ChildProcess | null)?.kill('SIGKILL');
    await loop;
    await server.endAsync();
    await files.close();
    await broker.dispose();
  }
});
