/** Runs the sigflow CLI as a child process and collects its output. */
import { spawn } from 'node:child_process';
import { cliArgv } from './paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `env`: the child's whole environment (default: this process's). Not blocking: servers in this process answer. */
export function runCli(
  args: string[],
  opts: { input?: string | Buffer; cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
) {
  const [cmd, ...pre] = cliArgv();
  return new Promise<CliResult>((resolvePromise, reject) => {
    const child = spawn(cmd, [...pre, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
