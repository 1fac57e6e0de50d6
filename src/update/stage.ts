/**
 * Staging: a release tarball becomes `<root>/versions/<v>/`, a whole package ready to run — downloaded (size cap,
 * sha256 required), extracted into `<v>.partial` by a reader that checks every entry (tarball.ts), its dependencies
 * installed, a completion marker written last, then renamed to `<v>`. Nothing under `current` changes.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SigflowError } from '../errors/index.js';
import { fsyncDir } from '../io/index.js';
import {
  COMPLETE_MARKER,
  checkVersion,
  currentVersion,
  isComplete,
  isInside,
  layoutOf,
  previousVersion,
  readMarker,
} from './layout.js';
import { DEFAULT_MAX_BYTES, download, extractPackage } from './tarball.js';

const run = promisify(execFile);

export interface StageOptions {
  /** The install root (README.md "Layout"). */
  readonly root: string;
  /** The version to stage: the tarball's package.json must say the same. */
  readonly version: string;
  /** Where the tarball is (http or https); `{version}` is replaced by the version. */
  readonly url: string;
  /** The tarball's sha256 (hex); required. */
  readonly sha256: string;
  /** The running version's package folder: its package.json and node_modules are reused when they fit. */
  readonly currentDir: string;
  /**
   * The folders that must outlive every version (outbox.data_dir, …): staging is refused when one lies inside
   * `<root>/versions`, where a prune would delete it.
   */
  readonly spool: readonly string[];
  readonly signal?: AbortSignal;
  /** Size cap of the tarball (default 200 MiB). */
  readonly maxBytes?: number;
  /** Size cap of its files unpacked (default 1 GiB). */
  readonly maxUnpackedBytes?: number;
  /** The download's time limit (default 10 min). */
  readonly timeoutMs?: number;
}

/** How the dependencies of a staged version were installed. */
export type DepsInstall = 'hardlinked' | 'copied' | 'npm' | 'none';

export interface StageResult {
  readonly version: string;
  readonly dir: string;
  /** The folder existed complete already (with the same sha256): nothing was downloaded. */
  readonly reused: boolean;
  readonly bytes: number;
  readonly deps: DepsInstall;
}

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return null;
  }
}

