/**
 * The rate limiter's log on disk, so that a restart — a crash, a SIGKILL, an update — does not start with empty
 * windows and send a second quota on top of the one the server saw just before it. ThingsBoard counts per device
 * over the last second, minute and hour whichever process sent them.
 *
 * A fixed-size file of float64 values: `[count, cap, slot 0 … slot cap-1]`. Send number `s` (0, 1, …) lives in slot
 * `s % cap`: written `-t` (wall-clock ms, negated: sent, not yet acknowledged) when it is sent and `+t` when its
 * PUBACK came (or it was given up), then the count. Each event is two 8-byte writes at fixed offsets, without fsync:
 * the page cache keeps them through the death of the process (only a power loss can lose the last ones — and
 * then the restart takes longer than a window). A send still unacknowledged when the process died counts as
 * acknowledged at the restart: the server may have received it at any time until then.
 */
import { closeSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** One logged send: its wall-clock time (ms) of acknowledgement, or null when it was never acknowledged. */
export type JournalEntry = number | null;

const HEADER = 2;

export class RateJournal {
  private fd: number;
  private count = 0;
  private readonly value = new Float64Array(1);
  private readonly bytes = new Uint8Array(this.value.buffer);

  private constructor(
    fd: number,
    readonly cap: number,
    /** The sends of the previous runs, oldest first (at most `cap`). */
    readonly previous: JournalEntry[],
  ) {
    this.fd = fd;
  }

  /**
   * Opens (or creates) the journal at `path` for the last `cap` sends; what a previous run logged is in
   * `previous`. A journal of another capacity (the limits changed) is read and rewritten at this one.
   */
  static open(path: string, cap: number): RateJournal {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a+');
    closeSync(fd);
    const rw = openSync(path, 'r+');
    const previous = readEntries(rw);
    const j = new RateJournal(rw, cap, previous.slice(-cap));
    // rewritten in this capacity, the previous sends first
    j.put(1, cap);
    for (const e of j.previous) j.log(e === null ? Number.NEGATIVE_INFINITY : e);
    return j;
  }

  /** Logs a send at wall-clock `t` (not yet acknowledged); returns its number for `settle`. */
  sent(t: number): number {
    return this.log(-t);
  }

  /** Logs that send `n` was acknowledged (or given up) at wall-clock `t`. */
  settle(n: number, t: number): void {
    if (this.count - n <= this.cap) this.put(HEADER + (n % this.cap), t);
  }

  /** Logs a send acknowledged at once; returns its number. */
  log(t: number): number {
    const n = this.count;
    this.put(HEADER + (n % this.cap), t);
    this.count = n + 1;
    this.put(0, this.count);
    return n;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private put(index: number, v: number): void {
    if (this.fd < 0) return;
    this.value[0] = v;
    writeSync(this.fd, this.bytes, 0, 8, index * 8);
  }
}

/** The sends logged in a journal file, oldest first; an empty or unreadable file has none. */
function readEntries(fd: number): JournalEntry[] {
  const head = new Float64Array(HEADER);
  if (readSync(fd, new Uint8Array(head.buffer), 0, HEADER * 8, 0) < HEADER * 8) return [];
  const [count, cap] = head;
  if (!Number.isSafeInteger(count) || !Number.isSafeInteger(cap) || count < 0 || cap < 1 || cap > 10_000_000) return [];
  const slots = new Float64Array(cap);
  const got = readSync(fd, new Uint8Array(slots.buffer), 0, cap * 8, HEADER * 8);
  const n = Math.min(count, cap, Math.floor(got / 8));
  const out: JournalEntry[] = [];
  for (let s = count - n; s < count; s++) {
    const v = slots[s % cap];
    // negative: sent and never acknowledged (-Infinity: logged so by a previous rewrite); NaN: a torn write
    out.push(Number.isNaN(v) || v < 0 ? null : v);
  }
  return out;
}
