/**
 * `sigflow run` as a child process for end-to-end tests: started with a config file and an environment, its
 * stderr (JSON log lines) collected, its HTTP endpoint found from its "running" line, polled until a condition
 * holds, stopped by a signal and awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cliArgv } from './paths.js';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class Daemon {
  readonly lines: string[] = [];
  private buf = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  http: string | null = null;

  private constructor(readonly proc: ChildProcess) {
    live.add(proc);
    proc.stderr?.on('data', (b: Buffer) => {
      this.buf += b.toString('utf8');
      let i = this.buf.indexOf('\n');
      while (i >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.lines.push(line);
        const m = /"http":"([^"]+)"/.exec(line);
        if (m) this.http = `http://${m[1]}`;
        i = this.buf.indexOf('\n');
      }
    });
    proc.stdout?.on('data', () => {});
    this.exit = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        resolve({ code, signal });
      }),
    );
  }

  /** Starts `sigflow run -c config --log-format json` with exactly `env` (plus PATH/HOME) in `cwd`. */
  static start(config: string, env: Record<string, string>, cwd?: string): Daemon {
    const [cmd, ...pre] = cliArgv();
    const proc = spawn(cmd, [...pre, 'run', '-c', config, '--log-format', 'json'], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Daemon(proc);
  }

  /** Log lines parsed as JSON (others skipped). */
  json(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l));
      } catch {
        /* not a JSON line */
      }
    }
    return out;
  }

  /** Waits until `cond` is true (polled every 100 ms); throws with the log tail after `timeoutMs`. */
  async until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      if (await cond()) return;
      if (this.proc.exitCode !== null) throw new Error(`sigflow exited while waiting for ${what}:\n${this.tail()}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  /** The Prometheus text of /metrics, parsed to `name{labels}` → value. */
  async metrics(): Promise<Map<string, number>> {
    if (!this.http) return new Map();
    let text: string;
    try {
      text = await (await fetch(`${this.http}/metrics`)).text();
    } catch {
      return new Map(); // not answering (yet, or any more: until() then reports the exit with the log)
    }
    const m = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      m.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return m;
  }

  /** A metric's value by name and a label match (first one found), or 0. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = await this.metrics();
    for (const [k, v] of m) {
      if (!k.startsWith(`${name}{`) && k !== name) continue;
      if (Object.entries(labels).every(([lk, lv]) => k.includes(`${lk}="${lv}"`))) return v;
    }
    return 0;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000) {
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const r = await this.exit;
    clearTimeout(t);
    return r;
  }
}
