/**
 * Release tarballs for the update tests, made as a release is: a copy of the package (bin/, dist/src/ from this
 * build, package.json with another version, README.md — no node_modules) packed by `npm pack --ignore-scripts`;
 * served from a loopback HTTP server. And a minimal tar writer for tarballs npm would never make.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { repoRoot } from '../harness/paths.js';

const run = promisify(execFile);

export interface Release {
  readonly version: string;
  readonly file: string;
  readonly name: string;
  readonly sha256: string;
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * Packs sigflow as version `version` into `outDir`. `mainJs` replaces dist/src/cli/main.js (a version that throws,
 * or hangs: it exports `main` and `runAndExit`, the entry bin/sigflow calls); `name` is the tarball's file name (default sigflow-<version>.tgz, as npm names it).
 */
export async function makeRelease(
  workDir: string,
  version: string,
  o: {
    mainJs?: string;
    name?: string;
    packageJson?: (p: Record<string, unknown>) => void;
    /** Extra files in the package (e.g. npm-shrinkwrap.json), by path. */
    files?: Record<string, string>;
  } = {},
): Promise<Release> {
  const dist = join(repoRoot, 'dist', 'src');
  if (!existsSync(join(dist, 'update', 'index.js'))) throw new Error(`${dist} is not built: npx tsc -p tsconfig.json`);
  const pkgDir = join(workDir, `pkg-${version}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(pkgDir, { recursive: true });
  cpSync(join(repoRoot, 'bin'), join(pkgDir, 'bin'), { recursive: true });
  cpSync(dist, join(pkgDir, 'dist', 'src'), { recursive: true, filter: (s) => !s.endsWith('.map') });
  cpSync(join(repoRoot, 'README.md'), join(pkgDir, 'README.md'));
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
  pkg.version = version;
  o.packageJson?.(pkg);
  writeFileSync(join(pkgDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  if (o.mainJs !== undefined) writeFileSync(join(pkgDir, 'dist', 'src', 'cli', 'main.js'), o.mainJs);
  for (const [name, text] of Object.entries(o.files ?? {})) writeFileSync(join(pkgDir, name), text);
  const out = join(workDir, 'releases');
  mkdirSync(out, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', out], {
    cwd: pkgDir,
  });
  let file = join(out, stdout.trim().split('\n').pop() as string);
  if (o.name) {
    const renamed = join(out, o.name);
    cpSync(file, renamed);
    file = renamed;
  }
  return { version, file, name: basename(file), sha256: sha256Of(file) };
}

/** main.js of a version that starts but never works: it records its pid (as `sigflow run` will) and sleeps. */
export function hangingMain(version: string): string {
  return `import { installRootOf, recordRunningPid, runningPackageDir } from '../update/index.js';
export async function main() {
  const root = installRootOf(runningPackageDir());
  if (root) recordRunningPid(root, ${JSON.stringify(version)});
  process.stderr.write('hanging version ${version} started\\n');
  setInterval(() => {}, 60_000);
  await new Promise(() => {});
}
export const runAndExit = main; // what bin/sigflow calls
`;
}

/** main.js of a version that fails at once. */
export const throwingMain = `export async function main() {
  throw new Error('this build is broken');
}
export const runAndExit = main; // what bin/sigflow calls
`;

export interface FileServer {
  readonly url: string;
  /** Paths requested, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves the files of `dir` by name on 127.0.0.1 (404 for anything else). */
export async function serveDir(dir: string): Promise<FileServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0]);
    requests.push(`/${name}`);
    const file = join(dir, basename(name));
    if (!name || name.includes('/') || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One raw tar entry: `data` is its bytes; the header's size field says their length. */
export interface RawTarEntry {
  name: string;
  type?: string;
  data?: string | Buffer;
  linkname?: string;
}

/** The blocks of one entry: its ustar header (written here, so names npm or GNU tar would refuse can be made), data, padding. */
export function rawTarEntry(e: RawTarEntry): Buffer {
  const data = Buffer.from(e.data ?? '');
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(e.type === '5' ? '0000755\0' : '0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    'latin1',
  );
  h.write(e.type ?? '0', 156, 'latin1');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** A .tgz of raw tar entries (see rawTarEntry). */
export function rawTarGz(entries: RawTarEntry[]): Buffer {
  const blocks = entries.map(rawTarEntry);
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
