/**
 * Release tarballs: downloaded with a size cap and a sha256, then extracted by a small tar reader over gunzip that
 * checks each entry as it writes it — only regular files and folders under `package/` (what `npm pack` makes), no
 * absolute or `..` path, no links or devices, a bounded unpacked size. One reader checks and extracts: with a check
 * by one parser and extraction by another (the system tar), a tarball both read differently (a pax `size` record
 * the checker ignored) slipped links past the check.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
  /** Data bytes (a pax `size` record wins over the header's field, as tar reads it). */
  readonly size: number;
  /** Permission bits of the header. */
  readonly mode: number;
}

/** Bounds of an extraction: a small tarball must not fill the disk (a gzip bomb). */
export interface ExtractLimits {
  /** Data bytes of all files together (default 1 GiB). */
  readonly maxBytes?: number;
  /** Entries (default 100,000). */
  readonly maxEntries?: number;
}

const DEFAULT_MAX_UNPACKED = 1024 ** 3;
const DEFAULT_MAX_ENTRIES = 100_000;

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

/** The records of a pax extended header that change how the next entry is read: its path and its size. */
function paxRecords(data: Buffer): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number.parseInt(data.toString('utf8', off, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    const key = eq > 0 ? rec.slice(0, eq) : '';
    if (key === 'path') out.path = rec.slice(eq + 1);
    else if (key === 'size') {
      const v = rec.slice(eq + 1);
      out.size = /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
    }
    off += len;
  }
  return out;
}

