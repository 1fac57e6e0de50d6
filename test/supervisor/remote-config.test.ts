/**
 * Remote configuration as the supervisor applies it, on real files: a valid push replaces the config file
 * atomically (the previous kept) and is applied and acknowledged `accepted`; an invalid one is `rejected` with its
 * problems and the running file untouched; an old or equal revision is ignored, also after a restart (the
 * processed revision is persisted); no secret — pushed or from .env — appears in an acknowledgement or a log line.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import type { TelemetryRecord } from '../../src/records/index.js';
import { checkConfigFile } from '../../src/supervisor/index.js';
import { parsePush, RemoteConfig } from '../../src/supervisor/remote-config.js';
import { adoptPendingConfig, parsePushedUpdate } from '../../src/supervisor/service.js';
import { writeUpdateState } from '../../src/update/state.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ENV_SECRET = 'env-secret-b7c1';
const PUSHED_SECRET = 'pushed-secret-9f3e';

function config(dir: string, extra = ''): Record<string, unknown> {
  return {
    outbox: { data_dir: join(dir, 'data') },
    sinks: [{ type: 'store', path: join(dir, 'store.db') }],
    pipelines: [
      {
        name: 'sensors',
        source: {
          type: 'mqtt',
          url: 'mqtt://127.0.0.1:1883',
          username: 'site',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's interpolation, not a JS template
          password: extra || '${MQTT_PASSWORD}',
          topics: ['a/#'],
        },
      },
    ],
  };
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-remote-config-'));
  dirs.push(dir);
  const path = join(dir, 'sigflow.yaml');
  writeFileSync(join(dir, '.env'), `MQTT_PASSWORD=${ENV_SECRET}\n`);
  writeFileSync(path, JSON.stringify(config(dir)));
  const acks: TelemetryRecord[] = [];
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => logLines.push(l) });
  let applied = 0;
  const make = () =>
    new RemoteConfig({
      path,
      stateDir: join(dir, 'data', 'state'),
      ackMeasurement: 'config_ack',
      check: (file) => ({ secrets: checkConfigFile(file).loaded.secrets }),
      apply: async () => {
        applied++;
        const c = checkConfigFile(path).config;
        return [
          `pipeline sensors: changed (restarted) with password ${(c.pipelines[0].source as { password: string }).password}`,
        ];
      },
      enqueue: async (r) => {
        acks.push(...r);
      },
      logger,
    });
  return { dir, path, acks, logLines, make, applied: () => applied };
}

test('a valid push is written, applied and acknowledged; a bad one rejected; old revisions ignored, also after a restart', async () => {
  const s = setup();
  const rc = s.make();
  const before = readFileSync(s.path, 'utf8');
  const ok = await rc.push('thingsboard', { revision: 3, config: config(s.dir, PUSHED_SECRET) });
  assert.equal(ok?.status, 'accepted');
  assert.equal(s.applied(), 1);
  assert.equal(readFileSync(`${s.path}.previous`, 'utf8'), before);
  assert.match(readFileSync(s.path, 'utf8'), /^# revision 3, pushed by thingsboard/);
  assert.deepEqual(
    { ...s.acks[0].fields },
    {
      revision: 3,
      success: true,
      status: 'accepted',
      detail: 'pipeline sensors: changed (restarted) with password <redacted>',
    },
  );
  assert.equal(s.acks[0].measurement, 'config_ack');

  const bad = config(s.dir, PUSHED_SECRET);
  (bad.pipelines as Record<string, unknown>[])[0].source = {
    type: 'mqtt',
    url: 'http://nope',
    password: PUSHED_SECRET,
    topics: [],
  };
  const no = await rc.push('thingsboard', { revision: 4, config: bad });
  assert.equal(no?.status, 'rejected');
  assert.ok(
    no?.detail.some((l) => /pipelines\[0\]\.source\.url/.test(l)),
    no?.detail.join('\n'),
  );
  assert.equal(s.applied(), 1, 'the running config is kept');
  assert.match(readFileSync(s.path, 'utf8'), /^# revision 3/);
  assert.equal(s.acks[1].fields.success, false);

  assert.equal((await rc.push('tenta', { revision: 4, config: config(s.dir) }))?.status, 'ignored');
  assert.equal((await rc.push('tenta', { revision: 2, configuration: config(s.dir) }))?.status, 'ignored');
  // a restart remembers what was processed
  assert.equal(s.make().revision, 4);
  assert.equal((await s.make().push('tenta', { revision: 4, config: config(s.dir) }))?.status, 'ignored');
  assert.equal(
    s.acks.length,
    2,
    'ignored pushes are not acknowledged (Tenta re-sends its retained config at every connect)',
  );

  const everything = JSON.stringify(s.acks, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) + s.logLines.join('');
  assert.ok(!everything.includes(PUSHED_SECRET), 'the pushed secret never leaves');
  assert.ok(!everything.includes(ENV_SECRET), 'nor the one from .env');
  assert.ok(!existsSync(join(s.dir, '.sigflow.yaml.remote-3')), 'no temporary file left');
});

test('pushes that are not {revision, config} are said and ignored', () => {
  assert.equal(parsePush('x'), 'not an object');
  assert.equal(parsePush({ config: {} }), 'no "revision" (a whole number ≥ 0)');
  assert.equal(parsePush({ revision: 1.5, config: {} }), 'no "revision" (a whole number ≥ 0)');
  assert.equal(parsePush({ revision: 1, config: [] }), 'no "config" object');
  assert.deepEqual(parsePush({ revision: 1, configuration: { a: 1 } }), { revision: 1, config: { a: 1 } });
});

test('a config pushed with an update: adopted by that version, put back when that version is rolled back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-adopt-'));
  try {
    const root = join(dir, 'root');
    const path = join(dir, 'agent.yaml');
    writeFileSync(path, 'old: config\n');
    writeFileSync(`${path}.next`, 'new: config\n');
    const state = (status: 'switching' | 'rolled_back') =>
      writeUpdateState(root, { from: '0.4.0', to: '0.4.1', at: new Date().toISOString(), status, deadline: '' });
    state('switching');
    // the old version starting again before the switch took: not its config
    assert.match(adoptPendingConfig(path, '0.4.1', root) ?? '', /adopted as/);
    assert.equal(readFileSync(path, 'utf8'), 'new: config\n');
    assert.equal(readFileSync(`${path}.previous`, 'utf8'), 'old: config\n');
    assert.equal(adoptPendingConfig(path, '0.4.1', root), null, 'once');
    // a push accepted by 0.4.1 during its health window replaced .previous: the config from before is kept apart
    writeFileSync(`${path}.previous`, 'pushed: to 0.4.1\n');
    // the guard rolled 0.4.1 back: 0.4.0 starts with its own config again (the new one may hold keys it refuses)
    state('rolled_back');
    assert.match(adoptPendingConfig(path, '0.4.0', root) ?? '', /restored from .*\.before-update/);
    assert.equal(readFileSync(path, 'utf8'), 'old: config\n');
    assert.equal(readFileSync(`${path}.rolled-back`, 'utf8'), 'new: config\n');
    assert.equal(adoptPendingConfig(path, '0.4.0', root), null, 'once');
    assert.equal(readFileSync(path, 'utf8'), 'old: config\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the guard of a pushed update asks the new version where the pushed config makes it listen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-pushed-'));
  try {
    const file = join(dir, 'agent.yaml.next');
    const url = (server: unknown) => {
      writeFileSync(
        file,
        JSON.stringify({ updates: { url: 'http://h/x.tgz' }, ...(server === undefined ? {} : { server }) }),
      );
      return parsePushedUpdate(file).healthUrl;
    };
    assert.equal(url({ listen: '127.0.0.1:18001' }), 'http://127.0.0.1:18001/healthz');
    assert.equal(url({ listen: '0.0.0.0:18002' }), 'http://127.0.0.1:18002/healthz');
    assert.equal(url({ listen: '[::]:18003' }), 'http://[::1]:18003/healthz');
    assert.equal(url(undefined), 'http://127.0.0.1:9464/healthz');
    assert.throws(() => url(false), /server: false/);
    // as the new version reads it: variables substituted
    writeFileSync(
      file,
      'updates: { url: "http://h/x.tgz" }\nserver:\n  listen: ${SIGFLOW_TEST_LISTEN:-127.0.0.1:18004}\n',
    );
    assert.equal(parsePushedUpdate(file).healthUrl, 'http://127.0.0.1:18004/healthz');
    assert.throws(() => url({ listen: '127.0.0.1:0' }), /fixed port/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('killed after a push was accepted but before its acknowledgement was queued: the re-sent push is acknowledged then', async () => {
  const s = setup();
  // the first process dies during apply: its ack never reaches the outbox
  let dies = true;
  const rc = new RemoteConfig({
    path: s.path,
    stateDir: join(s.dir, 'data', 'state'),
    ackMeasurement: 'config_ack',
    check: (file) => ({ secrets: checkConfigFile(file).loaded.secrets }),
    apply: async () => {
      if (dies) throw new Error('killed');
      return [];
    },
    enqueue: async (r) => {
      s.acks.push(...r);
    },
    logger: pino({ level: 'silent' }),
  });
  await assert.rejects(rc.push('thingsboard', { revision: 7, config: config(s.dir) }), /killed/);
  dies = false;
  assert.equal(s.acks.length, 0);
  // after the restart ThingsBoard sends the shared attribute again
  const again = await s.make().push('thingsboard', { revision: 7, config: config(s.dir) });
  assert.equal(again?.status, 'accepted');
  assert.equal(s.acks.length, 1);
  assert.deepEqual([s.acks[0].fields.revision, s.acks[0].fields.success], [7, true]);
  // once: the next re-send is ignored
  assert.equal((await s.make().push('thingsboard', { revision: 7, config: config(s.dir) }))?.status, 'ignored');
  assert.equal(s.acks.length, 1);
});
