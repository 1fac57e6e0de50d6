/**
 * The library's log lines (pino JSON: the outbox's retries, dead letters, recovery notes) as a person reads them on
 * a terminal, for commands that run the outbox (`import`):
 *   sigflow import: warning: influx: sink write failed; will retry — influx: 127.0.0.1:8086: no answer within 10s
 * The same message for the same sink is printed once per 10 s; the repeats in between are folded into one line
 * ("… 2175 more like this in the last 10 s") — a run of rejected records is a few lines, not one per record.
 * `--log-format json` keeps pino's JSON lines as they are (for log collectors).
 */
import type { DestinationStream } from 'pino';

const LEVELS: Readonly<Record<number, string>> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};

interface Folded {
  message: string;
  lastShown: number;
  more: number;
  records: number;
}

/** A pino destination writing human lines on stderr; `flush()` prints what was folded (call it at the end). */
export class HumanLogLines implements DestinationStream {
  private readonly folded = new Map<string, Folded>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly prefix: string,
    private readonly windowMs = 10_000,
    private readonly out: (text: string) => void = (t) => process.stderr.write(t),
  ) {
    this.timer = setInterval(() => this.flush(), windowMs);
    this.timer.unref();
  }

  write(line: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.out(`${this.prefix}: ${line.trimEnd()}\n`);
      return;
    }
    const level = LEVELS[Number(o.level)] ?? 'log';
    // who it is about: a sink (the outbox's lines) or a unit (sigflow run's)
    const sink = typeof o.sink === 'string' ? `${o.sink}: ` : typeof o.unit === 'string' ? `${o.unit}: ` : '';
    const msg = String(o.msg ?? '');
    const why = o.reason ?? (o.err as { message?: unknown } | undefined)?.message;
    const records = Number(o.rejected ?? o.records ?? 0) || 0;
    const key = `${level}\0${sink}\0${msg}`;
    const now = Date.now();
    const f = this.folded.get(key);
    if (f && now - f.lastShown < this.windowMs) {
      f.more++;
      f.records += records;
      return;
    }
    if (f?.more) this.summarise(f);
    const details = [
      why !== undefined ? String(why) : '',
      typeof o.attempt === 'number' ? `attempt ${o.attempt}` : '',
      Array.isArray(o.notes) ? o.notes.join('; ') : '',
    ].filter(Boolean);
    const text = `${level}: ${sink}${msg}`;
    this.out(`${this.prefix}: ${text}${details.length ? ` — ${details.join('; ')}` : ''}\n`);
    this.folded.set(key, { message: text, lastShown: now, more: 0, records: 0 });
  }

  /** Prints the folded repeats ("… N more like this") and forgets them. */
  flush(): void {
    for (const f of this.folded.values()) if (f.more > 0) this.summarise(f);
  }

  /** Stops the periodic flush after printing what is folded. */
  end(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private summarise(f: Folded): void {
    const recs = f.records > 0 ? `, ${f.records} records` : '';
    const secs = Math.max(1, Math.round((Date.now() - f.lastShown) / 1000));
    this.out(`${this.prefix}: … ${f.more} more "${f.message}" in the last ${secs} s${recs}\n`);
    f.more = 0;
    f.records = 0;
    f.lastShown = Date.now();
  }
}
