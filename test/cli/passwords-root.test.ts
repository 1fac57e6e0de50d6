/**
 * One rule for passwords (issue 8, item 17): `frames`, `decode` and `import` use `<folder>/passwords.json` of a
 * folder they are given, as `logs index` does for its root, unless --passwords names another file.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildEncryptedContainer } from '../../src/formats/canedge/container.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';

const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

describe('<root>/passwords.json is used by every command that reads logs', () => {
  let dir = '';
  let root = '';
  let plainFrames = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-pw-root-'));
    root = join(dir, 'LOG');
    const mf4 = readFileSync(join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4'));
    mkdirSync(join(root, '2F6913DB', '00000001'), { recursive: true });
    writeFileSync(
      join(root, '2F6913DB', '00000001', '00000001.MFE'),
      await buildEncryptedContainer(mf4, { deviceId: '2F6913DB', password: 'secret', iterations: 1000 }),
    );
    writeFileSync(join(root, 'passwords.json'), '{"2F6913DB": "secret"}');
    const plain = join(dir, 'plain.MF4');
    writeFileSync(plain, mf4);
    const r = await runCli(['frames', plain]);
    assert.equal(r.code, 0, r.stderr);
    plainFrames = r.stdout.trim().split('\n').length;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('frames, decode and import decrypt with <root>/passwords.json; logs index agrees', async () => {
    const frames = await runCli(['frames', root]);
    assert.equal(frames.code, 0, frames.stderr);
    assert.equal(frames.stdout.trim().split('\n').length, plainFrames);
    const decode = await runCli(['decode', root, '--dbc', dbc]);
    assert.equal(decode.code, 0, decode.stderr);
    assert.ok(decode.stdout.length > 0);
    const imp = await runCli(['import', root, '--dbc', dbc, '--data-dir', join(dir, 'data')]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stderr, /1 file\(s\) imported, 0 already imported, 0 failed/);
    const index = await runCli(['logs', 'index', root, '--index', join(dir, 'index.json'), '--json']);
    assert.equal(index.code, 0, index.stderr);
    const j = JSON.parse(index.stdout) as { passwords: string | null; errors: unknown[] };
    assert.equal(j.passwords, join(root, 'passwords.json'));
    assert.deepEqual(j.errors, []);
  });

  it('--passwords wins over <root>/passwords.json', async () => {
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, '{"default": "nope"}');
    const r = await runCli(['frames', root, '--passwords', wrong]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /00000001\.MFE/);
  });
});
