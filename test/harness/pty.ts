/**
 * A simulated serial adapter: a socat pseudo-terminal pair whose two ends are symlinks in a temp dir — `device`
 * (what sigflow opens, like /dev/ttyUSB0) and `adapter` (where the test writes what the adapter sends). Unplug =
 * killing socat (both ends vanish, the reader gets an error); replug = a new pair at the same paths.
 * Null (after a loud note) when socat is not installed, unless SIGFLOW_REQUIRE_SERVICES=1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { servicesRequired } from './services.js';

function which(bin: string): string | null {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin'])
    if (d && existsSync(join(d, bin))) return join(d, bin);
  return null;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class PtyPair {
  private proc: ChildProcess | null = null;
  private fd: number | null = null;
  readonly device: string;
  readonly adapter: string;

  private constructor(
    private readonly bin: string,
    readonly dir: string,
  ) {
    this.device = join(dir, 'ttyUSB0');
    this.adapter = join(dir, 'adapter');
  }

  static async create(): Promise<PtyPair | null> {
    const bin = which('socat');
    if (!bin) {
      const msg = 'socat is not installed; install the Debian packages in .ci/apt-packages';
      if (servicesRequired) throw new Error(`SIGFLOW_REQUIRE_SERVICES=1 but ${msg}`);
      process.stderr.write(`\n*** ${msg}: serial tests are SKIPPED ***\n\n`);
      return null;
    }
    const p = new PtyPair(bin, mkdtempSync(join(tmpdir(), 'sigflow-pty-')));
    await p.plug();
    return p;
  }

  /** Creates the pair (again) at the same paths and opens the adapter end for writing. */
  async plug(): Promise<void> {
    const proc = spawn(
      this.bin,
      ['-d', '-d', `pty,raw,echo=0,link=${this.device}`, `pty,raw,echo=0,link=${this.adapter}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    live.add(proc);
    proc.on('exit', () => live.delete(proc));
    this.proc = proc;
    // ready once it says so (its links are in place then: an old link could point at a reused /dev/pts number)
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`socat did not start: ${err}`)), 10_000);
      proc.stderr?.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes('starting data transfer loop')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    this.fd = openSync(this.adapter, 'w');
  }

  /** Writes bytes as the adapter sends them (blocking until the pty takes them). */
  write(bytes: Uint8Array): void {
    if (this.fd === null) throw new Error('unplugged');
    let off = 0;
    while (off < bytes.length) {
      try {
        off += writeSync(this.fd, bytes, off, bytes.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
    }
  }

  /** Pulls the adapter out: socat ends, both pseudo-terminals disappear. */
  async unplug(): Promise<void> {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
    // the links go with the device, as /dev/ttyUSB0 does
    rmSync(this.device, { force: true });
    rmSync(this.adapter, { force: true });
  }

  async dispose(): Promise<void> {
    await this.unplug();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
