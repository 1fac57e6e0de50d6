import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildEncryptedContainer } from '../../../src/formats/canedge/container.js';
import { runCli } from '../../harness/cli.js';
import { fixturesDir } from '../../harness/paths.js';

const fx = (name: string) => join(fixturesDir, 'canedge', name);
const expected = JSON.parse(readFileSync(fx('expected.json'), 'utf8')).files;

describe('sigflow logs index', () => {
  let root: string;
  let cache: string;
  const put = (rel: string, bytes: Buffer | string) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), bytes);
  };
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'sigflow-cli-tree-'));
    cache = mkdtempSync(join(tmpdir(), 'sigflow-cli-cache-'));
    put('5BC57FEC/00000001/00000007-643E54EA.MFC', readFileSync(fx('00000007-643E54EA.MFC')));
    put('17BD1DB7/00000006/00000170.MF4', readFileSync(fx('00000170.MF4')));
    put(
      'FCBF0606/00003482/00000001.MFE',
      await buildEncryptedContainer(readFileSync(fx('00000001-60B621D9.MF4')), {
        deviceId: 'FCBF0606',
        password: 'pw',
        iterations: 1000,
      }),
    );
    put('passwords.json', '{"default": "wrong"}');
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  test('prints devices, sessions, splits, time ranges and lists unreadable files without failing', async () => {
    const r = await runCli(['logs', 'index', root, '--index', join(cache, 'i.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /device 5BC57FEC\s+"MFC test"/);
    assert.match(r.stdout, /session 00000026\s+splits 7/);
    assert.match(r.stdout, /2023-04-18T08:19:20\.985850Z → 2023-04-18T08:29:20\.760000Z/);
    assert.match(r.stdout, /device 3EBDACA8 .*folders 17BD1DB7/);
    assert.match(r.stdout, /\[device: folder 17BD1DB7, file 3EBDACA8\]/);
    assert.match(r.stdout, /unreadable files \(1\):\n\s+SF_ERR_CANEDGE_WRONG_PASSWORD: .*00000001\.MFE/);
    assert.match(
      r.stdout,
      /summary\s+2 device\(s\), 2 session\(s\), 3 log file\(s\).*1 unreadable, 1 other file\(s\) ignored/,
    );
    assert.match(r.stdout, /refresh\s+3 added/);
    const again = await runCli(['logs', 'index', root, '--index', join(cache, 'i.json')]);
    assert.match(again.stdout, /refresh\s+0 added, 0 changed, 0 removed, 0 re-probed, 3 unchanged/);
  });

  test('--json with --passwords and a device/time filter', async () => {
    const pw = join(cache, 'pw.json');
    writeFileSync(pw, '{"FCBF0606": "pw"}');
    const e = expected['00000001-60B621D9.MF4'].time_range;
    const r = await runCli([
      'logs',
      'index',
      root,
      '--index',
      join(cache, 'j.json'),
      '--passwords',
      pw,
      '--json',
      '--device',
      'fcbf0606',
      '--to',
      e.first_t_ns,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.stats.total, 3);
    assert.equal(out.errors.length, 0);
    assert.equal(out.devices.length, 1);
    assert.equal(out.devices[0].device, 'FCBF0606');
    const s = out.devices[0].sessions[0];
    assert.equal(s.session, 3482);
    assert.deepEqual(s.splits, [1]);
    assert.equal(s.firstNs, e.first_t_ns);
    assert.equal(s.lastNs, e.last_t_ns);
    assert.equal(s.files[0].container, 'mfe');
  });

  test('bad input: missing root, malformed passwords file', async () => {
    const missing = join(root, 'nope');
    let r = await runCli(['logs', 'index', missing, '--index', join(cache, 'k.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such directory`));
    const bad = join(cache, 'bad.json');
    writeFileSync(bad, '{"default": "x",}');
    r = await runCli(['logs', 'index', root, '--index', join(cache, 'k.json'), '--passwords', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.json: invalid JSON at 1:17/);
  });
});
