/**
 * Watch mode of `sigflow import` (the replacement for the InfluxDB writer's Lambda): the inputs are listed and
 * imported again on an interval — the ledger skips what was imported, so each round reads only new or changed files
 * — and, with a listener, at once when the object store says a file arrived: S3 event notifications POSTed as
 * JSON (AWS S3 / MinIO webhook: `{"Records":[{"s3":{"bucket":{"name"},"object":{"key"}}}]}`; MinIO's `EventName`
 * and `Key` forms too). A notification only wakes the next round: the round lists the inputs itself, so a lost,
 * forged or duplicated notification can neither lose nor duplicate data.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SigflowError } from '../../errors/index.js';

export interface ImportTrigger {
  /** host:port it listens on. */
  address: string;
  /** Notifications received (valid JSON bodies). */
  received: number;
  /** Resolves at the next notification (or when `signal` aborts). */
  next(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** The object keys a notification names (for the log line); [] when the body has none. */
export function notifiedKeys(body: unknown): string[] {
  // any JSON may arrive (the listener is a trigger: what a body names is only logged) — never a throw
  const b = (body !== null && typeof body === 'object' ? body : {}) as { Records?: unknown; Key?: unknown };
  const out: string[] = [];
  for (const r of Array.isArray(b.Records) ? b.Records : []) {
    const s3 = (r as { s3?: { bucket?: { name?: unknown }; object?: { key?: unknown } } } | null)?.s3;
    const key = s3?.object?.key;
    if (typeof key !== 'string') continue;
    const bucket = typeof s3?.bucket?.name === 'string' ? s3.bucket.name : '?';
    let name = key.replace(/\+/g, ' ');
    try {
      name = decodeURIComponent(name);
    } catch {
      // not percent-encoded as S3 does it (`100%ZZ`): the key as it came
    }
    out.push(`${bucket}/${name}`);
  }
  if (out.length === 0 && typeof b.Key === 'string') out.push(b.Key);
  return out;
}

/**
 * Listens for S3 event notifications on `host:port` (POST any path; a body up to 1 MiB of JSON; 204). A token, when
 * given, must come as `Authorization: Bearer <token>` (MinIO: `auth_token` of the webhook target). 127.0.0.1 only
 * unless told otherwise (the caller decides the address).
 */
export async function startImportTrigger(
  host: string,
  port: number,
  opts: { token?: string; onNotice?: (keys: string[]) => void } = {},
): Promise<ImportTrigger> {
  let waiters: (() => void)[] = [];
  let pending = false;
  const trigger: ImportTrigger = {
    address: '',
    received: 0,
    next(signal) {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          waiters = waiters.filter((w) => w !== done);
          resolve();
        };
        waiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(req.method === 'HEAD' || req.method === 'GET' ? 200 : 405).end();
      return;
    }
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401).end();
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1 << 20) {
        res.writeHead(413).end();
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('not JSON\n');
        return;
      }
      trigger.received++;
      try {
        opts.onNotice?.(notifiedKeys(body));
      } catch {
        // the log line of a notice is no reason to miss the round it asks for
      }
      res.writeHead(204).end();
      const w = waiters;
      waiters = [];
      if (w.length === 0) pending = true;
      for (const f of w) f();
    });
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new SigflowError('SF_ERR_USAGE', `--listen ${host}:${port}: cannot listen: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  trigger.address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return trigger;
}

/** Waits `ms`, or until the trigger fires, or until `signal` aborts — whichever comes first. */
export async function untilNextRound(ms: number, signal: AbortSignal, trigger: ImportTrigger | null): Promise<void> {
  if (signal.aborted) return;
  const ac = new AbortController();
  const stop = () => ac.abort();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        ac.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      }),
      ...(trigger ? [trigger.next(ac.signal)] : []),
    ]);
  } finally {
    ac.abort();
    signal.removeEventListener('abort', stop);
  }
}
