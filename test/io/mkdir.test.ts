/**
 * Issue 8 item 12: `import --data-dir /proc/x` spun at 90 % CPU forever — Node's `mkdir(…, {recursive: true})`
 * loops when a parent answers ENOENT for a child it cannot create (procfs does). Every folder sigflow creates
 * (data dir, outbox, archive, index cache) goes through src/io makeDirectory: it fails fast with SF_ERR_IO_MKDIR
 * naming the folder, the level that failed and the reason. The /proc cases run in child processes with a timeout
 * (the old code would hang the test runner itself).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SigflowError } from '../../src/errors/index.js';
import { makeDirectory } from '../../src/io/index.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir, repoRoot } from '../harness/paths.js';

const hasProc = (() => {
  try {
    return statSync('/proc/self').isDirectory();
  } catch {
    return false;
  }
})();

const isMkdir = (path: string, re: RegExp) => (e: unknown) =>
  e instanceof SigflowError && e.code === 'SF_ERR_IO_MKDIR' && e.where === path && re.test(e.message);

describe('makeDirectory: mkdir -p in bounded time, errors that name the folder', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-mkdir-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates missing levels; an existing folder is fine', () => {
    const p = join(dir, 'a', 'b', 'c');
    makeDirectory(p);
    makeDirectory(p);
    assert.ok(statSync(p).isDirectory());
  });

  it('a file in the way is ENOTDIR, naming the level', () => {
    writeFileSync(join(dir, 'file'), 'x');
    const p = join(dir, 'file', 'sub');
    assert.throws(() => makeDirectory(p, 'data directory'), isMkdir(p, /cannot create data directory .*: ENOTDIR/));
  });

  it('/proc/x fails at once (ENOENT)', {
    skip: !hasProc && 'no /proc',
  }, () => {
    const t0 = Date.now();
    assert.throws(
      () => makeDirectory('/proc/sigflow-x/y'),
      isMkdir('/proc/sigflow-x/y', /ENOENT \(at \/proc\/sigflow-x\)/),
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('the outbox and the archive sink under /proc fail at once (in a child: the old code hung)', {
    skip: !hasProc && 'no /proc',
  }, async () => {
    const script = join(dir, 'child.mts');
    const src = (p: string) => JSON.stringify(pathToFileURL(join(repoRoot, 'src', p)).href);
    writeFileSync(
      script,
      `import { Outbox } from ${src('outbox/index.ts')};
import { ArchiveSink } from ${src('sinks/archive/index.ts')};
const tries = [
  () => Outbox.open({ dataDir: '/proc/sigflow-x', sinks: [] }),
  () => new ArchiveSink({ type: 'archive', dir: '/proc/sigflow-x/archive' }),
];
for (const t of tries) {
  try { t(); console.log('created?'); } catch (e) { console.log(e.code + ' ' + e.message); }
}
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      timeout: 30_000,
      encoding: 'utf8',
    });
    assert.equal(r.signal, null, 'killed by the timeout: it hung');
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'SF_ERR_IO_MKDIR cannot create outbox folder /proc/sigflow-x: ENOENT',
      'SF_ERR_IO_MKDIR cannot create archive folder /proc/sigflow-x/archive: ENOENT (at /proc/sigflow-x)',
    ]);
  });

  it('sigflow import --data-dir /proc/x: one line naming the path and the reason, within seconds', {
    skip: !hasProc && 'no /proc',
  }, async () => {
    const dbc = join(
      fixturesDir,
      'canedge/dbc/api-examples/examples/data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc',
    );
    const log = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');
    const r = await runCli(['import', log, '--dbc', dbc, '--data-dir', '/proc/sigflow-x'], { timeoutMs: 30_000 });
    assert.notEqual(r.code, null, 'killed by the timeout: it hung');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\/proc\/sigflow-x: ENOENT/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
});
