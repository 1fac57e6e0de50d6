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
import { type ByteSource, S3Bucket, type S3Location } from '../../io/index.js';

export interface LogInput {
  /** Path as given / found (for messages), or `s3://bucket/key`. */
  path: string;
  size: number;
  /** Opens the bytes when they are not a local file (an S3 object); absent: `path` is a local file. */
  open?: () => Promise<ByteSource>;
  /** Last modification (ms since the epoch) when the listing gave it (S3: LastModified). */
  mtimeMs?: number;
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
async function walk(
  root: string,
  problems: InputProblem[],
  fs?: TreeFs,
): Promise<Map<string, { size: number; mtimeMs: number }>> {
  const out = new Map<string, { size: number; mtimeMs: number }>();
  const accept = (name: string) => LOG_EXT.test(name);
  try {
    for await (const f of walkTree(root, { accept, fs, onProblem: (p) => problems.push(p) }))
      out.set(f.path, { size: f.size, mtimeMs: f.mtimeMs });
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

/** A local log: `mtimeMs` (whole ms) tells a rewritten log of the same size from the one a ledger saw. */
function describe(path: string, st: { size: number; mtimeMs: number }): LogInput {
  const lp = parseLogPath(resolve(path).split(sep).join('/'));
  return {
    path,
    size: st.size,
    mtimeMs: Math.trunc(st.mtimeMs),
    folderDevice: lp?.device ?? null,
    session: lp?.session ?? null,
    split: lp?.split ?? null,
  };
}

/**
 * Expands the arguments; missing/unreadable arguments, folders that cannot be listed and dangling or looping
 * links inside folders are returned as problems (named by path), not thrown. `fs` is the walker's test seam.
 */
export async function expandInputs(
  args: string[],
  opts: { fs?: TreeFs; s3?: Omit<S3Location, 'bucket' | 'prefix'> } = {},
): Promise<{ files: LogInput[]; problems: InputProblem[] }> {
  const files: LogInput[] = [];
  const problems: InputProblem[] = [];
  const seen = new Set<string>();
  for (const a of args) {
    if (/^s3:\/\//i.test(a)) {
      await expandS3(a, opts.s3 ?? {}, files, problems, seen);
      continue;
    }
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
        files.push(describe(p, found.get(p) as { size: number; mtimeMs: number }));
      }
    } else if (st.isFile()) {
      const key = resolve(a);
      if (seen.has(key)) continue;
      seen.add(key);
      files.push(describe(a, st));
    } else {
      problems.push({ path: a, message: 'not a regular file or folder' });
    }
  }
  return { files, problems };
}

/**
 * An `s3://bucket/prefix` argument: its log objects (listed with every page), in tree order, opened with ranged
 * GETs. A prefix that names one object is that object. Credentials and endpoint: `s3` (else the AWS chain).
 */
async function expandS3(
  url: string,
  s3: Omit<S3Location, 'bucket' | 'prefix'>,
  files: LogInput[],
  problems: InputProblem[],
  seen: Set<string>,
): Promise<void> {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(url);
  if (!m?.[1]) {
    problems.push({ path: url, message: 'not an S3 URL (s3://bucket/prefix)' });
    return;
  }
  const bucket = new S3Bucket({ ...s3, bucket: m[1], prefix: '' });
  const found = new Map<string, { size: number; mtimeMs: number }>();
  try {
    for await (const o of bucket.list(m[2])) {
      if (
        LOG_EXT.test(o.key) &&
        (o.key === m[2] || m[2] === '' || m[2].endsWith('/') || o.key.startsWith(`${m[2]}/`))
      ) {
        found.set(o.key, { size: o.size, mtimeMs: o.mtimeMs });
      }
    }
  } catch (e) {
    // the error names the listing it failed (s3://bucket/prefix): not twice
    problems.push({ path: url, message: (e as Error).message.replace(/^s3:\/\/\S*: /, '') });
    return;
  }
  if (found.size === 0) {
    problems.push({ path: url, message: 'no log files (*.MF4, *.MFC, *.MFE, *.MFM) under this prefix' });
    return;
  }
  for (const key of treeOrder('', [...found.keys()])) {
    const path = `s3://${m[1]}/${key}`;
    if (seen.has(path)) continue;
    seen.add(path);
    const lp = parseLogPath(key);
    const { size, mtimeMs } = found.get(key) as { size: number; mtimeMs: number };
    files.push({
      path,
      size,
      mtimeMs,
      open: () => bucket.open(key),
      folderDevice: lp?.device ?? null,
      session: lp?.session ?? null,
      split: lp?.split ?? null,
    });
  }
}
