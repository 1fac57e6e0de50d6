/**
 * The install root of an updatable sigflow (README.md "Layout"): `versions/<v>/` (whole packages), the `current`
 * and `previous` links, `state/`. Paths, version names, links replaced atomically (state files: src/io writeFileAtomicSync).
 */
import {
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SigflowError } from '../errors/index.js';
import { fsyncDir, tempPath } from '../io/index.js';

/** Written last into a staged version (inside `<v>.partial`, before the rename): the version is complete. */
export const COMPLETE_MARKER = '.sigflow-complete';

export interface Layout {
  readonly root: string;
  readonly versions: string;
  readonly current: string;
  readonly previous: string;
  readonly stateDir: string;
  /** What the last update did (update.json). */
  readonly stateFile: string;
  /** The pid of the running `sigflow run` and its version (recordRunningPid). */
  readonly runningPidFile: string;
  /** Downloads in progress. */
  readonly downloads: string;
}

export function layoutOf(root: string): Layout {
  const r = resolve(root);
  return {
    root: r,
    versions: join(r, 'versions'),
    current: join(r, 'current'),
    previous: join(r, 'previous'),
    stateDir: join(r, 'state'),
    stateFile: join(r, 'state', 'update.json'),
    runningPidFile: join(r, 'state', 'running.pid'),
    downloads: join(r, 'state', 'downloads'),
  };
}

const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

/** `v` when it is a plain version (a folder name: no `/`, no `..`, not `*.partial`), else SF_ERR_UPDATE_VERSION. */
export function checkVersion(v: string): string {
  if (typeof v !== 'string' || !VERSION_RE.test(v) || v.includes('..') || v.endsWith('.partial'))
    throw new SigflowError(
      'SF_ERR_UPDATE_VERSION',
      `"${String(v)}" is not a version (letters, digits and . + - _, at most 64, e.g. 1.4.2)`,
    );
  return v;
}

export function versionDir(root: string, version: string): string {
  return join(layoutOf(root).versions, checkVersion(version));
}

/** True when `dir` is a staged version whose marker was written (it was complete before it got its name). */
export function isComplete(dir: string): boolean {
  return existsSync(join(dir, COMPLETE_MARKER));
}

/** The marker's content ({version, sha256, stagedAt, deps}), or null. */
export function readMarker(dir: string): { version?: string; sha256?: string } | null {
  try {
    return JSON.parse(readFileSync(join(dir, COMPLETE_MARKER), 'utf8')) as { version?: string; sha256?: string };
  } catch {
    return null;
  }
}

/** The version a link (`current`, `previous`) points to: the name of its `versions/<v>` target; null when absent. */
export function linkVersion(root: string, which: 'current' | 'previous'): string | null {
  const l = layoutOf(root);
  const link = which === 'current' ? l.current : l.previous;
  let target: string;
  try {
    target = readlinkSync(link);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SigflowError('SF_ERR_UPDATE_LAYOUT', `${link} is not a symbolic link to versions/<version>`, {
      where: link,
      cause: e,
    });
  }
  const abs = resolve(l.root, target);
  if (dirname(abs) !== l.versions)
    throw new SigflowError(
      'SF_ERR_UPDATE_LAYOUT',
      `${link} points to ${target}, not to a folder of ${l.versions}; fix the link by hand`,
      { where: link },
    );
  return basename(abs);
}

export function currentVersion(root: string): string | null {
  return linkVersion(root, 'current');
}

export function previousVersion(root: string): string | null {
  return linkVersion(root, 'previous');
}

/**
 * Points `link` at `versions/<version>` (a relative target, so the root can be moved) atomically: a new link under
 * a temporary name, renamed over the old one — a reader sees the old target or the new one, never none.
 */
export function pointLink(root: string, link: string, version: string): void {
  const tmp = tempPath(link);
  symlinkSync(join('versions', checkVersion(version)), tmp);
  renameSync(tmp, link);
  fsyncDir(layoutOf(root).root);
}

/** Removes a link (not what it points to). */
export function removeLink(root: string, link: string): void {
  try {
    if (lstatSync(link).isSymbolicLink()) rmSync(link);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  fsyncDir(layoutOf(root).root);
}

/** The real path of `p`, or of its longest existing ancestor joined with the rest (for paths not created yet). */
export function realish(p: string): string {
  let head = resolve(p);
  const tail: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...tail);
    } catch {
      const up = dirname(head);
      if (up === head) return resolve(p);
      tail.unshift(basename(head));
      head = up;
    }
  }
}

/** True when `child` is `parent` or inside it (after resolving links). */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(realish(parent), realish(child));
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The folder of the running sigflow package (the one holding its package.json and bin/), found by walking up from
 * this module: `<root>/versions/<v>` when it runs from an install root, the checkout in development.
 */
export function runningPackageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'sigflow') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new SigflowError('SF_ERR_UPDATE_LAYOUT', 'the running sigflow has no package.json above its modules');
    dir = up;
  }
}

/** The install root a package folder belongs to (`<root>` of `<root>/versions/<v>`), or null when it is not in one. */
export function installRootOf(packageDir: string): string | null {
  const real = realish(packageDir);
  const versions = dirname(real);
  if (basename(versions) !== 'versions') return null;
  const root = dirname(versions);
  try {
    return statSync(join(root, 'versions')).isDirectory() ? root : null;
  } catch {
    return null;
  }
}
