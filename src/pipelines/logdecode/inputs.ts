/**
 * Input expansion: files and folders given on the command line → the log files to read, in CANedge tree order.
 * Folders are walked recursively (dot-folders skipped, directory symlinks not followed); a folder's files are
 * sorted by (tree prefix, device, session, split) for `<device>/<session>/<split>[-hex].ext` paths, other log
 * files (`*.mf4|mfc|mfe|mfm` outside a tree) after them by path. Explicit file arguments keep their order and are
 * read whatever their extension (the bytes decide what they are).
 */
import { type Dirent, promises as fsp } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { parseLogPath } from '../../formats/canedge/index.js';

export interface LogInput {
  /** Path as given / found (for messages). */
  path: string;
  size: number;
  /** Device folder from the tree layout, or null. */
  folderDevice: string | null;
  session: number | null;
  split: number | null;
}

/** An argument that is neither a readable file nor a folder. */
export interface InputProblem {
  path: string;
  message: string;
}

const LOG_EXT = /\.(mf4|mfc|mfe|mfm)$/i;

async function walk(root: string, out: string[]): Promise<void> {
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) stack.push(full);
      else if (e.isFile() && LOG_EXT.test(e.name)) out.push(full);
    }
  }
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

/** Expands the arguments; missing/unreadable arguments are returned as problems, not thrown. */
export async function expandInputs(args: string[]): Promise<{ files: LogInput[]; problems: InputProblem[] }> {
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
      const found: string[] = [];
      await walk(a, found);
      if (found.length === 0)
        problems.push({ path: a, message: 'no log files (*.MF4, *.MFC, *.MFE, *.MFM) in this folder' });
      for (const p of treeOrder(a, found)) {
        const key = resolve(p);
        if (seen.has(key)) continue;
        seen.add(key);
        try {
          files.push(describe(p, (await fsp.stat(p)).size));
        } catch (e) {
          problems.push({
            path: p,
            message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          });
        }
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
