/**
 * `<root>/state/update.json` — what the last update did — and `<root>/state/running.pid` — which process runs
 * which version. Both live outside the version folders, so the old and the new version read the same files.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SigflowError } from '../errors/index.js';
import { writeFileAtomicSync } from '../io/index.js';
import { layoutOf } from './layout.js';

/** `switching`: the guard has not decided yet; `done`: the new version answered healthy; `rolled_back`: it did not. */
export type UpdateStatus = 'switching' | 'done' | 'rolled_back';

export interface UpdateState {
  /** The version that ran before the switch (null at the first install). */
  readonly from: string | null;
  /** The version switched to. */
  readonly to: string;
  /** When the switch was made (ISO 8601). */
  readonly at: string;
  readonly status: UpdateStatus;
  /** By when the new version must answer healthy (ISO 8601). */
  readonly deadline: string;
  /** When the guard decided (done or rolled back). */
  readonly decidedAt?: string;
  /** Why it was rolled back. */
  readonly reason?: string;
  /** Set by markReported: the outcome was handed to the outbox (by `reportedBy`). */
  readonly reported?: boolean;
  readonly reportedAt?: string;
  readonly reportedBy?: string;
}

/** The state file, or null when no update was made yet; SF_ERR_UPDATE_LAYOUT when it cannot be read. */
export function readUpdateState(root: string): UpdateState | null {
  const file = layoutOf(root).stateFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SigflowError('SF_ERR_UPDATE_LAYOUT', `cannot read ${file}: ${(e as Error).message}`, {
      where: file,
      cause: e,
    });
  }
  try {
    const s = JSON.parse(text) as UpdateState;
    if (typeof s.to !== 'string' || !['switching', 'done', 'rolled_back'].includes(s.status))
      throw new SigflowError('SF_ERR_UPDATE_LAYOUT', 'no "to" and "status"');
    return s;
  } catch (e) {
    throw new SigflowError('SF_ERR_UPDATE_LAYOUT', `${file} is not an update state: ${(e as Error).message}`, {
      where: file,
      cause: e,
    });
  }
}

export function writeUpdateState(root: string, state: UpdateState): void {
  writeFileAtomicSync(layoutOf(root).stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * What a starting `sigflow run` of `version` should report about the last update, or null when there is nothing:
 * - `done` (reported by the new version, `to`) and `rolled_back` (by the old one, `from`) until markReported;
 * - `switching` to this version: the guard is still deciding — report once waitForOutcome() resolves.
 * Without `version`, any unreported outcome.
 */
export function pendingReport(root: string, version?: string): UpdateState | null {
  const s = readUpdateState(root);
  if (!s || s.reported) return null;
  if (version === undefined) return s;
  if (s.status === 'done' || s.status === 'switching') return s.to === version ? s : null;
  return s.from === version ? s : null;
}

/** Marks the outcome reported (the acknowledgement is in the outbox): pendingReport returns null from now on. */
export function markReported(root: string, by?: string): void {
  const s = readUpdateState(root);
  if (!s || s.reported) return;
  writeUpdateState(root, {
    ...s,
    reported: true,
    reportedAt: new Date().toISOString(),
    ...(by ? { reportedBy: by } : {}),
  });
}

/**
 * Resolves with the state once the guard decided (status `done` or `rolled_back`), polling every `pollMs`; null
 * when there is no state; rejects with the signal's reason when `signal` aborts.
 */
export async function waitForOutcome(
  root: string,
  o: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<UpdateState | null> {
  for (;;) {
    const s = readUpdateState(root);
    if (s?.status !== 'switching') return s;
    await sleep(o.pollMs ?? 2000, undefined, { signal: o.signal });
  }
}

export interface RunningPid {
  readonly pid: number;
  readonly version: string;
  readonly startedAt: string;
}

/**
 * Records that this process (`sigflow run`) runs `version`: the guard SIGTERMs it when it rolls that version back
 * (the service manager then starts the restored `current`). Call it when `sigflow run` starts from an install root.
 */
export function recordRunningPid(root: string, version: string, pid: number = process.pid): void {
  const rec: RunningPid = { pid, version, startedAt: new Date().toISOString() };
  writeFileAtomicSync(layoutOf(root).runningPidFile, `${JSON.stringify(rec)}\n`);
}

export function readRunningPid(root: string): RunningPid | null {
  try {
    const r = JSON.parse(readFileSync(layoutOf(root).runningPidFile, 'utf8')) as RunningPid;
    return Number.isSafeInteger(r.pid) && r.pid > 1 && typeof r.version === 'string' ? r : null;
  } catch {
    return null;
  }
}