/** A header's checksum: the sum of its bytes with the checksum field as spaces (unsigned, or signed as old tars). */
function checksumOk(h: Buffer): boolean {
  const want = octal(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

/** Receives an entry's data (null: its end); see readTarGz. */
type DataSink = (chunk: Buffer | null) => void;

/**
 * Reads a .tgz as tar reads it (streaming: the file is never held in memory), calling `visit` for each entry — its
 * name after pax/GNU long-name headers, its size after a pax `size` record — and handing the entry's data to the
 * sink `visit` returns (none: skipped). SF_ERR_UPDATE_PACKAGE when unreadable or cut short.
 */
async function readTarGz(file: string, visit: (e: TarEntry) => DataSink | null): Promise<void> {
  const fail = (why: string, cause?: unknown) =>
    new SigflowError('SF_ERR_UPDATE_PACKAGE', `${file} is not a readable .tgz: ${why}`, { where: file, cause });
  const header = Buffer.alloc(512);
  let headerLen = 0;
  let dataLeft = 0; // data bytes of the current entry still to pass
  let padLeft = 0; // then padding to the next 512-byte block
  let sink = null as DataSink | null;
  let capture = null as Buffer[] | null; // the data of a pax/GNU long-name header
  let captureKind = '';
  let next: { path?: string; size?: number } = {};
  let ended = false;
  let headers = 0;
  const finishCapture = () => {
    const data = Buffer.concat(capture ?? []);
    if (captureKind === 'x') next = { ...next, ...paxRecords(data) };
    else next = { ...next, path: cstring(data, 0, data.length) };
    capture = null;
  };
  const onHeader = () => {
    if (header.every((x) => x === 0)) {
      ended = true;
      return;
    }
    headers++;
    if (!checksumOk(header)) throw fail(`tar header ${headers} is damaged (its checksum does not match)`);
    const type = String.fromCharCode(header[156] || 0x30);
    let size = octal(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw fail(`a header with a size field of ${size}`);
    let name = cstring(header, 0, 100);
    if (header.toString('latin1', 257, 262) === 'ustar') {
      const prefix = cstring(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (type === 'x' || type === 'L') {
      if (size > 1024 * 1024) throw fail(`a tar header of ${size} bytes`);
      capture = [];
      captureKind = type;
    } else {
      if (next.size !== undefined) {
        if (!Number.isSafeInteger(next.size)) throw fail(`entry "${next.path ?? name}" has a bad pax size`);
        size = next.size;
      }
      const entry: TarEntry = { name: next.path ?? name, type, size, mode: octal(header, 100, 8) };
      next = {};
      sink = visit(entry);
    }
    dataLeft = size;
    padLeft = (512 - (size % 512)) % 512;
    if (size === 0) endData();
  };
  const endData = () => {
    if (capture) finishCapture();
    else if (sink) sink(null);
    sink = null;
  };
  const gunzip = createGunzip();
  const source = createReadStream(file);
  source.on('error', (e) => gunzip.destroy(e)).pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length && !ended) {
        if (dataLeft > 0) {
          const n = Math.min(dataLeft, chunk.length - off);
          const part = chunk.subarray(off, off + n);
          if (capture) capture.push(Buffer.from(part));
          else if (sink) sink(part);
          off += n;
          dataLeft -= n;
          if (dataLeft === 0) endData();
        } else if (padLeft > 0) {
          const n = Math.min(padLeft, chunk.length - off);
          off += n;
          padLeft -= n;
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
    throw fail((e as Error).message, e);
  } finally {
    // the file too: a destroyed pipe destination leaves its source open (a refused release leaked its fd)
    gunzip.destroy();
    source.destroy();
  }
  if (!ended && (dataLeft > 0 || headerLen > 0 || capture)) throw fail('it ends in the middle of an entry');
}

/** Lists the entries of a .tgz (streaming). SF_ERR_UPDATE_PACKAGE when unreadable. */
export async function listTarGz(file: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  await readTarGz(file, (e) => {
    entries.push(e);
    return null;
  });
  return entries;
}

/** Why an entry may not be extracted from a release (null: it may), as `tar --strip-components=1` would place it. */
function entryProblem(e: TarEntry): string | null {
  if (e.name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(e.name)) return 'is an absolute path';
  const parts = e.name.split(/[\\/]/);
  if (parts.includes('..')) return 'has a ".." part (it would be written outside the version folder)';
  if (parts[0] !== 'package') return 'is not under package/ (not an npm pack tarball)';
  if (!['0', '\0', '7', '5'].includes(e.type)) return `is not a regular file or folder (tar type ${e.type})`;
  return null;
}

/**
 * Checks entries as `tar --strip-components=1` would extract them: every one under `package/`, none absolute, none
 * with a `..` part, only regular files and folders. SF_ERR_UPDATE_PACKAGE naming the first offending entry.
 */
export function checkPackageEntries(entries: readonly TarEntry[], file: string): void {
  if (entries.length === 0) throw new SigflowError('SF_ERR_UPDATE_PACKAGE', `${file} holds no files`, { where: file });
  for (const e of entries) {
    const why = entryProblem(e);
    if (why) throw refused(file, e.name, why);
  }
}

function refused(file: string, name: string, why: string): SigflowError {
  return new SigflowError('SF_ERR_UPDATE_PACKAGE', `${file}: entry "${name}" ${why}; nothing was installed`, {
    where: file,
  });
}

/**
 * Extracts an npm pack tarball into the empty folder `into` (its `package/` prefix stripped), with the reader that
 * checks it — one parser, so what is checked is what is written: only regular files and folders, none outside
 * `into` (no absolute path, no `..`), each file created new (never through an existing name: a name twice is
 * refused), at most `limits` bytes and entries. Modes: 0755 where the header has an execute bit, else 0644.
 * SF_ERR_UPDATE_PACKAGE naming the entry (`name` names the tarball); the caller removes `into` on failure.
 */
export async function extractPackage(
  file: string,
  into: string,
  name: string = file,
  limits: ExtractLimits = {},
): Promise<{ files: number; bytes: number }> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_UNPACKED;
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  let entries = 0;
  let files = 0;
  let bytes = 0;
  const made = new Set<string>([into]);
  let fd: number | null = null; // the file being written
  const folder = (dir: string) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    made.add(dir);
  };
  await readTarGz(file, (e) => {
    if (++entries > maxEntries) throw refused(name, e.name, `is one entry more than the limit of ${maxEntries}`);
    const why = entryProblem(e);
    if (why) throw refused(name, e.name, why);
    const rel = e.name
      .split('/')
      .slice(1)
      .filter((p) => p !== '' && p !== '.');
    if (rel.length === 0) return null; // package/ itself
    const path = join(into, ...rel);
    if (e.type === '5') {
      folder(path);
      return null;
    }
    bytes += e.size;
    if (bytes > maxBytes) throw refused(name, e.name, `takes the unpacked size beyond the limit of ${maxBytes} bytes`);
    folder(dirname(path));
    try {
      // 'wx': a new file only — never through a name that exists (a second entry of that name)
      fd = openSync(path, 'wx', e.mode & 0o111 ? 0o755 : 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw code === 'EEXIST'
        ? refused(name, e.name, 'appears twice')
        : new SigflowError('SF_ERR_UPDATE_PACKAGE', `cannot write ${path}: ${(err as Error).message}`, {
            where: path,
            cause: err,
          });
    }
    files++;
    return (chunk) => {
      if (fd === null) return;
      if (chunk) for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
      else {
        closeSync(fd);
        fd = null;
      }
    };
  }).finally(() => {
    if (fd !== null) closeSync(fd);
  });
  if (files === 0) throw new SigflowError('SF_ERR_UPDATE_PACKAGE', `${name} holds no files`, { where: name });
  return { files, bytes };
}
