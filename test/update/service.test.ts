/**
 * Updates of a running `sigflow run` end to end, with a fake service manager (a loop that runs
 * `node <root>/current/bin/sigflow run -c cfg` and starts it again whenever it exits, as systemd's Restart=always):
 * versions made by `npm pack`, staged over HTTP, self-tested, switched to, decided by the `sigflow update-guard` of
 * the old version. A good update ends `done` with the queue (outbox.data_dir, outside the root) untouched and
 * old versions pruned; a version that starts but never answers healthy is rolled back within the deadline and the
 * old version runs again.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import {
  applyUpdate,
  currentVersion,
  guardUpdate,
  pendingReport,
  previousVersion,
  readUpdateState,
  selftest,
  stageUpdate,
  switchVersion,
  waitForOutcome,
} from '../../src/update/index.js';
import { repoRoot } from '../harness/paths.js';
import { freePort } from '../harness/services.js';
import { type FileServer, hangingMain, makeRelease, type Release, serveDir } from './_release.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-update-service-'));
const root = join(work, 'root');
const data = join(work, 'data'); // the spool: outside the root
let server: FileServer;
const releases = new Map<string, Release>();
let cfg: string;
let httpBase: string;
let brokerUrl: string;

/** The service manager: runs `<root>/current/bin/sigflow run -c cfg`, again and again. */
class ServiceManager {
  proc: ChildProcess | null = null;
  readonly log: string[] = [];
  starts = 0;
  private stopped = false;
  private exited: Promise<void> = Promise.resolve();
  private loop: Promise<void> = Promise.resolve();

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const p = spawn(process.execPath, [join(root, 'current', 'bin', 'sigflow'), 'run', '-c', cfg], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        this.proc = p;
        this.starts++;
        p.stderr?.on('data', (b: Buffer) => {
          this.log.push(...b.toString('utf8').trimEnd().split('\n'));
          if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
        });
        this.exited = new Promise((r) => p.once('exit', () => r()));
        await this.exited;
        if (!this.stopped) await sleep(200); // RestartSec
      }
    })();
  }

  /** The running version exits (as the old version does after the switch); the loop starts `current`. */
  async exitRunning(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.proc?.kill('SIGKILL');
    await this.loop;
  }

  tail(): string {
    return this.log.slice(-15).join('\n');
  }
}

const svc = new ServiceManager();

