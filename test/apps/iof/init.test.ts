/**
 * `sigflow iof init` from the example workbook, unattended: the project, a run configuration that validates (with
 * the password from .env, mode 0600), safe to run again; a broken workbook or a missing broker said clearly.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import ExcelJS from 'exceljs';
import { loadAndValidateConfig } from '../../../src/config/index.js';
import { loadProject } from '../../../src/sinks/iof/index.js';
import { fixturesDir, repoRoot } from '../../harness/paths.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const workbook = join(fixturesDir, 'iof', 'metadata_example.xlsx');

function sigflow(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(repoRoot, 'bin', 'sigflow'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test('init from the example workbook, unattended: project + run config + .env; running it again is safe', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sigflow-iof-init-'));
  dirs.push(root);
  const dir = join(root, 'farm');
  const r = sigflow(
    [
      'iof',
      'init',
      dir,
      '--workbook',
      workbook,
      '--time-zone',
      'Europe/Oslo',
      '--broker',
      'mqtt://127.0.0.1:1883',
      '--username',
      'iof',
      '--no-ask',
    ],
    { IOF_MQTT_PASSWORD: 's3cret' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /project farm: 1 TBRs, 5 tags \(3 depth\), 3 cages \(positioning: cage_1_config_2, cage_2\)/);
  const project = await loadProject(join(dir, 'iof.yaml'));
  assert.equal(project.time_zone, 'Europe/Oslo');
  assert.deepEqual(project.mqtt_topics, [{ topic: 'lora/dev/ui/800', qos: 1 }]);
  assert.equal(statSync(join(dir, '.env')).mode & 0o777, 0o600);
  assert.doesNotMatch(readFileSync(join(dir, 'sigflow.yaml'), 'utf8'), /s3cret/);
  const { config } = loadAndValidateConfig(join(dir, 'sigflow.yaml'));
  const source = config.pipelines[0].source as { password?: string; clean: boolean; payload: { format: string } };
  assert.equal(source.password, 's3cret', 'the password comes from .env');
  assert.equal(source.clean, false, 'a persistent session');
  assert.equal(source.payload.format, 'packets');
  assert.deepEqual(
    config.sinks.map((s) => s.type),
    ['iof', 'store'],
  );

  // again, without broker settings: the project is rewritten, the configuration kept as it is
  const before = readFileSync(join(dir, 'sigflow.yaml'), 'utf8');
  const again = sigflow(['iof', 'init', dir, '--workbook', workbook, '--no-ask']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /kept .*sigflow\.yaml/);
  assert.equal(readFileSync(join(dir, 'sigflow.yaml'), 'utf8'), before);
});

test('a broken workbook names sheet and cell; no broker for a new folder says how to give one', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sigflow-iof-init-'));
  dirs.push(root);
  const broken = join(root, 'broken.xlsx');
  copyFileSync(workbook, broken);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(broken);
  const tags = wb.getWorksheet('tags');
  assert.ok(tags);
  tags.getCell('B3').value = 'sixty-nine';
  await wb.xlsx.writeFile(broken);
  const r = sigflow([
    'iof',
    'init',
    join(root, 'x'),
    '--workbook',
    broken,
    '--broker',
    'mqtt://127.0.0.1:1883',
    '--no-ask',
  ]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /tags!B3 \(frequency\)/);

  const none = sigflow(['iof', 'init', join(root, 'y'), '--workbook', workbook, '--no-ask']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /give the broker \(--broker mqtt:\/\/host:1883/);
  assert.equal(existsSync(join(root, 'y', 'iof.yaml')), false, 'nothing written before the refusal');
  const bad = sigflow(['iof', 'init', join(root, 'z'), '--workbook', workbook, '--broker', 'http://x', '--no-ask']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--broker http:\/\/x: expected mqtt:\/\/host:port/);
});
