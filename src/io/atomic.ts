/**
 * Files that appear complete or not at all: the bytes go to a temporary name beside the file, are synced and
 * renamed over it; a file already there is replaced only by a complete one. (After SIGKILL or a power loss the
 * temporary file can remain; it never has the requested name.)
 */

import { randomBytes } from 'node:crypto';
import {
  close,
  closeSync,
  copyFileSync,
  existsSync,
  fdatasync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  write,
  writeFileSync,
} from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { writeError } from './output.js';

const writeP = promisify(write);
const closeFd = promisify(close);
const datasyncFd = promisify(fdatasync);

/**
 * A temporary name beside `path`: `<path>.<pid>-<random>.tmp`. The random part keeps two processes apart that
 * share a folder and a pid (pid 1 of two containers on one volume).
 */
export function tempPath(path: string): string {
  return `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Writes `bytes` to `tempPath(path)`, datasyncs and renames it over `path` (the folder must exist); on any error
 * the temporary file is removed and the error (SF_ERR_IO_WRITE) names `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPath(path);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    let at = 0;
    while (at < bytes.length) at += (await writeP(fd, bytes, at, bytes.length - at, null)).bytesWritten;
    await datasyncFd(fd);
    const f = fd;
    fd = null;
    await closeFd(f);
    await rename(tmp, path);
  } catch (e) {
    if (fd !== null) await closeFd(fd).catch(() => {});
    await unlink(tmp).catch(() => {});
    throw writeError(path, e);
  }
}

/**
 * The synchronous form for small state files: creates the folder, writes `tempPath(file)` (with `mode` when
 * given), fsyncs, renames it over `file` and syncs the folder (so the new name survives a power loss too). On an
 * error the temporary file is removed; errors are the system's.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode?: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tempPath(file);
  try {
    writeFileSync(tmp, data, mode === undefined ? undefined : { mode });
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(file));
}

/**
 * Puts the complete file `ready` (written by the caller beside `file`) in place of `file`, keeping what was there as
 * `previous`: `ready` is synced; the old file gets its second name by a hard link (a copy where links are not
 * possible) made under a temporary name and renamed onto `previous`; then `ready` is renamed over `file` and the
 * folder synced. At no moment is there no `file` — renaming the old file aside first left none after a crash
 * between the two renames, and the next start had no config at all.
 */
export function replaceKeepingPrevious(file: string, ready: string, previous: string): void {
  const fd = openSync(ready, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (existsSync(file)) {
    const tmp = tempPath(previous);
    try {
      try {
        linkSync(file, tmp);
      } catch {
        copyFileSync(file, tmp);
      }
      renameSync(tmp, previous);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }
  renameSync(ready, file);
  fsyncDir(dirname(file));
}

/** Syncs a folder's entries (a rename or a new file in it); a file system that cannot sync folders is let be. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // not every file system lets a folder be synced; the rename itself is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
