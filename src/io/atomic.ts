/**
 * A file that appears complete or not at all: the bytes go to `<path>.<pid>.tmp` beside it, are synced and renamed
 * over `path`; on any error the temporary file is removed and the error (SF_ERR_IO_WRITE) names `path`. A file
 * already at `path` is replaced only by a complete one. (After SIGKILL or a power loss the `.tmp` can remain; it
 * never has the requested name.)
 */
import { close, fdatasync, openSync, write } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { writeError } from './output.js';

const writeP = promisify(write);
const closeFd = promisify(close);
const datasyncFd = promisify(fdatasync);

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
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
