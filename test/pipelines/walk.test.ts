/**
 * Issue 8 item 4: one log-tree walker (src/formats/canedge/tree-walk.ts) for every command. Symlinked log files
 * are read, link loops end, and nothing is skipped silently: unreadable folders, dangling and looping links are
 * named, and the commands exit 1 after processing what could be read. `frames`/`decode`/`import` (through
 * expandInputs) and `logs index` (through LocalLogStore) see the same files.
 *
 * Root cannot be refused a folder by chmod, so the unreadable-folder case runs three ways: a dangling link and a
 * link loop (real errors for anyone), a readdir failing through the walker's `fs` seam, and a real chmod 000
 * folder that runs only when not root (and says loudly that it is skipped otherwise).
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, promises as fsp, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalLogStore, type TreeFs, type TreeProblem, walkTree } from '../../src/formats/canedge/index.js';
import { expandInputs } from '../../src/pipelines/logdecode/index.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';

const MF4 = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');
const MF4_FRAMES = 1815; // frames of that file (its reference JSON)

describe('one log-tree walker for every command', () => {
  let dir = '';
  let root = '';
  let session = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-walk-'));
    root = join(dir, 'LOG');
    session = join(root, '2F6913DB', '00000001');
    mkdirSync(session, { recursive: true });
    const outside = join(dir, 'elsewhere');
    mkdirSync(join(outside, 'more'), { recursive: true });
    copyFileSync(MF4, join(session, '00000001.MF4'));
    copyFileSync(MF4, join(outside, 'target.MF4'));
    copyFileSync(MF4, join(outside, 'more', '00000003.MF4'));
    symlinkSync(join(outside, 'target.MF4'), join(session, '00000002.MF4')); // a symlinked log file
    symlinkSync(join(outside, 'more'), join(root, '2F6913DB', '00000002')); // a symlinked session folder
    symlinkSync('..', join(root, '2F6913DB', 'up')); // a folder loop
    mkdirSync(join(root, '.cache'));
    copyFileSync(MF4, join(root, '.cache', '00000009.MF4')); // dot folders are skipped
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rel = (p: string) => relative(root, p).split(sep).join('/');
  const logs = ['2F6913DB/00000001/00000001.MF4', '2F6913DB/00000001/00000002.MF4', '2F6913DB/00000002/00000003.MF4'];

  it('follows file and folder links, cuts loops, skips dot folders; the index and the decoders see the same files', async () => {
    const { files, problems } = await expandInputs([root]);
    assert.deepEqual(problems, []);
    assert.deepEqual(files.map((f) => rel(f.path)).sort(), logs);
    assert.ok(files.every((f) => f.size > 0));
    const listed: string[] = [];
    const storeProblems: TreeProblem[] = [];
    for await (const e of new LocalLogStore(root).list('', (p) => storeProblems.push(p))) listed.push(e.path);
    assert.deepEqual(listed.sort(), logs);
    assert.deepEqual(storeProblems, []);
  });

  it('dangling links and link loops are named, the rest is read (library)', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(join(bad, 'sub'), { recursive: true });
    copyFileSync(MF4, join(bad, 'ok.MF4'));
    symlinkSync(join(dir, 'nowhere.MF4'), join(bad, 'sub', 'dangling.MF4'));
    symlinkSync('loop.MF4', join(bad, 'loop.MF4'));
    symlinkSync(join(dir, 'nowhere.txt'), join(bad, 'other.txt')); // not a log: not the decoders' business
    const { files, problems } = await expandInputs([bad]);
    assert.deepEqual(
      files.map((f) => f.path),
      [join(bad, 'ok.MF4')],
    );
    assert.deepEqual(problems.map((p) => [p.path, p.message]).sort(), [
      [join(bad, 'loop.MF4'), 'link loop (ELOOP)'],
      [join(bad, 'sub', 'dangling.MF4'), 'dangling link: ENOENT'],
    ]);
    const storeProblems: TreeProblem[] = [];
    for await (const _ of new LocalLogStore(bad).list('', (p) => storeProblems.push(p))) {
      // listing only
    }
    // the index lists every file (not only logs), so it names the broken .txt link too
    assert.deepEqual(storeProblems.map((p) => p.path).sort(), [
      join(bad, 'loop.MF4'),
      join(bad, 'other.txt'),
      join(bad, 'sub', 'dangling.MF4'),
    ]);
  });

  it('a folder that cannot be listed is named and the walk goes on (the fs seam: EACCES as root too)', async () => {
    const locked = join(root, '2F6913DB', '00000001');
    const fs: TreeFs = {
      readdir: async (p) => {
        if (p === locked)
          throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
        return fsp.readdir(p, { withFileTypes: true });
      },
      stat: (p) => fsp.stat(p),
    };
    const { files, problems } = await expandInputs([root], { fs });
    assert.deepEqual(
      files.map((f) => rel(f.path)),
      ['2F6913DB/00000002/00000003.MF4'],
    );
    assert.deepEqual(problems, [{ path: locked, message: 'cannot list folder: EACCES', code: 'EACCES' }]);
    const seen: TreeProblem[] = [];
    const walked: string[] = [];
    for await (const f of walkTree(root, { fs, onProblem: (p) => seen.push(p) })) walked.push(f.rel);
    assert.deepEqual(walked, ['2F6913DB/00000002/00000003.MF4']);
    assert.deepEqual(seen, problems);
  });

  it('frames, decode and logs index read the symlinked files; a dangling link fails the run (exit 1) by name', async () => {
    let r = await runCli(['frames', root, '--format', 'csv']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`3 file\\(s\\), 0 failed, ${3 * MF4_FRAMES} frames`));
    const dangling = join(root, '2F6913DB', '00000001', '00000004.MF4');
    symlinkSync(join(dir, 'gone.MF4'), dangling);
    try {
      r = await runCli(['frames', root, '--format', 'csv']);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`${dangling}: dangling link: ENOENT`), r.stderr);
      assert.match(r.stderr, new RegExp(`${3 * MF4_FRAMES} frames`), 'the readable files were read');
      r = await runCli(['logs', 'index', root, '--no-times', '--index', join(dir, 'index.json')]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`${dangling}: dangling link: ENOENT`), r.stderr);
      assert.match(r.stdout, /3 log file\(s\)/);
    } finally {
      rmSync(dangling);
    }
  });

  it('a real unreadable folder (chmod 000) is named and fails the run — only when not root', async (t) => {
    if (process.getuid?.() === 0) {
      process.stderr.write(
        '\n*** running as root: chmod 000 does not stop root; the real-permission test is SKIPPED ***\n',
      );
      t.skip('running as root (the seam test above covers the error path)');
      return;
    }
    const locked = join(root, '2F6913DB', '00000001');
    chmodSync(locked, 0o000);
    try {
      const r = await runCli(['frames', root, '--format', 'csv']);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`${locked}: cannot list folder: EACCES`), r.stderr);
      assert.match(r.stderr, new RegExp(`${MF4_FRAMES} frames`), 'the readable folder was read');
    } finally {
      chmodSync(locked, 0o755);
    }
  });
});
