/**
 * Creating folders (data dirs, outbox and store folders, cache and archive folders). Node's
 * `mkdir(path, {recursive: true})` loops forever at full CPU when a parent refuses the child with ENOENT although it
 * exists (`/proc/x`: procfs answers mkdir with ENOENT), so every folder sigflow creates goes through
 * `makeDirectory`: it finds the nearest existing ancestor, then creates each missing level once, and fails with
 * SF_ERR_IO_MKDIR naming the folder, the level that failed and the system's reason.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SigflowError } from '../errors/index.js';

function mkdirError(path: string, level: string, err: unknown, what: string): SigflowError {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? (err instanceof Error ? err.message : String(err));
  const at = level === path ? '' : ` (at ${level})`;
  return new SigflowError('SF_ERR_IO_MKDIR', `cannot create ${what} ${path}: ${code}${at}`, {
    where: path,
    cause: err,
  });
}

/**
 * Creates `path` and its missing parents (like `mkdir -p`), in bounded time. `what` names the folder in the error
 * ("data directory", "folder" …). An existing folder is fine; an existing file there is ENOTDIR.
 */
export function makeDirectory(path: string, what = 'folder'): void {
  const full = resolve(path);
  const missing: string[] = [];
  let cur = full;
  for (;;) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(cur, { throwIfNoEntry: false });
    } catch (err) {
      throw mkdirError(path, cur, err, what);
    }
    if (st) {
      if (!st.isDirectory()) {
        throw mkdirError(path, cur, 'ENOTDIR (not a folder)', what);
      }
      break;
    }
    missing.push(cur);
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(missing[i]).isDirectory()) continue;
      throw mkdirError(path, missing[i], err, what);
    }
  }
}
