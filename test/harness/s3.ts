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

/** What s3rver's filesystem store lists (the part used here). */
interface Listing {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
type ListObjects = (
  bucket: string,
  options: { delimiter?: string; prefix?: string; startAfter?: string; maxKeys?: number },
) => Promise<Listing>;

/**
 * s3rver 3.7.1 answers a listing with a delimiter wrongly for keys nested deeper than one folder below the prefix:
 * its file walk skips those folders, so they give no common prefix (`a/b/c.parquet` under `''` lists no `a/`). S3
 * and MinIO do list them. Its store is wrapped here: the listing without a delimiter, folded into common prefixes
 * as S3 does (keys past the prefix containing the delimiter become `<prefix><up to the delimiter>`).
 */
function fixDelimiterListing(server: object): void {
  const store = (server as { store: { listObjects: ListObjects } }).store;
  const list = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    const { delimiter, prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    if (!delimiter) return list(bucket, options);
    const all = await list(bucket, { ...options, delimiter: '', maxKeys: Number.POSITIVE_INFINITY });
    const prefixes = new Set<string>();
    const objects: Listing['objects'] = [];
    let isTruncated = false;
    for (const o of all.objects) {
      const idx = o.key.slice(prefix.length).indexOf(delimiter);
      if (idx >= 0) prefixes.add(o.key.slice(0, prefix.length + idx + delimiter.length));
      else if (objects.length < maxKeys) objects.push(o);
      else isTruncated = true;
    }
    return { objects, commonPrefixes: [...prefixes].sort(), isTruncated };
  };
}

export async function startS3(): Promise<TestS3> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // as src/io/s3.ts
  const { default: S3rver } = await import('s3rver'); // types: s3rver.d.ts here
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  fixDelimiterListing(server);
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
