/**
 * The guard: the process that decides an update after the switch. It polls the new version's /healthz and /status
 * until it answers healthy with the expected version (→ `done`, old versions pruned) or the deadline passes (→
 * rollback, and the new version's process — found in `<root>/state/running.pid` — is stopped so the service
 * manager starts the restored `current`).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { layoutOf } from './layout.js';
import { type RunningPid, readRunningPid, readUpdateState, type UpdateState, writeUpdateState } from './state.js';
import { pruneVersions, rollback } from './switch.js';

export interface GuardOptions {
  readonly root: string;
  /** The new version's health URL, e.g. http://127.0.0.1:9464/healthz. */
  readonly healthUrl: string;
  /** Its /status (JSON with `version`); default: /status beside healthUrl. */
  readonly statusUrl?: string;
  /** The version that must answer. */
  readonly expectVersion: string;
  /** How long it has, from the guard's start. */
  readonly deadlineMs: number;
  /** Between polls (default 1 s). */
  readonly pollMs?: number;
  /**
   * After the rollback, how long to wait for the rolled-back version to record its pid (it may still be starting),
   * and after SIGTERM, how long it has before SIGKILL (default 10 s each).
   */
  readonly killGraceMs?: number;
  /** Versions kept by the prune after `done` (default 2: current and previous). */
  readonly keep?: number;
  readonly signal?: AbortSignal;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface GuardResult {
  /** `skipped`: the state file was not `switching` to this version (decided already, or another update). */
  readonly status: 'done' | 'rolled_back' | 'skipped';
  readonly reason?: string;
  readonly state: UpdateState | null;
  /** Versions removed by the prune (done). */
  readonly pruned?: readonly string[];
  /** The pid stopped after the rollback, and whether SIGKILL was needed. */
  readonly killed?: { pid: number; signal: 'SIGTERM' | 'SIGKILL' };
}

/** One poll: null when healthy with the expected version, else what was seen. */
async function probe(o: GuardOptions, statusUrl: string): Promise<string | null> {
  const timeout = Math.min(5000, Math.max(500, (o.pollMs ?? 1000) * 2));
  const get = async (url: string) => {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(timeout) });
    } catch (e) {
      const c = (e as { cause?: { code?: string } }).cause;
      return `no answer from ${url} (${c?.code ?? (e as Error).name})`;
    }
  };
  const h = await get(o.healthUrl);
  if (typeof h === 'string') return h;
  if (h.status !== 200) {
    await h.body?.cancel().catch(() => {});
    return `${o.healthUrl} answered ${h.status}`;
  }
  // /healthz says its version (open even when server.auth guards /status: the guard has no credentials)
  const said = ((await h.json().catch(() => null)) as { version?: unknown } | null)?.version;
  if (typeof said === 'string')
    return said === o.expectVersion ? null : `version ${said} answers (not ${o.expectVersion} yet)`;
  const s = await get(statusUrl);
  if (typeof s === 'string') return s;
  let version: unknown;
  try {
    version = ((await s.json()) as { version?: unknown }).version;
  } catch {
    return `${statusUrl} answered ${s.status} without JSON`;
  }
  if (version !== o.expectVersion) return `version ${String(version)} answers (not ${o.expectVersion} yet)`;
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** On Linux, a pid whose command line does not mention sigflow is another process by now (pid reused). */
function looksLikeSigflow(pid: number): boolean {
  const file = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    return readFileSync(file, 'utf8').includes('sigflow');
  } catch {
    return false;
  }
}

/**
 * Stops the process that recorded `version` in running.pid — waiting up to `graceMs` for it to do so — with SIGTERM,
 * then SIGKILL after `graceMs`.
 */
async function stopVersion(
  root: string,
  version: string,
  graceMs: number,
): Promise<{ pid: number; signal: 'SIGTERM' | 'SIGKILL' } | undefined> {
  // the new version may still be starting (the service manager's restart delay): wait for it to record its pid
  const found = (r: RunningPid | null): r is RunningPid =>
    r !== null && r.version === version && r.pid !== process.pid && alive(r.pid) && looksLikeSigflow(r.pid);
  let rec = readRunningPid(root);
  for (const until = Date.now() + graceMs; !found(rec) && Date.now() < until; rec = readRunningPid(root))
    await sleep(200);
  if (!found(rec)) return undefined;
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return undefined;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!alive(rec.pid)) return { pid: rec.pid, signal: 'SIGTERM' };
    await sleep(100);
  }
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  return { pid: rec.pid, signal: 'SIGKILL' };
}

