/**
 * Staging and self-testing releases (src/update): real tarballs made by `npm pack` from this build, served over
 * HTTP on 127.0.0.1, extracted by the system tar; the staged version's own bin/sigflow runs its selftest.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import Sqlite from 'better-sqlite3';
import { SigflowError } from '../../src/errors/index.js';
import { OutboxStore } from '../../src/outbox/index.js';
import {
  COMPLETE_MARKER,
  checkPackageEntries,
  extractPackage,
  listTarGz,
  runSelftestChecks,
  selftest,
  stageUpdate,
} from '../../src/update/index.js';
import { repoRoot } from '../harness/paths.js';
import {
  type FileServer,
  makeRelease,
  type Release,
  rawTarEntry,
  rawTarGz,
  serveDir,
  sha256Of,
  throwingMain,
} from './_release.js';

const run = promisify(execFile);

const work = mkdtempSync(join(tmpdir(), 'sigflow-update-stage-'));
let server: FileServer;
let good: Release;
let broken: Release;
let other: Release;

before(async () => {
  [good, broken, other] = await Promise.all([
    makeRelease(work, '0.2.0'),
    makeRelease(work, '0.2.1-broken', { mainJs: throwingMain }),
    // another version's tarball served under 0.2.9's name: its package.json says 0.2.8
    makeRelease(work, '0.2.8', { name: 'sigflow-0.2.9.tgz' }),
  ]);
  server = await serveDir(join(work, 'releases'));
});

after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

function freshRoot(): { root: string; data: string } {
  const d = mkdtempSync(join(work, 'case-'));
  return { root: join(d, 'root'), data: join(d, 'data') };
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<SigflowError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SigflowError, `not a SigflowError: ${(e as Error).stack}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected ${code}`);
}

function config(dir: string, data: string): string {
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(
    file,
    `outbox: { data_dir: ${data} }
sinks:
  - { type: store, path: ${data}/store.db }
pipelines:
  - name: env
    source:
      type: mqtt
      url: mqtt://127.0.0.1:1
      topics: [{ topic: "sensors/#", qos: 1 }]
      payload: { format: json, measurement: env }
server: { listen: "127.0.0.1:0" }
`,
  );
  return file;
}

interface Lock {
  packages: Record<
    string,
    {
      version?: string;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      devDependencies?: unknown;
    }
  >;
  [k: string]: unknown;
}

/** This repository's package-lock.json cut down to `names` and what they need, for a package of `version`. */
function lockOf(names: string[], version: string): Lock {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as Lock;
  const pk = lock.packages;
  // where node would find `name` from the package at `from` (its own node_modules, then each folder up)
  const find = (from: string, name: string): string | null => {
    let base = from;
    for (;;) {
      const k = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (pk[k]) return k;
      if (!base) return null;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const keep = new Set<string>();
  const visit = (k: string | null) => {
    if (!k || keep.has(k)) return;
    keep.add(k);
    for (const d of Object.keys({ ...pk[k].dependencies, ...pk[k].optionalDependencies })) visit(find(k, d));
  };
  for (const n of names) visit(find('', n));
  const rootDeps = Object.fromEntries(names.map((n) => [n, pk[''].dependencies?.[n] as string]));
  const top = { ...pk[''], version, dependencies: rootDeps };
  delete top.devDependencies;
  return { ...lock, version, packages: { '': top, ...Object.fromEntries([...keep].map((k) => [k, pk[k]])) } };
}

describe('stageUpdate', () => {
  it('downloads ({version} in the URL), checks the sha256, extracts, links node_modules and marks the version complete', async () => {
    const { root, data } = freshRoot();
    const r = await stageUpdate({
      root,
      version: '0.2.0',
      url: `${server.url}/sigflow-{version}.tgz`,
      sha256: good.sha256,
      currentDir: repoRoot,
      spool: [data],
    });
    const dir = join(root, 'versions', '0.2.0');
    assert.equal(r.dir, dir);
    assert.equal(r.reused, false);
    assert.equal(r.deps, 'hardlinked', 'same dependencies, same file system: hard links');
    assert.ok(existsSync(join(dir, COMPLETE_MARKER)));
    assert.ok(!existsSync(`${dir}.partial`));
    assert.ok(statSync(join(dir, 'bin', 'sigflow')).mode & 0o100, 'bin/sigflow is executable');
    // the node_modules files are the running version's, linked
    const a = statSync(join(repoRoot, 'node_modules', 'commander', 'package.json'));
    const b = statSync(join(dir, 'node_modules', 'commander', 'package.json'));
    assert.equal(a.ino, b.ino);
    // only the package's files: no tests, no sources, no maps
    assert.deepEqual(readdirSync(dir).sort(), [
      COMPLETE_MARKER,
      'README.md',
      'bin',
      'dist',
      'node_modules',
      'package.json',
    ]);
    assert.deepEqual(readdirSync(join(dir, 'dist')), ['src']);
    const v = await run(join(dir, 'bin', 'sigflow'), ['--version']);
    assert.equal(v.stdout.trim(), '0.2.0');
    // staged again with the same sha256: the complete folder is reused, nothing downloaded
    const n = server.requests.length;
    const again = await stageUpdate({
      root,
      version: '0.2.0',
      url: `${server.url}/sigflow-{version}.tgz`,
      sha256: good.sha256,
      currentDir: repoRoot,
      spool: [data],
    });
    assert.equal(again.reused, true);
    assert.equal(server.requests.length, n);
  });

  it('refuses a tarball whose sha256 differs, naming the expected and the actual digest; nothing is left', async () => {
    const { root, data } = freshRoot();
    const wrong = 'ab'.repeat(32);
    const e = await rejectsWith(
      stageUpdate({
        root,
        version: '0.2.0',
        url: `${server.url}/${good.name}`,
        sha256: wrong,
        currentDir: repoRoot,
        spool: [data],
      }),
      'SF_ERR_UPDATE_CHECKSUM',
    );
    assert.ok(e.message.includes(wrong) && e.message.includes(good.sha256), e.message);
    assert.deepEqual(readdirSync(join(root, 'versions')), []);
    assert.deepEqual(readdirSync(join(root, 'state', 'downloads')), []);
    // no digest at all: refused before anything is fetched
    await rejectsWith(
      stageUpdate({
        root,
        version: '0.2.0',
        url: `${server.url}/${good.name}`,
        sha256: '',
        currentDir: repoRoot,
        spool: [],
      }),
      'SF_ERR_UPDATE_CHECKSUM',
      /required/,
    );
  });

  it('refuses path traversal, absolute paths, links, entries outside package/, names twice, a gzip bomb — nothing written outside', async () => {
    const { root, data } = freshRoot();
    const evil = join(work, 'evil.txt');
    const victim = join(work, 'victim.txt');
    writeFileSync(victim, 'untouched');
    // a pax record says the next entry has no data: what its header's size field covers is read as tar reads it —
    // headers (a link out of the folder, and the completion marker as a link to a file outside)
    const hidden = Buffer.concat([
      rawTarEntry({ name: 'package/.sigflow-complete', type: '2', linkname: victim }),
      rawTarEntry({ name: 'package/evil', type: '2', linkname: victim }),
    ]);
    const cases: [string, Parameters<typeof rawTarGz>[0], RegExp][] = [
      [
        'pax-size',
        [
          { name: 'package/PaxHeader/cover.txt', type: 'x', data: '10 size=0\n' },
          { name: 'package/cover.txt', data: hidden },
          { name: 'package/package.json', data: '{}' },
        ],
        /"package\/\.sigflow-complete" is not a regular file or folder \(tar type 2\)/,
      ],
      [
        'twice',
        [
          { name: 'package/package.json', data: '{}' },
          { name: 'package/package.json', data: '{"name":"sigflow"}' },
        ],
        /"package\/package\.json" appears twice/,
      ],
      ['bomb', [{ name: 'package/big.bin', data: Buffer.alloc(3 << 20) }], /beyond the limit of 2097152 bytes/],
      [
        'dotdot',
        [
          { name: 'package/package.json', data: '{}' },
          { name: 'package/../../../evil.txt', data: 'x' },
        ],
        /".."/,
      ],
      ['absolute', [{ name: `${evil}`, data: 'x' }], /absolute/],
      ['symlink', [{ name: 'package/lib', type: '2', linkname: '/etc' }], /tar type 2/],
      ['hardlink', [{ name: 'package/x', type: '1', linkname: '/etc/passwd' }], /tar type 1/],
      ['outside', [{ name: 'other/package.json', data: '{}' }], /not under package\//],
    ];
    for (const [name, entries, why] of cases) {
      const file = join(work, 'releases', `evil-${name}.tgz`);
      writeFileSync(file, rawTarGz(entries));
      await rejectsWith(
        stageUpdate({
          root,
          version: '0.2.0',
          url: `${server.url}/evil-${name}.tgz`,
          sha256: sha256Of(file),
          currentDir: repoRoot,
          spool: [data],
          maxUnpackedBytes: 2 << 20,
        }),
        'SF_ERR_UPDATE_PACKAGE',
        why,
      );
    }
    assert.ok(!existsSync(evil), 'nothing written outside');
    assert.equal(readFileSync(victim, 'utf8'), 'untouched');
    assert.deepEqual(readdirSync(join(root, 'versions')), []);
  });

  it('a damaged tar header is refused (its checksum), not read as some other entry', async () => {
    const entry = rawTarEntry({ name: 'package/package.json', data: '{}' });
    entry[10] ^= 0x20; // a letter of the name changes case
    const file = join(work, 'releases', 'damaged-header.tgz');
    writeFileSync(file, gzipSync(Buffer.concat([entry, Buffer.alloc(1024)])));
    const into = join(work, 'damaged-header');
    mkdirSync(into, { recursive: true });
    await assert.rejects(extractPackage(file, into), /tar header 1 is damaged \(its checksum does not match\)/);
  });

  it('a refused tarball leaves no file open (the reader closes its file however it ends)', async (t) => {
    if (!existsSync('/proc/self/fd')) return t.skip('no /proc/self/fd');
    const file = join(work, 'releases', 'evil-symlink.tgz');
    writeFileSync(file, rawTarGz([{ name: 'package/lib', type: '2', linkname: '/etc' }]));
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 20; i++) {
      const into = join(work, `fd-${i}`);
      mkdirSync(into, { recursive: true });
      await assert.rejects(extractPackage(file, into), /tar type 2/);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(open() - before < 5, `${open() - before} more open files after 20 refused extractions`);
  });

  it('lists the entries of a real npm pack tarball, all regular files under package/', async () => {
    const entries = await listTarGz(good.file);
    assert.ok(entries.some((e) => e.name === 'package/bin/sigflow'));
    assert.ok(entries.some((e) => e.name === 'package/dist/src/cli/main.js'));
    assert.ok(!entries.some((e) => e.name.endsWith('.map') || e.name.startsWith('package/test/')));
    checkPackageEntries(entries, good.file);
  });

  it('refuses a queue inside <root>/versions, a size beyond the cap, an HTTP error, another version, a bad version name', async () => {
    const { root, data } = freshRoot();
    const base = { root, version: '0.2.0', sha256: good.sha256, currentDir: repoRoot, spool: [data] };
    await rejectsWith(
      stageUpdate({ ...base, url: `${server.url}/${good.name}`, spool: [join(root, 'versions', '0.1.0', 'data')] }),
      'SF_ERR_UPDATE_SPOOL',
      /would stay with the old version/,
    );
    await rejectsWith(
      stageUpdate({ ...base, url: `${server.url}/${good.name}`, maxBytes: 10_000 }),
      'SF_ERR_UPDATE_DOWNLOAD',
      /cap of 10000/,
    );
    await rejectsWith(stageUpdate({ ...base, url: `${server.url}/nope.tgz` }), 'SF_ERR_UPDATE_DOWNLOAD', /HTTP 404/);
    await rejectsWith(stageUpdate({ ...base, url: `file://${good.file}` }), 'SF_ERR_UPDATE_DOWNLOAD', /only http/);
    await rejectsWith(
      stageUpdate({ ...base, version: '0.2.9', url: `${server.url}/sigflow-0.2.9.tgz`, sha256: other.sha256 }),
      'SF_ERR_UPDATE_PACKAGE',
      /sigflow@0\.2\.8, not sigflow@0\.2\.9/,
    );
    await rejectsWith(
      stageUpdate({ ...base, version: '../x', url: `${server.url}/${good.name}` }),
      'SF_ERR_UPDATE_VERSION',
    );
    assert.deepEqual(readdirSync(join(root, 'versions')), []);
  });
  it('dependencies that differ: npm ci from the shipped npm-shrinkwrap.json, offline, no scripts; native builds carried over', async (t) => {
    // a release that depends on better-sqlite3 alone (so that npm has little to do), locked by a shrinkwrap cut from
    // this repository's lock: the running version's node_modules cannot be reused as it is
    const lock = lockOf(['better-sqlite3'], '0.2.5');
    const rel = await makeRelease(work, '0.2.5', {
      packageJson: (p) => {
        p.dependencies = lock.packages[''].dependencies;
        delete p.devDependencies;
      },
      files: { 'npm-shrinkwrap.json': JSON.stringify(lock, null, 2) },
    });
    const { root, data } = freshRoot();
    let r: Awaited<ReturnType<typeof stageUpdate>>;
    try {
      r = await stageUpdate({
        root,
        version: '0.2.5',
        url: `${server.url}/${rel.name}`,
        sha256: rel.sha256,
        currentDir: repoRoot,
        spool: [data],
      });
    } catch (e) {
      if (/ENOTCACHED/.test((e as Error).message))
        return t.skip(`npm's cache lacks the packages: ${(e as Error).message}`);
      throw e;
    }
    assert.equal(r.deps, 'npm');
    const dir = join(root, 'versions', '0.2.5');
    assert.deepEqual(
      readdirSync(join(dir, 'node_modules'))
        .filter((n) => !n.startsWith('.'))
        .sort(),
      Object.keys(lock.packages)
        .filter((k) => k.startsWith('node_modules/') && !k.slice(13).includes('/node_modules/'))
        .map((k) => k.slice(13).split('/')[0])
        .filter((n, i, a) => a.indexOf(n) === i)
        .sort(),
    );
    // --ignore-scripts built nothing: the addon is the running version's build, copied, and it loads
    assert.ok(existsSync(join(dir, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')));
    const probe = await run(process.execPath, [
      '-e',
      "const D = require(process.argv[1]); const db = new D(':memory:'); console.log(db.prepare('select 1+1 as x').get().x)",
      join(dir, 'node_modules', 'better-sqlite3'),
    ]);
    assert.equal(probe.stdout.trim(), '2');
  });
});

describe('selftest', () => {
  it('passes for a good version (its own bin/sigflow, the config, an existing outbox) and fails for a broken one', async () => {
    const { root, data } = freshRoot();
    const cfg = config(join(root, '..'), data);
    OutboxStore.open(join(data)).close(); // the outbox the running version leaves behind
    for (const r of [good, broken])
      await stageUpdate({
        root,
        version: r.version,
        url: `${server.url}/${r.name}`,
        sha256: r.sha256,
        currentDir: repoRoot,
        spool: [data],
      });
    const ok = await selftest(join(root, 'versions', '0.2.0'), cfg);
    assert.equal(ok.ok, true, ok.reason);
    for (const check of ['native', 'config', 'outbox', 'codecs'])
      assert.match(ok.output, new RegExp(`^ok +${check}: `, 'm'));
    const bad = await selftest(join(root, 'versions', '0.2.1-broken'), cfg);
    assert.equal(bad.ok, false);
    assert.match(bad.reason ?? '', /exit 1: .*this build is broken/s);
  });

  it('fails the outbox check when the outbox has a schema this version does not know, and a config check on a bad file', async () => {
    const d = mkdtempSync(join(work, 'schema-'));
    const data = join(d, 'data');
    const cfg = config(d, data);
    OutboxStore.open(data).close();
    const db = new Sqlite(join(data, 'outbox.db'));
    db.pragma('user_version = 99');
    db.close();
    const checks = await runSelftestChecks({ configPath: cfg });
    const outbox = checks.find((c) => c.name === 'outbox');
    assert.equal(outbox?.ok, false);
    assert.match(outbox?.detail ?? '', /schema 99/);
    assert.ok(checks.find((c) => c.name === 'native')?.ok);
    assert.ok(checks.find((c) => c.name === 'codecs')?.ok);
    writeFileSync(cfg, 'outbox: { data_dir: 3 }\n');
    const bad = await runSelftestChecks({ configPath: cfg });
    assert.equal(bad.find((c) => c.name === 'config')?.ok, false);
    assert.equal(
      bad.find((c) => c.name === 'outbox'),
      undefined,
      'no outbox check without a valid config',
    );
  });

  it('a version that does not finish in time fails with "timed out"', async () => {
    const d = mkdtempSync(join(work, 'slow-'));
    const bin = join(d, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'sigflow'), 'setInterval(() => {}, 1000);\n');
    const r = await selftest(d, undefined, { timeoutMs: 500 });
    assert.equal(r.ok, false);
    assert.match(r.reason ?? '', /timed out after/);
  });
});
