/**
 * The column cache: decoded columns kept in memory, least recently used first out, bounded in bytes (the sum of
 * the entries' own `bytes`; a Map keeps insertion order, so re-inserting on use is the LRU). Shared by every
 * panel and user of a server. An entry larger than the whole budget is not kept (it is still returned).
 */

export interface Sized {
  /** Bytes this value holds (typed arrays' byteLength and a small constant). */
  readonly bytes: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class ColumnCache<V extends Sized> {
  private readonly map = new Map<string, V>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, v);
    this.hits++;
    return v;
  }

  set(key: string, value: V): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.bytes -= old.bytes;
    }
    if (value.bytes > this.maxBytes) return;
    this.map.set(key, value);
    this.bytes += value.bytes;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.bytes;
      this.evictions++;
    }
  }

  stats(): CacheStats {
    return {
      entries: this.map.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * Single flight: one run of a job per key at a time; concurrent callers share its promise. Each caller passes
 * its AbortSignal: leaving rejects that caller's promise with the signal's reason, and the job's own signal
 * aborts only when every caller waiting for it has gone (a second panel still wants what the first one's
 * cancelled request started).
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();
  /** Runs that a second caller joined. */
  shared = 0;

  run(key: string, job: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    let flight = this.flights.get(key);
    if (flight) this.shared++;
    else {
      const controller = new AbortController();
      const promise = job(controller.signal).finally(() => this.flights.delete(key));
      // a job nobody waits for any more must not surface as an unhandled rejection
      promise.catch(() => {});
      flight = { promise, controller, waiters: 0 };
      this.flights.set(key, flight);
    }
    return this.wait(flight, signal);
  }

  private wait(flight: Flight<T>, signal?: AbortSignal): Promise<T> {
    flight.waiters++;
    if (!signal) return flight.promise;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const onAbort = () => {
        if (done) return;
        done = true;
        if (--flight.waiters === 0) flight.controller.abort(signal.reason);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (fn: () => void) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      flight.promise.then(
        (v) => settle(() => resolve(v)),
        (e) => settle(() => reject(e)),
      );
    });
  }
}
