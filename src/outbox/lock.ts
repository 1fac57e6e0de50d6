/**
 * Exclusive ownership of a data directory by one sigflow process. The lock itself is the kernel's: an exclusive
 * SQLite transaction on `outbox.lock.db`, held for as long as the process has the outbox open, which the kernel
 * drops when the process ends however it ends (kill -9, power cut) — no stale lock to take over, and no race
 * between processes starting together. `outbox.lock` beside it names the owner (pid and, on Linux, its process
 * start time) for humans and `sigflow outbox status`.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeDirectory, tempPath } from '../io/index.js';
import { OutboxLockedError, OutboxOpenError } from './errors.js';

/** The pid of a live process holding the data directory's lock, or null. */
export function lockHolder(dir: string): number | null {
  const owner = readOwner(join(dir, 'outbox.lock'));
  return owner !== null && ownerAlive(owner) ? owner.pid : null;
}

/** Lock files this process holds (a second open in the same process is refused like another process's). */
const heldLocks = new Set<string>();

/**
 * The exclusive transaction on `outbox.lock.db`. SQLITE_BUSY also comes from processes that only open the file at
 * the same moment (creating it, reading its header): with no live owner named yet, the attempt is repeated for up
 * to 500 ms — else processes starting together could all give up and none take the lock.
 */
function takeKernelLock(dir: string, file: string): Database.Database {
  const deadline = Date.now() + 500;
  for (;;) {
    let db: Database.Database | null = null;
    try {
      db = new Database(join(dir, 'outbox.lock.db'), { timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      return db;
    } catch (e) {
      db?.close();
      const code = (e as { code?: string }).code;
      if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED')
        throw new OutboxOpenError(`could not lock outbox ${dir}: ${(e as Error).message}`, { where: dir, cause: e });
      const owner = readOwner(file);
      if ((owner !== null && ownerAlive(owner)) || Date.now() > deadline) throw lockedError(dir, file);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** OutboxLockedError naming the holder (given 250 ms to write its name if it has just taken the lock). */
function lockedError(dir: string, file: string): OutboxLockedError {
  let owner = readOwner(file);
  for (let i = 0; i < 25 && (owner === null || !ownerAlive(owner)); i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    owner = readOwner(file);
  }
  const holder = owner && ownerAlive(owner) ? owner.pid : null;
  return new OutboxLockedError(
    `outbox ${dir} is in use by ${holder !== null ? `process ${holder}` : 'another process'} (lock ${file}): one process at a time — wait for it to finish, stop it, or use another data directory (--data-dir, or outbox.data_dir in a config)`,
    holder,
    dir,
  );
}

/**
 * Takes the data directory's lock; returns its release. Throws OutboxLockedError when someone holds it. The lock
 * lasts while the release is reachable (the open outbox keeps it): its SQLite connection is closed when garbage
 * collected.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'outbox.lock');
  makeDirectory(dir, 'outbox folder'); // not mkdir -p: Node's loops forever under /proc
  if (heldLocks.has(file))
    throw new OutboxLockedError(`outbox ${dir} is in use by process ${process.pid} (this process)`, process.pid, dir);
  const kernelLock = takeKernelLock(dir, file);
  const held = kernelLock;
  const start = processStart(process.pid);
  const tmp = tempPath(file);
  writeFileSync(tmp, start === null ? `${process.pid}\n` : `${process.pid} ${start}\n`);
  renameSync(tmp, file);
  heldLocks.add(file);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    heldLocks.delete(file);
    try {
      unlinkIfOurs(file);
    } catch {
      // best effort: the file only names the owner
    }
    held.close();
  };
}

interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (Linux /proc), when the lock recorded it. */
  start: string | null;
}
function readOwner(file: string): LockOwner | null {
  try {
    const [p, start] = readFileSync(file, 'utf8').trim().split(/\s+/);
    const pid = Number.parseInt(p, 10);
    return Number.isFinite(pid) && pid > 0 ? { pid, start: start && /^\d+$/.test(start) ? start : null } : null;
  } catch {
    return null;
  }
}
/** Field 22 of /proc/<pid>/stat, or null where there is no /proc. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start && /^\d+$/.test(start) ? start : null;
  } catch {
    return null;
  }
}
function ownerAlive(o: LockOwner): boolean {
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (o.start === null) return true;
  const now = processStart(o.pid);
  return now === null || now === o.start;
}
function unlinkIfOurs(file: string): void {
  if (readOwner(file)?.pid === process.pid) unlinkSync(file);
}
