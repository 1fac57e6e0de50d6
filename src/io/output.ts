/**
 * The write side of io: handing bytes to a Node Writable (a file opened with -o, stdout) so that a failed write is
 * an error naming the target, never a wait for a 'drain' that does not come. A stream that fails (ENOSPC, EIO,
 * EISDIR …) emits 'error' and never 'drain'; a writer that waits only for 'drain' leaves the event loop empty and
 * the process ends with nothing said. `writeChunk` waits for 'drain', 'error' or 'close', whichever comes first.
 */
import { closeSync, WriteStream, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { SigflowError } from '../errors/index.js';

/** The name of a stream in messages: the path of a file stream, `stdout`, or `output`. */
export function streamName(out: Writable): string {
  if (out === process.stdout) return 'stdout';
  const path = (out as { path?: unknown }).path;
  return typeof path === 'string' ? path : 'output';
}

/** The system's reason for a failed write: its code (ENOSPC, EIO …) and what it means. */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return 'ENOSPC (no space left on device)';
  if (e?.code === 'EDQUOT') return 'EDQUOT (disk quota exceeded)';
  if (e?.code === 'EFBIG') return 'EFBIG (file too large)';
  return e?.code ?? (err instanceof Error ? err.message : String(err));
}

/** SF_ERR_IO_WRITE: `cannot write <name>: ENOSPC (no space left on device)`. */
export function writeError(name: string, err: unknown): SigflowError {
  return new SigflowError('SF_ERR_IO_WRITE', `cannot write ${name}: ${reason(err)}`, { where: name, cause: err });
}

/**
 * Whether a chunk written to `out` is done with once its write callback ran: true for files and stdout (the bytes
 * went to the system), false for any other stream (a PassThrough hands the very buffer to its reader).
 */
export function copiesOnWrite(out: Writable): boolean {
  return out === process.stdout || out === process.stderr || out instanceof WriteStream || out instanceof FileOutput;
}

/**
 * An output file written synchronously (`writeSync` per chunk), as Node writes stdout redirected to a file: for a
 * command whose only work is producing that file, a write handed to the thread pool only makes the formatting
 * wait for its callback (idle time), and the page cache takes a chunk in well under a millisecond. Owns `fd` and
 * closes it when the stream ends or is destroyed. `path` names it in errors.
 */
export class FileOutput extends Writable {
  private fd: number | null;

  constructor(
    fd: number,
    readonly path: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.fd = fd;
  }

  override _write(chunk: Uint8Array, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const fd = this.fd;
    if (fd === null) {
      // internal invariant: Writable calls no _write after _destroy (which alone clears fd)
      cb(new Error('the file is closed'));
      return;
    }
    try {
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at, chunk.length - at);
    } catch (e) {
      cb(e as Error);
      return;
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = null;
    try {
      if (fd !== null) closeSync(fd);
    } catch (e) {
      cb(err ?? (e as Error));
      return;
    }
    cb(err);
  }
}

/**
 * Writes `chunk` and, when the stream asks for it, waits until it drained. Rejects with SF_ERR_IO_WRITE when the
 * stream failed before or fails while waiting (or is closed under us). `written` is the stream's write callback
 * (called once the chunk was handled, with the error if it failed).
 */
export async function writeChunk(
  out: Writable,
  chunk: Uint8Array | string,
  name = streamName(out),
  written?: (err?: Error | null) => void,
): Promise<void> {
  if (out.errored) throw writeError(name, out.errored);
  if (out.destroyed || out.writableEnded) throw writeError(name, 'the stream is closed');
  let ok: boolean;
  try {
    ok = written ? out.write(chunk, written) : out.write(chunk);
  } catch (err) {
    throw writeError(name, err);
  }
  if (out.errored) throw writeError(name, out.errored);
  if (ok) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err === undefined) resolve();
      else reject(writeError(name, err));
    };
    const onDrain = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(out.errored ?? 'the stream closed before everything was written');
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

/**
 * Ends the process once standard output and error have taken everything written to them (an empty write calls
 * back after the writes queued before it: writes to a pipe are asynchronous), rather than letting the event loop
 * run dry — Node 20 can deadlock there (nodejs/node#54918: the main thread waits in the platform's DrainTasks for
 * a compiler task that never reports back; seen on this machine as a process that had finished its work and hung,
 * about one run in fifteen of a heavy extraction script). For one-shot programs: the CLI, the benchmarks.
 */
export async function exitWhenWritten(code?: number): Promise<never> {
  await Promise.all(
    [process.stdout, process.stderr].map((s) => new Promise<void>((done) => s.write('', () => done()))),
  );
  // process.exit(undefined) would clear process.exitCode (Node counts the argument, not its value)
  if (code === undefined) process.exit();
  process.exit(code);
}
