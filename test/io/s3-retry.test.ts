/**
 * An S3 object whose body is cut off mid-answer (the connection closed after the headers and part of the bytes)
 * is asked for again: a small server that cuts the first answers of each object short stands in for S3.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { S3Bucket } from '../../src/io/index.js';

const BODY = Buffer.from('0123456789'.repeat(1000));

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
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const bucket = new S3Bucket({
    endpoint: `http://127.0.0.1:${port}`,
    bucket: 'b',
    accessKeyId: 'k',
    secretAccessKey: 's',
  });
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
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  assert.ok(requests.length >= 8, requests.join('\n'));
});
