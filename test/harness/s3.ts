/**
 * An S3-compatible server for tests: s3rver (a devDependency) in this process on 127.0.0.1, an ephemeral port and a
 * temporary folder; credentials S3RVER / S3RVER. Objects are put with the AWS SDK sigflow itself uses.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface TestS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  put(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  /** Uploads every file under `dir` as `<prefix><relative path>`. */
  upload(bucket: string, dir: string, prefix?: string): Promise<number>;
  close(): Promise<void>;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

export async function startS3(): Promise<TestS3> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // as src/io/s3.ts
  const { default: S3rver } = await import('s3rver'); // types: s3rver.d.ts here
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const put = async (bucket: string, key: string, body: Uint8Array | string) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  };
  return {
    endpoint,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    put,
    async upload(bucket, root, prefix = '') {
      const files = walk(root);
      for (const f of files) await put(bucket, prefix + relative(root, f).split(sep).join('/'), readFileSync(f));
      return files.length;
    },
    async close() {
      client.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
