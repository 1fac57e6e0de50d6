/**
 * The one walker of log trees on local disk, shared by every command that reads a folder of logs (`logs index`
 * through LocalLogStore, `frames`/`decode`/`import` through the pipeline's input expansion), so they all see the
 * same files:
 *
 * - recursive, depth first, entries in name order; names starting with `.` (caches, .git) are skipped;
 * - symbolic links are followed, to files and to folders; a folder is entered once (by device + inode), so link
 *   loops end, and a file reached twice (a link beside its target) is listed once, under the first path met;
 * - nothing is skipped silently: a folder that cannot be listed, a dangling or looping link, an entry that cannot
 *   be stat'ed is reported to `onProblem` with its path and the system's reason, and the walk goes on.
 *
 * `fs` is a seam (readdir/stat) so that tests can make a listing fail even when they run as root.
 */
import { type Dirent, promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';

export interface TreeFile {
  /** Full path (root joined with the names walked; links are not resolved). */
  path: string;
  /** Path relative to the root, '/'-separated. */
  rel: string;
  size: number;
  mtimeMs: number;
}

/** A path that could not be listed or read, and why (`cannot list: EACCES`, `dangling link: ENOENT` …). */
export interface TreeProblem {
  path: string;
  message: string;
  /** The system's code (EACCES, ENOENT, ELOOP …) when there is one. */
  code?: string;
}

export interface TreeFs {
  readdir(path: string): Promise<Dirent[]>;
  stat(path: string): Promise<Stats>;
}

export interface WalkOptions {
  /** Only files whose name passes (checked before the file is stat'ed). Default: every file. */
  accept?: (name: string) => boolean;
  /** Called for every path that cannot be listed or read; the walk goes on. */
  onProblem?: (problem: TreeProblem) => void;
  /** The file system (a test seam). */
  fs?: TreeFs;
}

const nodeFs: TreeFs = {
  readdir: (path) => fsp.readdir(path, { withFileTypes: true }),
  stat: (path) => fsp.stat(path),
};

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

function why(err: unknown): string {
  return codeOf(err) ?? (err instanceof Error ? err.message : String(err));
}

/**
 * Walks the tree under `root` (a folder) and yields its files. Throws the system error when `root` itself cannot
 * be listed (callers name it their own way); everything below is reported to `onProblem`.
 */
export async function* walkTree(root: string, opts: WalkOptions = {}): AsyncGenerator<TreeFile> {
  const fs = opts.fs ?? nodeFs;
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  const problem = (path: string, message: string, err?: unknown) =>
    opts.onProblem?.({ path, message, code: codeOf(err) });
  const rootStat = await fs.stat(root);
  seenDirs.add(`${rootStat.dev}:${rootStat.ino}`);
  // depth first, in name order: a stack of [folder, rel] popped from the end, children pushed in reverse
  const stack: { dir: string; rel: string }[] = [{ dir: root, rel: '' }];
  let first = true;
  while (stack.length > 0) {
    const { dir, rel } = stack.pop() as { dir: string; rel: string };
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir);
    } catch (err) {
      if (first) throw err;
      problem(dir, `cannot list folder: ${why(err)}`, err);
      continue;
    }
    first = false;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: { dir: string; rel: string }[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      const link = e.isSymbolicLink();
      if (!link && !e.isDirectory() && !e.isFile()) continue; // sockets, fifos, devices
      if (!link && e.isFile() && opts.accept && !opts.accept(e.name)) continue;
      let st: Stats;
      try {
        st = await fs.stat(full);
      } catch (err) {
        const c = codeOf(err);
        if (link && opts.accept && !opts.accept(e.name)) continue; // a broken link we would not have read
        problem(
          full,
          link ? (c === 'ELOOP' ? 'link loop (ELOOP)' : `dangling link: ${why(err)}`) : `cannot read: ${why(err)}`,
          err,
        );
        continue;
      }
      const id = `${st.dev}:${st.ino}`;
      if (st.isDirectory()) {
        if (seenDirs.has(id)) continue; // a link back up the tree, or a second link to one folder
        seenDirs.add(id);
        subdirs.push({ dir: full, rel: relPath });
      } else if (st.isFile()) {
        if (opts.accept && !opts.accept(e.name)) continue;
        if (seenFiles.has(id)) continue;
        seenFiles.add(id);
        yield { path: full, rel: relPath, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
      }
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]);
  }
}
