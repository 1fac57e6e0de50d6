/**
 * Switching between staged versions: `current` and `previous` replaced atomically, the state file written;
 * rolling back; pruning old version folders.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SigflowError } from '../errors/index.js';
import {
  COMPLETE_MARKER,
  checkVersion,
  currentVersion,
  isComplete,
  layoutOf,
  pointLink,
  previousVersion,
  removeLink,
} from './layout.js';
import { readUpdateState, type UpdateState, writeUpdateState } from './state.js';

export interface SwitchOptions {
  /** How long the new version has to answer healthy (the guard's deadline; default 120 s). */
  readonly deadlineMs?: number;
}

/**
 * Makes `version` (staged, complete) the current one: `previous` → what `current` pointed to, then `current` →
 * `versions/<version>`, each link replaced atomically; the state file says `switching` until the guard decides.
 * The running process is not touched: it exits (and the service manager starts `current`) when the caller says.
 */
export function switchVersion(root: string, version: string, o: SwitchOptions = {}): UpdateState {
  checkVersion(version);
  const l = layoutOf(root);
  const dir = join(l.versions, version);
  if (!isComplete(dir))
    throw new SigflowError(
      'SF_ERR_UPDATE_VERSION',
      `${version} is not staged (no complete ${dir}); stage it before switching`,
      { where: dir },
    );
  const from = currentVersion(root);
  if (from === version)
    throw new SigflowError('SF_ERR_UPDATE_VERSION', `${version} is the current version already`, { where: l.current });
  // the state first: a crash between the two writes leaves "switching" with the old links (the guard rolls back
  // to previous = from, i.e. nothing changes), never new links without a state saying so
  const at = new Date();
  const state: UpdateState = {
    from,
    to: version,
    at: at.toISOString(),
    status: 'switching',
    deadline: new Date(at.getTime() + (o.deadlineMs ?? 120_000)).toISOString(),
  };
  writeUpdateState(root, state);
  if (from) pointLink(root, l.previous, from);
  pointLink(root, l.current, version);
  return state;
}

/**
 * Points `current` back at `previous` (atomically) and records `rolled_back` with the reason. `previous` is then
 * removed (there is nothing safe before it); the version rolled back from stays on disk until the next prune.
 */
export function rollback(root: string, reason: string): UpdateState {
  const l = layoutOf(root);
  const prev = previousVersion(root);
  if (!prev || !isComplete(join(l.versions, prev)))
    throw new SigflowError(
      'SF_ERR_UPDATE_LAYOUT',
      `no previous version to roll back to in ${l.root}${prev ? ` (${prev} is not complete)` : ''}`,
      { where: l.previous },
    );
  const cur = currentVersion(root);
  const before = readUpdateState(root);
  pointLink(root, l.current, prev);
  removeLink(root, l.previous);
  const state: UpdateState = {
    from: prev,
    to: cur ?? before?.to ?? prev,
    at: before?.at ?? new Date().toISOString(),
    deadline: before?.deadline ?? new Date().toISOString(),
    status: 'rolled_back',
    decidedAt: new Date().toISOString(),
    reason,
  };
  writeUpdateState(root, state);
  return state;
}

/**
 * Removes version folders beyond `keep`: `current` and `previous` always stay; the rest of the `keep` places go to
 * the most recently staged others. Unfinished `*.partial` folders are left to staging. Returns the removed versions.
 */
export function pruneVersions(root: string, keep = 2): string[] {
  const l = layoutOf(root);
  if (!existsSync(l.versions)) return [];
  const pinned = [currentVersion(root), previousVersion(root)].filter((v): v is string => v !== null);
  const others = readdirSync(l.versions)
    .filter((n) => !n.endsWith('.partial') && !n.startsWith('.') && !pinned.includes(n))
    .map((n) => {
      let t = 0;
      try {
        t = statSync(join(l.versions, n, COMPLETE_MARKER)).mtimeMs;
      } catch {
        // incomplete: oldest
      }
      return { n, t };
    })
    .sort((a, b) => b.t - a.t);
  const room = Math.max(0, keep - new Set(pinned).size);
  const removed: string[] = [];
  for (const { n } of others.slice(room)) {
    rmSync(join(l.versions, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}
