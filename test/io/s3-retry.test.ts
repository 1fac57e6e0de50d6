/**
 * An S3 object whose body is cut off mid-answer (the connection closed after the headers and part of the bytes)
 * is asked for again: a small server that cuts the first answers of each object short stands in for S3.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { S3Bucket, type S3Location } from '../../src/io/index.js';

const BODY = Buffer.from('0123456789'.repeat(1000));

/** An S3Bucket over `server` (listening on 127.0.0.1, any port), and how to stop it. */
async function bucketOn(
  server: Server,
  extra: Partial<S3Location> = {},
): Promise<{ bucket: S3Bucket; close: () => Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const bucket = new S3Bucket({
    endpoint: `http://127.0.0.1:${port}`,
    bucket: 'b',
    accessKeyId: 'k',
    secretAccessKey: 's',
    ...extra,
  });
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { bucket, close };
}

test('a body cut off mid-object is asked for again; after three cut answers it is an error naming the object', async () => {
  let cutsLeft = 0;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`);
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const body = range ? BODY.subarray(Number(range[1]), Number(range[2]) + 1) : BODY;
    res.writeHead(range ? 206 : 200, {
      'content-length': String(body.length),
      'content-type': 'application/octet-stream',
    });
    if (cutsLeft > 0) {
      cutsLeft--;
      res.write(body.subarray(0, 10));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.end(body);
  });
  const { bucket, close } = await bucketOn(server);
  try {
    cutsLeft = 2;
    assert.deepEqual(Buffer.from(await bucket.getAll('x.json')), BODY);
    cutsLeft = 1;
    assert.deepEqual(Buffer.from(await bucket.getRange('log.MF4', 100, 50)), BODY.subarray(100, 150));
    cutsLeft = 3;
    await assert.rejects(bucket.getAll('x.json'), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'SF_ERR_IO_READ');
      assert.match((e as Error).message, /s3:\/\/b\/x\.json/);
      return true;
    });
  } finally {
    await close();
  }
  assert.ok(requests.length >= 8, requests.join('\n'));
});

test('a server that stops answering fails the read, naming the object (no hang); a listing that loops or stops short is an error', async () => {
  let mode: 'stall' | 'loop' | 'short' = 'stall';
  const server = createServer((req, res) => {
    if (mode === 'stall') return; // never answers
    const list = (body: string) => {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>${body}</ListBucketResult>`);
    };
    const key =
      '<Contents><Key>LOG/a.MF4</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"x"</ETag></Contents>';
    if (mode === 'loop')
      list(`<IsTruncated>true</IsTruncated><NextContinuationToken>SAME</NextContinuationToken>${key}`);
    else list(`<IsTruncated>true</IsTruncated>${key}`);
  });
  const { bucket, close } = await bucketOn(server, { idleTimeoutMs: 300 });
  try {
    const t0 = performance.now();
    await assert.rejects(bucket.getAll('x.json'), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'SF_ERR_IO_READ');
      assert.match((e as Error).message, /s3:\/\/b\/x\.json/);
      return true;
    });
    assert.ok(performance.now() - t0 < 20_000, `${performance.now() - t0} ms`);
    const listAll = async () => {
      const keys: string[] = [];
      for await (const o of bucket.list('LOG/')) keys.push(o.key);
      return keys;
    };
    mode = 'loop';
    await assert.rejects(listAll(), /returns to a page it already gave/);
    mode = 'short';
    await assert.rejects(listAll(), /truncated listing page gives no continuation token/);
  } finally {
    await close();
  }
});

test('an object that comes back shorter than it was at open is an error, not zero-padded data', async () => {
  let size = 10_000;
  const server = createServer((req, res) => {
    const obj = BODY.subarray(0, size);
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(obj.length) });
      res.end();
      return;
    }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') as RegExpExecArray;
    const part = obj.subarray(Number(m[1]), Math.min(Number(m[2]) + 1, obj.length));
    res.writeHead(206, { 'content-length': String(part.length) });
    res.end(part);
  });
  const { bucket, close } = await bucketOn(server);
  try {
    const src = await bucket.open('LOG/a.MF4', { blockSize: 1024 });
    assert.deepEqual(Buffer.from(await src.read(0, 100)), BODY.subarray(0, 100));
    size = 1500; // replaced by a shorter object
    await assert.rejects(src.read(1000, 1000), /came back 476 long: the object changed since it was opened/);
    await assert.rejects(src.read(0, 5000), /came back 1500 long/);
  } finally {
    await close();
  }
});

test('an object replaced by another of the same size while it is read is an error, not two versions spliced', async () => {
  let version = 1;
  let honourIfMatch = false;
  const ifMatch: string[] = [];
  const server = createServer((req, res) => {
    const etag = `"v${version}"`;
    const obj = Buffer.from(BODY.map((b) => b + version));
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(obj.length), etag });
      res.end();
      return;
    }
    ifMatch.push(String(req.headers['if-match']));
    if (honourIfMatch && req.headers['if-match'] && req.headers['if-match'] !== etag) {
      res.writeHead(412, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code></Error>');
      return;
    }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') as RegExpExecArray;
    const part = obj.subarray(Number(m[1]), Number(m[2]) + 1);
    res.writeHead(206, { 'content-length': String(part.length), etag });
    res.end(part);
  });
  const { bucket, close } = await bucketOn(server);
  try {
    for (const honour of [false, true]) {
      honourIfMatch = honour;
      version = 1;
      const src = await bucket.open('LOG/a.MF4', { blockSize: 1024 });
      assert.deepEqual(Buffer.from(await src.read(0, 100)), Buffer.from(BODY.subarray(0, 100).map((b) => b + 1)));
      version = 2; // replaced: same size, other bytes
      await assert.rejects(src.read(5000, 100), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'SF_ERR_IO_READ');
        assert.match((e as Error).message, /s3:\/\/b\/LOG\/a\.MF4.*changed since it was opened \(ETag "v1" then/);
        return true;
      });
    }
    assert.ok(
      ifMatch.every((h) => h === '"v1"'),
      ifMatch.join(' '),
    );
  } finally {
    await close();
  }
});

test('a whole object larger than the bound it is read with is refused before its body is read, naming it', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(BODY.length) });
    res.end(BODY);
  });
  const { bucket, close } = await bucketOn(server);
  try {
    await assert.rejects(bucket.getAll('huge.dbc', 4096), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'SF_ERR_IO_READ');
      assert.match((e as Error).message, /s3:\/\/b\/huge\.dbc.*10000 bytes, more than the 4096/);
      return true;
    });
    assert.equal((await bucket.getAll('small.dbc', 10_000)).length, BODY.length);
  } finally {
    await close();
  }
});
