/**
 * Input expansion: files and folders given on the command line → the log files to read, in CANedge tree order.
 * Folders are walked by the shared log-tree walker of src/formats/canedge (dot entries skipped, links followed
 * with loops cut, unreadable folders and dangling links reported as problems); a folder's files are
 * sorted by (tree prefix, device, session, split) for `<device>/<session>/<split>[-hex].ext` paths, other log
 * files (`*.mf4|mfc|mfe|mfm` outside a tree) after them by path. Explicit file arguments keep their order and are
 * read whatever their extension (the bytes decide what they are).
 */
import { promises as fsp } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { parseLogPath, type TreeFs, walkTree } from '../../formats/canedge/index.js';

export interface LogInput {
  /** Path as given / found (for messages). */
  path: string;
  size: number;
  /** Device folder from the tree layout, or null. */
  folderDevice: string | null;
  session: number | null;
  split: number | null;
}

/** An argument that is neither a readable file nor a folder, or a path inside a folder that cannot be read. */
export interface InputProblem {
  path: string;
  message: string;
}

const LOG_EXT = /\.(mf4|mfc|mfe|mfm)$/i;

/** The folder's log files (path → size) through the shared log-tree walker: the files `logs index` sees. */
async function walk(root: string, problems: InputProblem[], fs?: TreeFs): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const accept = (name: string) => LOG_EXT.test(name);
  try {
    for await (const f of walkTree(root, { accept, fs, onProblem: (p) => problems.push(p) })) out.set(f.path, f.size);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    problems.push({ path: root, message: `cannot list folder: ${why}` });
  }
  return out;
}

function treeOrder(root: string, paths: string[]): string[] {
  const keyed = paths.map((p) => {
    const rel = relative(root, p).split(sep).join('/');
    const lp = parseLogPath(rel) ?? parseLogPath(p.split(sep).join('/'));
    return { p, lp };
  });
  keyed.sort((a, b) => {
    if (a.lp && b.lp) {
      return (
        cmp(a.lp.prefix, b.lp.prefix) ||
        cmp(a.lp.device, b.lp.device) ||
        a.lp.session - b.lp.session ||
        a.lp.split - b.lp.split ||
        cmp(a.p, b.p)
      );
    }
    if (a.lp) return -1;
    if (b.lp) return 1;
    return cmp(a.p, b.p);
  });
  return keyed.map((k) => k.p);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describe(path: string, size: number): LogInput {
  const lp = parseLogPath(resolve(path).split(sep).join('/'));
  return { path, size, folderDevice: lp?.device ?? null, session: lp?.session ?? null, split: lp?.split ?? null };
}

/**
 * Expands the arguments; missing/unreadable arguments, folders that cannot be listed and dangling or looping
 * links inside folders are returned as problems (named by path), not thrown. `fs` is the walker's test seam.
 */
export async function expandInputs(
  args: string[],
  opts: { fs?: TreeFs } = {},
): Promise<{ files: LogInput[]; problems: InputProblem[] }> {
  const files: LogInput[] = [];
  const problems: InputProblem[] = [];
  const seen = new Set<string>();
  for (const a of args) {
    let st: Awaited<ReturnType<typeof fsp.stat>>;
    try {
      st = await fsp.stat(a);
    } catch (e) {
      problems.push({ path: a, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    if (st.isDirectory()) {
      const before = problems.length;
      const found = await walk(a, problems, opts.fs);
      if (found.size === 0 && problems.length === before)
        problems.push({ path: a, message: 'no log files (*.MF4, *.MFC, *.MFE, *.MFM) in this folder' });
      for (const p of treeOrder(a, [...found.keys()])) {
        const key = resolve(p);
        if (seen.has(key)) continue;
        seen.add(key);
        files.push(describe(p, found.get(p) as number));
      }
    } else if (st.isFile()) {
      const key = resolve(a);
      if (seen.has(key)) continue;
      seen.add(key);
      files.push(describe(a, st.size));
    } else {
      problems.push({ path: a, message: 'not a regular file or folder' });
    }
  }
  return { files, problems };
}
