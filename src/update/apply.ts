/**
 * The whole update as the running version makes it, short of exiting: stage, self-test the new version with the
 * running config, switch, start the guard. The caller then stops `sigflow run` in order (its last records
 * acknowledged, the sinks drained) and the service manager starts `<root>/current` — the new version.
 */
import { SigflowError } from '../errors/index.js';
import { spawnGuard } from './guard.js';
import { currentVersion } from './layout.js';
import { selftest } from './selftest.js';
import { type StageOptions, type StageResult, stageUpdate } from './stage.js';
import { markReported, type UpdateState } from './state.js';
import { rollback, switchVersion } from './switch.js';

export interface ApplyUpdateOptions extends StageOptions {
  /** The config `sigflow run` runs with: the new version's self-test checks it and its outbox. */
  readonly configPath: string;
  /** This sigflow's health URL (http://<server.listen>/healthz): the guard asks the new version there. */
  readonly healthUrl: string;
  /**
   * How long the new version has to answer healthy, counted from the switch: it must cover this process's stop
   * (up to runtime.drain_timeout), the service manager's restart delay and the new version's start (default 120 s).
   */
  readonly deadlineMs?: number;
  /** The self-test's time limit (default 60 s). */
  readonly selftestTimeoutMs?: number;
  /** Start the guard through systemd-run (default: when running under systemd); tests set it. */
  readonly systemd?: boolean;
}

export interface ApplyUpdateResult {
  readonly staged: StageResult;
  readonly state: UpdateState;
  readonly guard: { pid: number | undefined; argv: string[]; via: string };
}

/**
 * Stages `version`, runs its self-test (a failure: SF_ERR_UPDATE_SELFTEST, nothing switched — the staged folder
 * stays until pruned), switches to it and starts the guard from the running version's package (`currentDir`).
 */
export async function applyUpdate(o: ApplyUpdateOptions): Promise<ApplyUpdateResult> {
  const staged = await stageUpdate(o);
  const st = await selftest(staged.dir, o.configPath, { timeoutMs: o.selftestTimeoutMs, signal: o.signal });
  if (!st.ok)
    throw new SigflowError(
      'SF_ERR_UPDATE_SELFTEST',
      `${o.version} failed its self-test, so ${currentVersion(o.root) ?? 'the running version'} is kept: ${st.reason}`,
      { where: staged.dir },
    );
  const deadlineMs = o.deadlineMs ?? 120_000;
  const state = switchVersion(o.root, o.version, { deadlineMs });
  const guard = spawnGuard({
    root: o.root,
    healthUrl: o.healthUrl,
    expectVersion: o.version,
    deadlineMs,
    packageDir: o.currentDir,
    ...(o.systemd !== undefined ? { systemd: o.systemd } : {}),
  });
  // no guard, no rollback: the switch is undone and the update refused, rather than run without its safety net
  const notStarted = await guard.started;
  if (notStarted !== null) {
    const reason = `the update guard could not be started (${notStarted}): under systemd the service's user must be allowed to start transient units (systemd-run)`;
    const back = rollback(o.root, reason);
    // the caller answers the refusal (this error): not reported again at the next start
    markReported(o.root, back.from ?? undefined);
    throw new SigflowError('SF_ERR_UPDATE_INSTALL', `${o.version} not switched to: ${reason}`, { where: o.root });
  }
  return { staged, state, guard };
}