async function getJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(`${httpBase}${path}`, { signal: AbortSignal.timeout(2000) });
    return r.ok ? ((await r.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n${svc.tail()}`);
    await sleep(100);
  }
}

/** The version answering on /status once its unit's source is connected. */
async function runningVersion(version: string): Promise<Record<string, unknown>> {
  return until(`version ${version} running`, async () => {
    const s = await getJson('/status');
    const units = (s?.units ?? []) as { connected: boolean }[];
    // (an empty list is no answer: the units are not up yet)
    return s?.version === version && units.length > 0 && units.every((u) => u.connected) ? s : null;
  });
}

function sink(status: Record<string, unknown>, name: string) {
  return (
    (status.outbox as { sinks: { name: string; deliveredRecords: number; pendingRecords: number }[] }).sinks ?? []
  ).find((s) => s.name === name);
}

async function publish(n: number, from: number): Promise<void> {
  const c = await mqtt.connectAsync(brokerUrl, { clientId: `pub-${process.pid}-${from}` });
  for (let i = 0; i < n; i++)
    await c.publishAsync('sensors/a', JSON.stringify({ t: Date.UTC(2025, 0, 1) + from + i, seq: from + i }), {
      qos: 1,
    });
  await c.endAsync();
}

async function stage(version: string) {
  const r = releases.get(version) as Release;
  return stageUpdate({
    root,
    version,
    url: `${server.url}/${r.name}`,
    sha256: r.sha256,
    currentDir: repoRoot,
    spool: [data],
  });
}

/** `sigflow update-guard` of `oldVersion` (as the old version spawns it before exiting). */
function spawnGuard(oldVersion: string, to: string, deadline: string) {
  const p = spawn(
    process.execPath,
    [
      join(root, 'versions', oldVersion, 'bin', 'sigflow'),
      'update-guard',
      '--root',
      root,
      '--health',
      `${httpBase}/healthz`,
      '--to',
      to,
      '--deadline',
      deadline,
      '--poll',
      '200ms',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  p.stdout?.on('data', (b: Buffer) => (out += b));
  p.stderr?.on('data', (b: Buffer) => (out += b));
  return new Promise<{ code: number | null; out: string }>((r) => p.on('exit', (code) => r({ code, out })));
}

function dataFiles(): string[] {
  return readdirSync(data).sort();
}

before(async () => {
  const made = await Promise.all([
    makeRelease(work, '0.3.0'),
    makeRelease(work, '0.3.1'),
    makeRelease(work, '0.3.2'),
    makeRelease(work, '0.3.3-hangs', { mainJs: hangingMain('0.3.3-hangs') }),
  ]);
  for (const r of made) releases.set(r.version, r);
  server = await serveDir(join(work, 'releases'));
  const [broker, http] = [await freePort(), await freePort()];
  brokerUrl = `mqtt://127.0.0.1:${broker}`;
  httpBase = `http://127.0.0.1:${http}`;
  mkdirSync(data, { recursive: true });
  cfg = join(work, 'sigflow.yaml');
  writeFileSync(
    cfg,
    `outbox: { data_dir: ${data} }
sinks:
  - { type: store, path: ${data}/store.db }
  # never reachable: what it is sent stays queued — the queue an update must not lose
  - { type: influx, name: away, url: "http://127.0.0.1:1", database: t, create_database: false, timeout: 1s }
pipelines:
  - name: env
    source:
      type: mqtt
      url: ${brokerUrl}
      client_id: sigflow-update-test
      topics: [{ topic: "sensors/#", qos: 1 }]
      payload: { format: json, measurement: env, time: t, time_unit: ms }
broker: { listen: "127.0.0.1:${broker}" }
server: { listen: "127.0.0.1:${http}" }
logging: { stats_interval: 0, format: json }
runtime: { drain_timeout: 1s }
`,
  );
});