/** Decides the update to `expectVersion` (module comment). */
export async function guardUpdate(o: GuardOptions): Promise<GuardResult> {
  const log = o.log ?? (() => {});
  const start = readUpdateState(o.root);
  if (start?.status !== 'switching' || start.to !== o.expectVersion) {
    const reason = start
      ? `the last update is ${start.status} (to ${start.to}), not switching to ${o.expectVersion}`
      : 'no update in progress';
    log(`nothing to decide: ${reason}`);
    return { status: 'skipped', reason, state: start };
  }
  const statusUrl = o.statusUrl ?? new URL('/status', o.healthUrl).toString();
  const deadline = Date.now() + o.deadlineMs;
  let last = 'not asked yet';
  log(`waiting up to ${Math.round(o.deadlineMs / 1000)} s for ${o.expectVersion} to answer healthy at ${o.healthUrl}`);
  while (Date.now() < deadline) {
    o.signal?.throwIfAborted();
    const seen = await probe(o, statusUrl);
    if (seen === null) {
      const now = readUpdateState(o.root);
      if (now?.status !== 'switching' || now.to !== o.expectVersion)
        return { status: 'skipped', reason: 'decided by another guard meanwhile', state: now };
      const state: UpdateState = { ...now, status: 'done', decidedAt: new Date().toISOString() };
      writeUpdateState(o.root, state);
      let pruned: string[] = [];
      try {
        pruned = pruneVersions(o.root, o.keep ?? 2);
      } catch (e) {
        log(`pruning old versions failed: ${(e as Error).message}`);
      }
      log(`${o.expectVersion} answers healthy: update done${pruned.length ? `; removed ${pruned.join(', ')}` : ''}`);
      return { status: 'done', state, pruned };
    }
    if (seen !== last) log(seen);
    last = seen;
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(o.pollMs ?? 1000, left), undefined, { signal: o.signal });
  }
  const reason = `${o.expectVersion} did not answer healthy at ${o.healthUrl} within ${Math.round(o.deadlineMs / 1000)} s (last: ${last})`;
  const state = rollback(o.root, reason);
  log(`rolled back to ${state.from}: ${reason}`);
  const killed = await stopVersion(o.root, o.expectVersion, o.killGraceMs ?? 10_000);
  if (killed) log(`stopped pid ${killed.pid} (${o.expectVersion}) with ${killed.signal}`);
  return { status: 'rolled_back', reason, state, ...(killed ? { killed } : {}) };
}

export interface SpawnGuardOptions {
  readonly root: string;
  readonly healthUrl: string;
  readonly expectVersion: string;
  readonly deadlineMs: number;
  /** The package whose bin/sigflow runs the guard: the running (old) version's, runningPackageDir(). */
  readonly packageDir: string;
  /** Start it through systemd-run (default: when running under systemd); tests set it. */
  readonly systemd?: boolean;
}

/** The command line of the guard. */
export function guardArgv(o: SpawnGuardOptions): string[] {
  return [
    process.execPath,
    join(o.packageDir, 'bin', 'sigflow'),
    'update-guard',
    '--root',
    o.root,
    '--health',
    o.healthUrl,
    '--to',
    o.expectVersion,
    '--deadline',
    `${Math.ceil(o.deadlineMs / 1000)}s`,
  ];
}

/**
 * Starts the guard so that it outlives this process and its service: under systemd (INVOCATION_ID set) as a
 * transient unit of its own (`systemd-run --collect`), since stopping the service kills everything in its control
 * group; otherwise as a detached process in a session of its own. Its output goes to `<root>/state/guard.log`.
 */
export function spawnGuard(o: SpawnGuardOptions): {
  pid: number | undefined;
  argv: string[];
  via: string;
  /**
   * Null once the guard runs, else why it could not be started: `systemd-run` refused (a service user without the
   * right to start transient units) or the command could not be run. An update without its guard would not roll
   * back: applyUpdate undoes the switch then.
   */
  started: Promise<string | null>;
} {
  const l = layoutOf(o.root);
  mkdirSync(l.stateDir, { recursive: true });
  const argv = guardArgv(o);
  const logFile = join(l.stateDir, 'guard.log');
  const logFd = openSync(logFile, 'a');
  const systemd = o.systemd ?? (process.env.INVOCATION_ID !== undefined && existsSync('/run/systemd/system'));
  const cmd = systemd
    ? [
        'systemd-run',
        '--collect',
        '--quiet',
        `--unit=sigflow-update-guard-${Date.now()}`,
        `--property=StandardOutput=append:${logFile}`,
        `--property=StandardError=append:${logFile}`,
        ...argv,
      ]
    : argv;
  const child = spawn(cmd[0], cmd.slice(1), { detached: true, stdio: ['ignore', logFd, logFd] });
  // systemd-run returns once the transient unit runs (exit 0) or was refused; a detached guard runs once spawned
  const started = new Promise<string | null>((resolve) => {
    child.once('error', (e) => resolve(`${cmd[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    if (systemd)
      child.once('exit', (code, signal) =>
        resolve(code === 0 ? null : `systemd-run ended with ${signal ?? `code ${code}`} (its words: ${logFile})`),
      );
    else child.once('spawn', () => resolve(null));
  });
  // (a detached guard outlives this process: not waited for; systemd-run ends at once, and its answer is awaited)
  if (!systemd) child.unref();
  closeSync(logFd);
  return { pid: child.pid, argv: cmd, via: systemd ? 'systemd-run' : 'detached', started };
}