/** The dependencies that must be installed, as canonical text (key order does not matter). */
function depsKey(p: PackageJson): string {
  const sorted = (o: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify([sorted(p.dependencies), sorted(p.optionalDependencies)]);
}

/** Output of a failed child process, its last lines. */
function tailOf(e: unknown): string {
  const x = e as { stderr?: string; stdout?: string; message?: string };
  const text = `${x.stderr ?? ''}${x.stdout ?? ''}`.trim() || (x.message ?? String(e));
  return text.length > 1500 ? `…${text.slice(-1500)}` : text;
}

/** Refuses a spool folder inside `<root>/versions` (defect 6 of the seed's agent: the queue left behind). */
export function checkSpool(root: string, spool: readonly string[]): void {
  const versions = layoutOf(root).versions;
  for (const s of spool) {
    if (isInside(s, versions))
      throw new SigflowError(
        'SF_ERR_UPDATE_SPOOL',
        `${s} (outbox.data_dir) is inside ${versions}: the queue would stay with the old version and be pruned with it; move it outside ${layoutOf(root).root}/versions first`,
        { where: s },
      );
  }
}

/**
 * Installs the new version's dependencies into `dir`:
 * - the same `dependencies` (and `optionalDependencies`) as the running version: its node_modules is copied —
 *   hard links (`cp -al`) on one file system, a copy (`cp -a`) otherwise;
 * - other dependencies: `npm ci` (with a lockfile: npm-shrinkwrap.json) or `npm install`, `--omit=dev
 *   --ignore-scripts --offline` (no install scripts run, nothing fetched: npm's cache must hold the packages),
 *   then the native builds (build/) of packages whose version did not change are copied from the running version.
 */
async function installDeps(dir: string, currentDir: string, signal?: AbortSignal): Promise<DepsInstall> {
  const next = readPackage(dir);
  const now = readPackage(currentDir);
  const wanted = Object.keys(next?.dependencies ?? {}).length + Object.keys(next?.optionalDependencies ?? {}).length;
  if (wanted === 0) return 'none';
  const have = join(currentDir, 'node_modules');
  const into = join(dir, 'node_modules');
  if (now && depsKey(now) === depsKey(next ?? {}) && existsSync(have)) {
    if (statSync(have).dev === statSync(dir).dev) {
      try {
        await run('cp', ['-al', have, into], { signal, maxBuffer: 4 * 1024 * 1024 });
        return 'hardlinked';
      } catch {
        // another file system after all, or links not allowed: copy
        rmSync(into, { recursive: true, force: true });
      }
    }
    try {
      await run('cp', ['-a', have, into], { signal, maxBuffer: 4 * 1024 * 1024 });
      return 'copied';
    } catch (e) {
      throw new SigflowError('SF_ERR_UPDATE_INSTALL', `copying ${have} failed: ${tailOf(e)}`, {
        where: have,
        cause: e,
      });
    }
  }
  const ci = existsSync(join(dir, 'npm-shrinkwrap.json')) || existsSync(join(dir, 'package-lock.json'));
  const args = [
    ci ? 'ci' : 'install',
    '--omit=dev',
    '--ignore-scripts',
    '--offline',
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
  ];
  try {
    await run('npm', args, { cwd: dir, signal, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  } catch (e) {
    throw new SigflowError('SF_ERR_UPDATE_INSTALL', `npm ${args.join(' ')} in ${dir} failed: ${tailOf(e)}`, {
      where: dir,
      cause: e,
    });
  }
  await carryNativeBuilds(have, into, signal);
  return 'npm';
}

/** Packages of `from` with a native build (build/) that `to` has in the same version without one: copied over. */
async function carryNativeBuilds(from: string, to: string, signal?: AbortSignal): Promise<void> {
  if (!existsSync(from)) return;
  const names: string[] = [];
  for (const n of readdirSync(from)) {
    if (n.startsWith('.')) continue;
    if (n.startsWith('@')) for (const s of readdirSync(join(from, n))) names.push(`${n}/${s}`);
    else names.push(n);
  }
  for (const n of names) {
    const a = readPackage(join(from, n));
    const b = readPackage(join(to, n));
    if (!a || !b || a.version !== b.version) continue;
    if (existsSync(join(from, n, 'build')) && !existsSync(join(to, n, 'build')))
      await run('cp', ['-a', join(from, n, 'build'), join(to, n, 'build')], { signal });
  }
}

/**
 * Stages `version` from `url` into `<root>/versions/<version>` (module comment). A complete folder of that version
 * staged from the same sha256 is reused; an incomplete one, or one from another tarball, is staged again (unless it
 * is `current`: then SF_ERR_UPDATE_VERSION).
 */
export async function stageUpdate(o: StageOptions): Promise<StageResult> {
  const version = checkVersion(o.version);
  const l = layoutOf(o.root);
  const sha = String(o.sha256 ?? '')
    .trim()
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha))
    throw new SigflowError('SF_ERR_UPDATE_CHECKSUM', `"${o.sha256}" is not a sha256 (64 hex digits); it is required`);
  checkSpool(o.root, o.spool);
  const dir = join(l.versions, version);
  if (existsSync(dir)) {
    if (isComplete(dir) && readMarker(dir)?.sha256 === sha)
      return { version, dir, reused: true, bytes: 0, deps: (readMarker(dir) as { deps?: DepsInstall }).deps ?? 'none' };
    if (currentVersion(o.root) === version || previousVersion(o.root) === version)
      throw new SigflowError(
        'SF_ERR_UPDATE_VERSION',
        `${version} is the current or previous version (${dir}) and was staged from another tarball; give the release a new version`,
        { where: dir },
      );
  }
  mkdirSync(l.versions, { recursive: true });
  mkdirSync(l.downloads, { recursive: true });
  const url = o.url.split('{version}').join(encodeURIComponent(version));
  const tgz = join(l.downloads, `sigflow-${version}.tgz`);
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  try {
    const got = await download(url, tgz, {
      maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES,
      signal: o.signal,
      timeoutMs: o.timeoutMs,
    });
    if (got.sha256 !== sha)
      throw new SigflowError(
        'SF_ERR_UPDATE_CHECKSUM',
        `${url}: sha256 ${got.sha256} (${got.bytes} bytes), expected ${sha}; nothing was installed`,
        { where: url },
      );
    mkdirSync(partial);
    await extractPackage(tgz, partial, url, { maxBytes: o.maxUnpackedBytes });
    const pkg = readPackage(partial);
    if (pkg?.name !== 'sigflow' || pkg.version !== version)
      throw new SigflowError(
        'SF_ERR_UPDATE_PACKAGE',
        `${url} holds ${pkg ? `package ${pkg.name}@${pkg.version}` : 'no package.json'}, not sigflow@${version}`,
        { where: url },
      );
    const bin = join(partial, 'bin', 'sigflow');
    if (!existsSync(bin) || !existsSync(join(partial, 'dist', 'src', 'cli', 'main.js')))
      throw new SigflowError(
        'SF_ERR_UPDATE_PACKAGE',
        `${url} has no bin/sigflow or dist/src/cli/main.js (was it packed after "npm run build"?)`,
        { where: url },
      );
    chmodSync(bin, 0o755);
    const deps = await installDeps(partial, resolve(o.currentDir), o.signal);
    writeFileSync(
      join(partial, COMPLETE_MARKER),
      `${JSON.stringify({ version, sha256: sha, url, bytes: got.bytes, deps, stagedAt: new Date().toISOString() })}\n`,
    );
    fsyncDir(partial);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
    fsyncDir(l.versions);
    return { version, dir, reused: false, bytes: got.bytes, deps };
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    throw e;
  } finally {
    rmSync(tgz, { force: true });
  }
}