after(async () => {
  await svc.stop();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

test('install, a good update, a hanging one rolled back, another good one: the queue survives, old versions pruned', async () => {
  // first install: staged, switched to (no previous), decided by a guard in this process
  await stage('0.3.0');
  switchVersion(root, '0.3.0');
  svc.start();
  const first = await guardUpdate({
    root,
    healthUrl: `${httpBase}/healthz`,
    expectVersion: '0.3.0',
    deadlineMs: 20_000,
    pollMs: 100,
  });
  assert.equal(first.status, 'done', svc.tail());
  await runningVersion('0.3.0');
  await publish(20, 0);
  let seen = '';
  const s0 = await until('20 records stored', async () => {
    const s = await getJson('/status');
    if (s)
      seen = `store delivered ${sink(s, 'store')?.deliveredRecords}, away pending ${sink(s, 'away')?.pendingRecords}`;
    return s && (sink(s, 'store')?.deliveredRecords ?? 0) >= 20 && (sink(s, 'away')?.pendingRecords ?? 0) >= 20 && s;
  }).catch((e: Error) => assert.fail(`${e.message}\nlast status: ${seen}`));
  writeFileSync(join(data, 'sentinel'), 'kept');
  const filesBefore = dataFiles();

  // a good update: staged, self-tested, switched; the old version starts the guard and exits
  await stage('0.3.1');
  const st = await selftest(join(root, 'versions', '0.3.1'), cfg);
  assert.ok(st.ok, st.reason);
  switchVersion(root, '0.3.1', { deadlineMs: 30_000 });
  const guard1 = spawnGuard('0.3.0', '0.3.1', '30s');
  await svc.exitRunning();
  const g1 = await guard1;
  assert.equal(g1.code, 0, g1.out);
  assert.match(g1.out, /^done$/m);
  const s1 = await runningVersion('0.3.1');
  assert.deepEqual(
    [readUpdateState(root)?.status, currentVersion(root), previousVersion(root)],
    ['done', '0.3.1', '0.3.0'],
  );
  // the new version reports the outcome itself once the guard decided (an `update` record, the state marked)
  await until('the update reported by 0.3.1', async () => {
    const u = readUpdateState(root);
    return u?.status === 'done' && u.reportedBy === '0.3.1';
  });
  assert.equal(pendingReport(root, '0.3.1'), null);
  // the queue: same files, the delivered count and the records still waiting for the unreachable sink kept
  assert.deepEqual(dataFiles(), filesBefore);
  assert.equal(readFileSync(join(data, 'sentinel'), 'utf8'), 'kept');
  assert.ok((sink(s1, 'store')?.deliveredRecords ?? 0) >= (sink(s0, 'store')?.deliveredRecords ?? 0));
  assert.ok((sink(s1, 'away')?.pendingRecords ?? 0) >= 20, JSON.stringify(sink(s1, 'away')));

  // a version that starts but never answers: rolled back at the deadline, its process stopped, the old one back
  await stage('0.3.3-hangs');
  // (8 s: the restart loop must have started the new version's process by then, also on a loaded CI machine)
  switchVersion(root, '0.3.3-hangs', { deadlineMs: 8000 });
  const t0 = Date.now();
  const guard2 = spawnGuard('0.3.1', '0.3.3-hangs', '8s');
  await svc.exitRunning();
  const g2 = await guard2;
  assert.equal(g2.code, 1, g2.out);
  assert.match(g2.out, /rolled back to 0\.3\.1/);
  assert.match(g2.out, /stopped pid \d+ \(0\.3\.3-hangs\) with SIGTERM/);
  assert.ok(Date.now() - t0 < 8000 + 12_000, 'decided at the deadline');
  await runningVersion('0.3.1');
  assert.ok(
    svc.log.some((l) => l.includes('hanging version 0.3.3-hangs started')),
    'the hanging version did run',
  );
  const rb = readUpdateState(root);
  assert.deepEqual([rb?.status, rb?.from, rb?.to], ['rolled_back', '0.3.1', '0.3.3-hangs']);
  assert.match(rb?.reason ?? '', /did not answer healthy/);
  await until('the rollback reported by the version running again', async () => {
    const u = readUpdateState(root);
    return u?.status === 'rolled_back' && u.reportedBy === '0.3.1';
  });
  assert.equal(currentVersion(root), '0.3.1');

  // another good update, the way the running version makes it (applyUpdate: stage, self-test, switch, a detached
  // guard from the running version's package), then its exit: done, and the prune keeps current and previous only
  delete process.env.INVOCATION_ID; // a detached guard here, not a systemd-run unit
  const rel = releases.get('0.3.2') as Release;
  const applied = await applyUpdate({
    root,
    version: '0.3.2',
    url: `${server.url}/${rel.name}`,
    sha256: rel.sha256,
    currentDir: join(root, 'versions', '0.3.1'),
    spool: [data],
    configPath: cfg,
    healthUrl: `${httpBase}/healthz`,
    deadlineMs: 30_000,
  });
  assert.deepEqual(
    [applied.staged.deps, applied.guard.via, applied.state.status],
    ['hardlinked', 'detached', 'switching'],
  );
  await svc.exitRunning();
  const guardLog = () => readFileSync(join(root, 'state', 'guard.log'), 'utf8');
  const outcome = await waitForOutcome(root, { pollMs: 100, signal: AbortSignal.timeout(35_000) });
  assert.equal(outcome?.status, 'done', guardLog());
  await runningVersion('0.3.2');
  await until('the prune', async () => readdirSync(join(root, 'versions')).length === 2);
  assert.deepEqual(readdirSync(join(root, 'versions')).sort(), ['0.3.1', '0.3.2']);
  await until('the guard to end', async () => /^done$/m.test(guardLog()));
  assert.match(guardLog(), /removed (0\.3\.0, 0\.3\.3-hangs|0\.3\.3-hangs, 0\.3\.0)/);
  // the queue once more: nothing lost, and the new version stores what comes in
  await publish(5, 100);
  const s3 = await until('25 records stored', async () => {
    const s = await getJson('/status');
    return s && (sink(s, 'store')?.deliveredRecords ?? 0) >= 25 && s;
  });
  assert.ok((sink(s3, 'away')?.pendingRecords ?? 0) >= 25, JSON.stringify(sink(s3, 'away')));
  assert.equal(readFileSync(join(data, 'sentinel'), 'utf8'), 'kept');
  assert.ok(!existsSync(join(root, 'versions', '0.3.0')));
});
