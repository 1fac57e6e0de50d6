/**
 * Release tarballs: downloaded with a size cap and a sha256, their entries listed (a small tar header reader over
 * gunzip) and checked before the system `tar` extracts them — only regular files and folders under `package/`
 * (what `npm pack` makes), no absolute or `..` path, no links or devices.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { SigflowError } from '../errors/index.js';

/** The default size cap of a release tarball. */
export const DEFAULT_MAX_BYTES = 200 * 1024 * 1024;

export interface DownloadOptions {
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
  /** The whole download (default 10 min). */
  readonly timeoutMs?: number;
}

/**
 * Downloads `url` (http or https; redirects followed — the sha256 is what is trusted, not the host) into `file`;
 * returns its size and sha256. SF_ERR_UPDATE_DOWNLOAD on any failure (the partial file is removed).
 */
export async function download(
  url: string,
  file: string,
  o: DownloadOptions = {},
): Promise<{ bytes: number; sha256: string }> {
  const max = o.maxBytes ?? DEFAULT_MAX_BYTES;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SigflowError('SF_ERR_UPDATE_DOWNLOAD', `${url} is not a URL`, { where: url });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new SigflowError('SF_ERR_UPDATE_DOWNLOAD', `${url}: only http and https downloads are made`, { where: url });
  const timeout = AbortSignal.timeout(o.timeoutMs ?? 600_000);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  const fail = (why: string, cause?: unknown) =>
    new SigflowError('SF_ERR_UPDATE_DOWNLOAD', `download of ${url} failed: ${why}`, { where: url, cause });
  const fh = await open(file, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    let res: Response;
    try {
      res = await fetch(u, { signal, redirect: 'follow' });
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      throw fail(timeout.aborted ? 'timed out' : (c?.code ?? c?.message ?? (e as Error).message), e);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw fail(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > max) {
      await res.body.cancel().catch(() => {});
      throw fail(`${declared} bytes is more than the cap of ${max}`);
    }
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.byteLength;
        if (bytes > max) throw fail(`more than the cap of ${max} bytes`);
        hash.update(chunk);
        await fh.write(chunk);
      }
    } catch (e) {
      if (e instanceof SigflowError) throw e;
      throw fail(timeout.aborted ? 'timed out' : (e as Error).message, e);
    }
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(file, { force: true });
    throw e;
  }
  await fh.close();
  return { bytes, sha256: hash.digest('hex') };
}

export interface TarEntry {
  /** The path as stored (after pax/GNU long-name headers). */
  readonly name: string;
  /** The tar type flag: '0' file, '5' folder, '1' hard link, '2' symlink … */
  readonly type: string;
  readonly size: number;
}

function cstring(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

function octal(b: Buffer, start: number, len: number): number {
  if (b[start] & 0x80) {
    // base-256 (GNU) for sizes beyond 8 GiB
    let n = b[start] & 0x7f;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + b[i];
    return n;
  }
  const s = cstring(b, start, len).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

/** The path= of a pax extended header. */
function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number.parseInt(data.toString('utf8', off, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    off += len;
  }
  return path;
}

/** Lists the entries of a .tgz (streaming: the file is never held in memory). SF_ERR_UPDATE_PACKAGE when unreadable. */
export async function listTarGz(file: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const header = Buffer.alloc(512);
  let headerLen = 0;
  let remaining = 0; // data + padding bytes of the current entry still to pass
  let capture = null as Buffer[] | null; // the data of a pax/GNU long-name header
  let captureWant = 0;
  let captureKind = '';
  let nextName: string | undefined;
  let ended = false;
  const onHeader = () => {
    if (header.every((x) => x === 0)) {
      ended = true;
      return;
    }
    const type = String.fromCharCode(header[156] || 0x30);
    const size = octal(header, 124, 12);
    let name = cstring(header, 0, 100);
    if (header.toString('latin1', 257, 262) === 'ustar') {
      const prefix = cstring(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    remaining = Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'L' || type === 'g') {
      if (size > 1024 * 1024) throw new SigflowError('SF_ERR_UPDATE_PACKAGE', `a tar header of ${size} bytes`);
      capture = [];
      captureWant = size;
      captureKind = type;
      if (remaining === 0) finishCapture();
      return;
    }
    entries.push({ name: nextName ?? name, type, size });
    nextName = undefined;
  };
  const finishCapture = () => {
    const data = Buffer.concat(capture ?? []).subarray(0, captureWant);
    if (captureKind === 'x') nextName = paxPath(data) ?? nextName;
    else if (captureKind === 'L') nextName = cstring(data, 0, data.length);
    capture = null;
  };
  const gunzip = createGunzip();
  createReadStream(file)
    .on('error', (e) => gunzip.destroy(e))
    .pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length && !ended) {
        if (remaining > 0) {
          const n = Math.min(remaining, chunk.length - off);
          if (capture) capture.push(chunk.subarray(off, off + n));
          off += n;
          remaining -= n;
          if (remaining === 0 && capture) finishCapture();
        } else {
          const n = Math.min(512 - headerLen, chunk.length - off);
          chunk.copy(header, headerLen, off, off + n);
          headerLen += n;
          off += n;
          if (headerLen === 512) {
            headerLen = 0;
            onHeader();
          }
        }
      }
      if (ended) break;
    }
  } catch (e) {
    if (e instanceof SigflowError) throw e;
    throw new SigflowError('SF_ERR_UPDATE_PACKAGE', `${file} is not a readable .tgz: ${(e as Error).message}`, {
      where: file,
      cause: e,
    });
  } finally {
    gunzip.destroy();
  }
  return entries;
}

/**
 * Checks entries as `tar --strip-components=1` will extract them: every one under `package/`, none absolute, none
 * with a `..` part, only regular files and folders. SF_ERR_UPDATE_PACKAGE naming the first offending entry.
 */
export function checkPackageEntries(entries: readonly TarEntry[], file: string): void {
  if (entries.length === 0) throw new SigflowError('SF_ERR_UPDATE_PACKAGE', `${file} holds no files`, { where: file });
  for (const e of entries) {
    const bad = (why: string) =>
      new SigflowError('SF_ERR_UPDATE_PACKAGE', `${file}: entry "${e.name}" ${why}; nothing was installed`, {
        where: file,
      });
    if (e.name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(e.name)) throw bad('is an absolute path');
    const parts = e.name.split(/[\\/]/);
    if (parts.includes('..')) throw bad('has a ".." part (it would be written outside the version folder)');
    if (parts[0] !== 'package') throw bad('is not under package/ (not an npm pack tarball)');
    if (!['0', '\0', '7', '5'].includes(e.type)) throw bad(`is not a regular file or folder (tar type ${e.type})`);
  }
}
