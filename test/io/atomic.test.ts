/**
 * Files that appear complete or not at all (src/io/atomic.ts): the synchronous form for small state files — mode,
 * replacement of an existing file, nothing left behind when the write fails — and the asynchronous one's errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SigflowError } from '../../src/errors/index.js';
import { replaceKeepingPrevious, writeFileAtomic, writeFileAtomicSync } from '../../src/io/index.js';
import { repoRoot } from '../harness/paths.js';

describe('atomic writes', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-atomic-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writeFileAtomicSync makes the folder, replaces a file whole, sets the mode', () => {
    const file = join(dir, 'a', 'b', 'state.json');
    writeFileAtomicSync(file, 'one\n');
    writeFileAtomicSync(file, 'two\n', 0o600);
    assert.equal(readFileSync(file, 'utf8'), 'two\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['state.json'], 'no temporary file left');
  });

  it('writeFileAtomicSync leaves the old file and no temporary file when the rename fails', () => {
    const target = join(dir, 'is-a-folder');
    mkdirSync(join(target, 'inside'), { recursive: true }); // a non-empty folder: rename over it fails
    assert.throws(() => writeFileAtomicSync(target, 'x'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('is-a-folder.')),
      [],
      'the temporary file was removed',
    );
  });

  it('writeFileAtomic names the file in SF_ERR_IO_WRITE and leaves nothing behind', async () => {
    const file = join(dir, 'keep.bin');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, Buffer.from('new'));
    assert.equal(readFileSync(file, 'utf8'), 'new');
    const missing = join(dir, 'no-such-folder', 'x.bin');
    await assert.rejects(
      writeFileAtomic(missing, Buffer.from('x')),
      (e: unknown) => e instanceof SigflowError && e.code === 'SF_ERR_IO_WRITE' && e.message.includes(missing),
    );
  });
});

describe('the folder lake store writes its side files atomically', () => {
  it('a failed write names the file and the system reason (not a wrapped code), and leaves no temporary file', async () => {
    const { FolderLakeStore } = await import('../../src/formats/lake/index.js');
    const root = mkdtempSync(join(tmpdir(), 'sigflow-lake-store-'));
    try {
      mkdirSync(join(root, '_meta', 'x.json', 'inner'), { recursive: true }); // a non-empty folder in the way
      const store = new FolderLakeStore(root);
      await assert.rejects(store.putText('_meta/x.json', '{}'), (e: unknown) => {
        assert.ok(e instanceof SigflowError);
        assert.equal(e.code, 'SF_ERR_IO_WRITE');
        assert.match(e.message, /_meta\/x\.json: (EISDIR|ENOTEMPTY|EEXIST)/);
        return true;
      });
      assert.deepEqual(readdirSync(join(root, '_meta')), ['x.json']);
      assert.equal(await store.putText('_meta/y.json', '{"a":1}\n'), true);
      assert.equal(readFileSync(join(root, '_meta', 'y.json'), 'utf8'), '{"a":1}\n');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  it('replaceKeepingPrevious: the new file in place, the old one as previous — and a file there whenever it dies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-replace-'));
    try {
      replaceAndDie(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** replaceKeepingPrevious in `dir`, then in child processes killed before each of its renames. */
function replaceAndDie(dir: string): void {
  const file = join(dir, 'agent.yaml');
  const ready = join(dir, '.agent.yaml.remote-1');
  const previous = `${file}.previous`;
  writeFileSync(file, 'old\n');
  writeFileSync(ready, 'new\n');
  replaceKeepingPrevious(file, ready, previous);
  assert.equal(readFileSync(file, 'utf8'), 'new\n');
  assert.equal(readFileSync(previous, 'utf8'), 'old\n');
  assert.ok(!readdirSync(dir).some((n) => n.endsWith('.tmp') || n.startsWith('.agent')), readdirSync(dir).join());
  // killed (SIGKILL) just before each rename it makes: the config file is always there, old or new
  const mod = pathToFileURL(join(repoRoot, 'dist', 'src', 'io', 'index.js')).href;
  for (const k of [1, 2]) {
    writeFileSync(file, 'old\n');
    writeFileSync(ready, 'new\n');
    const script = `
        import fs from 'node:fs';
        import { syncBuiltinESMExports } from 'node:module';
        const rename = fs.renameSync;
        let n = 0;
        fs.renameSync = (a, b) => { if (++n === ${k}) process.kill(process.pid, 'SIGKILL'); return rename(a, b); };
        syncBuiltinESMExports();
        const { replaceKeepingPrevious } = await import(${JSON.stringify(mod)});
        replaceKeepingPrevious(${JSON.stringify(file)}, ${JSON.stringify(ready)}, ${JSON.stringify(previous)});
      `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.signal, 'SIGKILL', r.stderr.toString());
    assert.equal(readFileSync(file, 'utf8'), 'old\n', `killed before rename ${k}`);
  }
}
