/** Where a command's output goes: the file given with -o, or stdout. */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { SigflowError } from '../errors/index.js';

/** Opens the output; `finish` waits until everything is written and closes a file (SF_ERR_CLI_OUTPUT on failure). */
export function openOutput(path: string | undefined): { stream: Writable; finish: () => Promise<void> } {
  if (!path || path === '-') {
    // a closed pipe (`| head`) is handled once for every command in main.ts
    return {
      stream: process.stdout,
      finish: async () => {
        if (process.stdout.writableNeedDrain) await new Promise<void>((r) => process.stdout.once('drain', r));
      },
    };
  }
  const stream = createWriteStream(path);
  let failed: Error | null = null;
  stream.on('error', (e) => {
    failed = e;
  });
  const error = (e: Error) =>
    new SigflowError('SF_ERR_CLI_OUTPUT', `cannot write ${path}: ${e.message}`, { where: path, cause: e });
  return {
    stream,
    finish: () =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(error(failed));
        stream.end(() => (failed ? reject(error(failed)) : resolve()));
      }),
  };
}
