/**
 * The archive of messages the units could not read (malformed JSON, invalid UTF-8, oversized payloads):
 * `<data_dir>/rejected/<unit>.ndjson`, one JSON line each — time, topic, reason, the payload in base64 — so nothing
 * is dropped without a trace and a source can acknowledge the message (a broker's queue never stalls on it).
 * Bounded: at MAX_BYTES a file is renamed to `.1` (replacing the previous one) and a new one begun. Each line is
 * synced before the write resolves (the source acknowledges the message then).
 */
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../io/index.js';

const MAX_BYTES = 64 * 1024 * 1024;

export class RejectArchive {
  private ready: Promise<unknown> | null = null;
  /** Writes are queued per file, in order. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  write(unit: string, topic: string, reason: string, payload: Uint8Array): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true });
    const file = join(this.dir, `${unit}.ndjson`);
    const line = `${JSON.stringify({ time: new Date().toISOString(), unit, topic, reason, payload: Buffer.from(payload).toString('base64') })}\n`;
    const prev = this.queues.get(file) ?? Promise.resolve();
    const next = prev
      .then(() => this.ready)
      .then(async () => {
        const size = await stat(file).then(
          (s) => s.size,
          () => 0,
        );
        if (size + line.length > MAX_BYTES) await rename(file, `${file}.1`);
        // synced before the source acknowledges the message: the broker forgets it then, so the archive must
        // outlast a power loss (the folder too, when the file is new)
        const fh = await open(file, 'a');
        try {
          await fh.appendFile(line);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        if (size === 0 || size + line.length > MAX_BYTES) fsyncDir(this.dir);
      });
    this.queues.set(
      file,
      next.catch(() => {}),
    );
    return next;
  }
}
