/**
 * `sigflow status` against a running `sigflow run` (embedded broker, an MQTT unit, remote config on): version,
 * units, the outbox per sink, the config revision; and a clear exit 1 once it is gone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon } from '../harness/daemon.js';
import { repoRoot } from '../harness/paths.js';
import { freePort } from '../harness/services.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sigflow(args: string[]) {
  return spawnSync(process.execPath, [join(repoRoot, 'bin', 'sigflow'), ...args], { encoding: 'utf8' });
}

test('sigflow status reads a running sigflow run; exit 1 with the reason when none answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-status-'));
  dirs.push(dir);
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    `outbox: { data_dir: ${dir}/data }
sinks: [{ type: store, path: ${dir}/store.db }]
broker: { listen: "127.0.0.1:${mqttPort}" }
pipelines:
  - name: sensors
    source: { type: mqtt, url: "mqtt://127.0.0.1:${mqttPort}", topics: ["s/#"] }
remote_config: {}
server: { listen: "127.0.0.1:${httpPort}" }
logging: { stats_interval: 0 }
`,
  );
  const d = Daemon.start(file, {});
  try {
    await d.until('the unit connected', () => d.lines.some((l) => l.includes('subscribed to s/#')), 30_000);
    const r = sigflow(['status', '-c', file]);
    assert.equal(r.status, 0, r.stderr);
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    assert.match(
      r.stdout,
      new RegExp(`^sigflow ${version.replace(/\./g, '\\.')}, up \\d+m?s, config revision none pushed yet`),
    );
    assert.match(r.stdout, /sensors\s+mqtt\s+process\s+running\s+connected, 0 restart\(s\)/);
    assert.match(r.stdout, /store\s+pending 0/);
    const j = JSON.parse(sigflow(['status', '--url', `http://127.0.0.1:${httpPort}`, '--json']).stdout);
    assert.equal(j.units[0].name, 'sensors');
    assert.deepEqual(j.remoteConfig, { revision: -1 });
  } finally {
    await d.stop('SIGTERM');
  }
  const gone = sigflow(['status', '-c', file]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /no answer .* is sigflow run running there\?/);
  // a config whose endpoint takes any free port: status cannot know it, and says to give --url
  writeFileSync(file, readFileSync(file, 'utf8').replace(`127.0.0.1:${httpPort}`, '127.0.0.1:0'));
  const any = sigflow(['status', '-c', file]);
  assert.equal(any.status, 2, any.stderr);
  assert.match(any.stderr, /server\.listen 127\.0\.0\.1:0 is a port chosen at start: give --url/);
});
