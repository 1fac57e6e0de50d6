/**
 * S3 objects as ByteSources, and bucket listings: any S3-compatible store (AWS, MinIO, Ceph, GCS's XML API …)
 * through @aws-sdk/client-s3, loaded on first use (commands that never touch S3 do not pay for it).
 *
 * Reads are ranged GETs in aligned blocks (`blockSize`, default 1 MiB; a larger read fetches what it asks for):
 * the MDF4 reader's small header reads share a block, and its sequential data reads get one GET each. At most
 * `blocks` blocks (default 4) are kept per open object: memory per object is bounded whatever its size.
 * Credentials: the ones given, else the SDK's default chain (environment, shared files, instance roles).
 * A custom CA (a private MinIO) is a PEM file. Errors are IoErrors naming `s3://bucket/key`.
 */
import { readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { IoError } from './errors.js';
import { type ByteSource, isValidRange, rangeError } from './source.js';

export interface S3Location {
  /** http(s)://host:port of an S3-compatible server; omit for AWS (region endpoints). */
  endpoint?: string;
  region?: string;
  bucket: string;
  /** Key prefix of the tree ('' or ending in '/'). */
  prefix?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** PEM file of the CA that signed the server's certificate. */
  caFile?: string;
  /** Path-style addressing (default: true with an endpoint, as MinIO wants). */
  forcePathStyle?: boolean;
  /** A request with no byte from the server for this long fails (and is retried by the SDK); default 60 s. */
  idleTimeoutMs?: number;
}

export interface S3Object {
  key: string;
  size: number;
  mtimeMs: number;
  /** The object's ETag as listed (quotes included; '' when the server gives none). */
  etag: string;
}

type Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Promise<Sdk> | null = null;
function loadSdk(): Promise<Sdk> {
  // the SDK warns on Node 20 that its releases after January 2027 need Node 22; the lockfile pins this one
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  sdk ??= import('@aws-sdk/client-s3');
  return sdk;
}

/** `s3://bucket/prefix` (for messages and index keys). */
export function s3Url(loc: S3Location, key = loc.prefix ?? ''): string {
  return `s3://${loc.bucket}/${key}`;
}

function s3Error(
  code: 'SF_ERR_IO_OPEN' | 'SF_ERR_IO_READ' | 'SF_ERR_IO_WRITE',
  name: string,
  what: string,
  err: unknown,
): IoError {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return new IoError(
    code,
    name,
    `${what}: ${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}

/** One client per location (connections are pooled by the SDK). */
export class S3Bucket {
  private client: S3Client | null = null;

  constructor(readonly loc: S3Location) {}

  get id(): string {
    return `${s3Url(this.loc)}${this.loc.endpoint ? ` at ${this.loc.endpoint}` : ''}`;
  }

  private async getClient(): Promise<{ client: S3Client; sdk: Sdk }> {
    const s = await loadSdk();
    if (!this.client) {
      const { loc } = this;
      // a server that stops answering fails the request (the SDK retries it) instead of holding the caller for ever:
      // 10 s to connect, 60 s without a byte (the handler's options, given as a plain object)
      const requestHandler: Record<string, unknown> = {
        connectionTimeout: 10_000,
        requestTimeout: loc.idleTimeoutMs ?? 60_000,
        // (without it the handler only warns when the time is up, and the request hangs on)
        throwOnRequestTimeout: true,
      };
      if (loc.caFile) {
        const { Agent } = await import('node:https');
        let ca: Buffer;
        try {
          ca = readFileSync(loc.caFile);
        } catch (e) {
          throw new IoError('SF_ERR_IO_OPEN', loc.caFile, `cannot read the S3 CA certificate: ${(e as Error).message}`);
        }
        requestHandler.httpsAgent = new Agent({ ca });
      }
      this.client = new s.S3Client({
        endpoint: loc.endpoint,
        region: loc.region ?? process.env.AWS_REGION ?? 'us-east-1',
        forcePathStyle: loc.forcePathStyle ?? loc.endpoint !== undefined,
        credentials:
          loc.accessKeyId && loc.secretAccessKey
            ? { accessKeyId: loc.accessKeyId, secretAccessKey: loc.secretAccessKey }
            : undefined,
        requestHandler: requestHandler as never,
      });
    }
    return { client: this.client, sdk: s };
  }

  /** The pages of a listing under `prefix` (relative to the location's prefix); `shallow`: `/`-delimited. */
  private async *pages(
    prefix: string,
    shallow: boolean,
  ): AsyncIterable<import('@aws-sdk/client-s3').ListObjectsV2CommandOutput> {
    const { client, sdk: s } = await this.getClient();
    const full = (this.loc.prefix ?? '') + prefix;
    let token: string | undefined;
    const seen = new Set<string>();
    do {
      let page: import('@aws-sdk/client-s3').ListObjectsV2CommandOutput;
      try {
        page = await client.send(
          new s.ListObjectsV2Command({
            Bucket: this.loc.bucket,
            Prefix: full,
            ContinuationToken: token,
            Delimiter: shallow ? '/' : undefined,
          }),
        );
      } catch (e) {
        throw s3Error('SF_ERR_IO_OPEN', s3Url(this.loc, full), 'cannot list', e);
      }
      yield page;
      if (!page.IsTruncated) return;
      // a server's listing that says "more" without saying where, or that comes back to a page it gave, would
      // end early unseen (files never imported) or never (a hang): both are errors naming the listing
      const next = page.NextContinuationToken;
      if (!next)
        throw new IoError(
          'SF_ERR_IO_OPEN',
          s3Url(this.loc, full),
          'cannot list: a truncated listing page gives no continuation token',
        );
      if (seen.has(next))
        throw new IoError(
          'SF_ERR_IO_OPEN',
          s3Url(this.loc, full),
          'cannot list: the listing returns to a page it already gave (a loop)',
        );
      seen.add(next);
      token = next;
    } while (token);
  }

  /** Every object under `prefix` (relative to the location's prefix), all pages; `shallow`: not in sub-folders. */
  async *list(prefix = '', shallow = false): AsyncIterable<S3Object> {
    const base = this.loc.prefix ?? '';
    for await (const page of this.pages(prefix, shallow))
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        yield {
          key: o.Key.slice(base.length),
          size: o.Size ?? 0,
          mtimeMs: o.LastModified?.getTime() ?? 0,
          etag: o.ETag ?? '',
        };
      }
  }

  /** The names of the "folders" directly under `prefix` (a `/`-delimited listing's common prefixes), all pages. */
  async folders(prefix = ''): Promise<string[]> {
    const full = (this.loc.prefix ?? '') + prefix;
    const out: string[] = [];
    for await (const page of this.pages(prefix, true))
      for (const p of page.CommonPrefixes ?? [])
        if (p.Prefix?.startsWith(full) && p.Prefix.endsWith('/')) out.push(p.Prefix.slice(full.length, -1));
    return out;
  }

  /**
   * The bytes of a range of an object (`key` relative to the location's prefix). `etag`: the object must still be
   * that version (If-Match, and the answer's ETag compared: a server that ignores If-Match is caught too).
   */
  getRange(key: string, offset: number, length: number, etag?: string): Promise<Uint8Array> {
    return this.get(
      key,
      `bytes=${offset}-${offset + length - 1}`,
      `cannot read bytes ${offset}–${offset + length - 1}`,
      etag,
    );
  }

  /**
   * A whole (small) object: DBC files, passwords.json, the lake's side files. `maxBytes`: a larger object is an
   * error before its body is read (a bucket's stray multi-GB file named .dbc must not exhaust memory).
   */
  getAll(key: string, maxBytes?: number): Promise<Uint8Array> {
    return this.get(key, undefined, 'cannot read', undefined, maxBytes);
  }

  /**
   * One GET (of a range, or whole). The SDK retries a request that fails; a body cut off after the answer began
   * ("aborted": the connection closed mid-object) is asked for again here, twice, before it is an error.
   */
  private async get(
    key: string,
    range: string | undefined,
    what: string,
    etag?: string,
    maxBytes?: number,
  ): Promise<Uint8Array> {
    const { client, sdk: s } = await this.getClient();
    const full = (this.loc.prefix ?? '') + key;
    const changed = (now: string) =>
      new IoError(
        'SF_ERR_IO_READ',
        s3Url(this.loc, full),
        `${what}: the object changed since it was opened (ETag ${etag} then, ${now} now); read it again`,
      );
    for (let attempt = 1; ; attempt++) {
      let body: { transformToByteArray(): Promise<Uint8Array> } | undefined;
      try {
        const cmd = new s.GetObjectCommand({
          Bucket: this.loc.bucket,
          Key: full,
          ...(range ? { Range: range } : {}),
          ...(etag ? { IfMatch: etag } : {}),
        });
        const res = await client.send(cmd);
        if (etag && res.ETag && res.ETag !== etag) throw changed(res.ETag);
        if (maxBytes !== undefined && (res.ContentLength ?? 0) > maxBytes) {
          (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
          throw new IoError(
            'SF_ERR_IO_READ',
            s3Url(this.loc, full),
            `${what}: ${res.ContentLength} bytes, more than the ${maxBytes} this file may have`,
          );
        }
        body = res.Body;
      } catch (e) {
        if (e instanceof IoError) throw e;
        if (etag && (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412)
          throw changed('another');
        throw s3Error('SF_ERR_IO_READ', s3Url(this.loc, full), what, e);
      }
      try {
        return (await body?.transformToByteArray()) ?? new Uint8Array(0);
      } catch (e) {
        if (attempt >= 3) throw s3Error('SF_ERR_IO_READ', s3Url(this.loc, full), what, e);
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  /**
   * Writes a whole object (one PUT: it appears complete or not at all). `ifAbsent`: only when no object has the key
   * (a conditional PUT, `If-None-Match: *`); false when one had it.
   */
  async put(key: string, body: Uint8Array | string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const { client, sdk: s } = await this.getClient();
    const full = (this.loc.prefix ?? '') + key;
    try {
      await client.send(
        new s.PutObjectCommand({
          Bucket: this.loc.bucket,
          Key: full,
          Body: body,
          ...(opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return true;
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (opts.ifAbsent && status === 412) return false;
      throw s3Error('SF_ERR_IO_WRITE', s3Url(this.loc, full), 'cannot write', e);
    }
  }

  /** Deletes an object (none: nothing to do). */
  async delete(key: string): Promise<void> {
    const { client, sdk: s } = await this.getClient();
    const full = (this.loc.prefix ?? '') + key;
    try {
      await client.send(new s.DeleteObjectCommand({ Bucket: this.loc.bucket, Key: full }));
    } catch (e) {
      throw s3Error('SF_ERR_IO_WRITE', s3Url(this.loc, full), 'cannot delete', e);
    }
  }

  /** Opens an object for random access (one HEAD for its size). */
  async open(key: string, opts: { blockSize?: number; blocks?: number } = {}): Promise<S3Source> {
    const { client, sdk: s } = await this.getClient();
    const full = (this.loc.prefix ?? '') + key;
    let size: number;
    let etag: string | undefined;
    try {
      const h = await client.send(new s.HeadObjectCommand({ Bucket: this.loc.bucket, Key: full }));
      size = h.ContentLength ?? 0;
      etag = h.ETag || undefined;
    } catch (e) {
      throw s3Error('SF_ERR_IO_OPEN', s3Url(this.loc, full), 'cannot open', e);
    }
    return new S3Source(this, key, s3Url(this.loc, full), size, opts.blockSize ?? 1 << 20, opts.blocks ?? 4, etag);
  }

  destroy(): void {
    this.client?.destroy();
    this.client = null;
  }
}

/** An S3 object as a ByteSource: aligned block reads, a few blocks kept (see the file comment). */
export class S3Source implements ByteSource {
  private readonly blocks = new Map<number, Promise<Uint8Array>>();
  private closed = false;

  constructor(
    private readonly bucket: S3Bucket,
    private readonly key: string,
    readonly name: string,
    readonly size: number,
    private readonly blockSize: number,
    private readonly keep: number,
    /** The version opened: every range must come from it (an object replaced mid-read would be spliced). */
    private readonly etag?: string,
  ) {}

  private block(i: number): Promise<Uint8Array> {
    let b = this.blocks.get(i);
    if (b) {
      this.blocks.delete(i);
      this.blocks.set(i, b);
      return b;
    }
    const start = i * this.blockSize;
    b = this.range(start, Math.min(this.blockSize, this.size - start));
    this.blocks.set(i, b);
    b.catch(() => this.blocks.delete(i));
    while (this.blocks.size > this.keep) this.blocks.delete(this.blocks.keys().next().value as number);
    return b;
  }

  /**
   * `length` bytes at `offset`, exactly: an answer of another length (the object replaced by a shorter one since the
   * open, a server that ignores Range) is an error — it was copied into a zeroed buffer, and zeros decoded as data.
   */
  private async range(offset: number, length: number): Promise<Uint8Array> {
    const bytes = await this.bucket.getRange(this.key, offset, length, this.etag);
    if (bytes.length !== length)
      throw new IoError(
        'SF_ERR_IO_READ',
        this.name,
        `bytes ${offset}–${offset + length - 1} came back ${bytes.length} long: the object changed since it was opened (${this.size} bytes then), or the server ignores ranges`,
      );
    return bytes;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new IoError('SF_ERR_IO_CLOSED', this.name, 'read after close');
    if (!isValidRange(offset, length)) throw rangeError(this.name, offset, length);
    const len = Math.max(0, Math.min(length, this.size - offset));
    if (len === 0) return new Uint8Array(0);
    // a read of more than two blocks goes straight to the server (sequential data reads)
    if (len > 2 * this.blockSize) return this.range(offset, len);
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + len - 1) / this.blockSize);
    if (first === last) {
      const b = await this.block(first);
      const at = offset - first * this.blockSize;
      return b.subarray(at, at + len);
    }
    const out = new Uint8Array(len);
    let o = 0;
    for (let i = first; i <= last; i++) {
      const b = await this.block(i);
      const from = i === first ? offset - i * this.blockSize : 0;
      const n = Math.min(b.length - from, len - o);
      out.set(b.subarray(from, from + n), o);
      o += n;
    }
    return out;
  }

  close(): void {
    this.closed = true;
    this.blocks.clear();
  }
}
