/** Where a command's output goes: the file given with -o, or stdout. */
import { fstatSync, openSync, unlinkSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { SigflowError } from '../errors/index.js';
import { FileOutput, writeChunk, writeError } from '../io/index.js';

/** A command's output: the stream to write, and how to end it after success (`finish`) or failure (`fail`). */
export interface Output {
  stream: Writable;
  /** `stdout` or the path. */
  name: string;
  /** Waits until everything is written and closes a file; a failed write removes the partial file. */
  finish(): Promise<void>;
  /**
   * After an error: when it is a failed write of this output (ENOSPC …), removes the partial file and rethrows
   * saying so; otherwise ends the output normally (what was written stays, as after skipped files) and rethrows.
   */
  fail(err: unknown): Promise<never>;
}

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'ENOENT (its folder does not exist)';
  if (code === 'EISDIR') return 'EISDIR (a folder; give a file name)';
  if (code === 'ENOTDIR') return 'ENOTDIR (a part of the path is a file, not a folder)';
  if (code === 'EACCES') return 'EACCES (permission denied)';
  return code ?? (e as Error).message;
}

/**
 * Opens the output: `-o <file>` is created (truncated) at once, so a missing folder, a folder or a read-only
 * place fails before any work (SF_ERR_CLI_OUTPUT, exit 1); otherwise stdout. Writes that fail later (ENOSPC)
 * are SF_ERR_IO_WRITE errors from the writers; `fail` then removes the partial file (a regular file only, never
 * /dev/full or a fifo).
 */
export function openOutput(path: string | undefined): Output {
  if (!path || path === '-') {
    // a closed pipe (`| head`) and a failing stdout are handled once for every command in main.ts
    const out = process.stdout;
    return {
      stream: out,
      name: 'stdout',
      finish: async () => {
        if (out.writableNeedDrain) await writeChunk(out, '');
      },
      fail: async (err) => {
        throw err;
      },
    };
  }
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new SigflowError('SF_ERR_CLI_OUTPUT', `cannot write ${path}: ${reason(e)}`, { where: path, cause: e });
  }
  const regular = fstatSync(fd).isFile();
  const stream = new FileOutput(fd, path);
  stream.on('error', () => {
    // reported by the writers (writeChunk) and by finish(); a listener must exist or Node would crash
  });
  let removed = false;
  const removePartial = () => {
    if (!regular || removed) return false;
    removed = true;
    stream.destroy();
    try {
      unlinkSync(path);
      return true;
    } catch {
      return false;
    }
  };
  const partial = (err: unknown): SigflowError => {
    const base = err instanceof SigflowError ? err.message : writeError(path, err).message;
    const what = removePartial()
      ? `; the partial file was removed`
      : regular
        ? `; the partial file ${path} is incomplete`
        : '';
    return new SigflowError('SF_ERR_IO_WRITE', `${base}${what}`, { where: path, cause: err });
  };
  const end = () =>
    new Promise<void>((resolve, reject) => {
      if (stream.errored) return reject(stream.errored);
      stream.once('error', reject);
      stream.end(() => (stream.errored ? reject(stream.errored) : resolve()));
    });
  return {
    stream,
    name: path,
    finish: async () => {
      try {
        await end();
      } catch (e) {
        throw partial(e);
      }
    },
    fail: async (err) => {
      const ours =
        stream.errored !== null ||
        (err instanceof SigflowError && err.code === 'SF_ERR_IO_WRITE' && err.where === path);
      if (ours) throw partial(err);
      await end().catch(() => {});
      throw err;
    },
  };
}
