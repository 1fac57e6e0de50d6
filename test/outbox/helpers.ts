/** Test helpers for the outbox: temp dirs, a silent logger, record makers and scripted sinks. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Sink, WriteResult } from '../../src/outbox/index.js';
import type { TelemetryRecord } from '../../src/records/record.js';

export const silent = pino({ level: 'silent' });

export function tempDir(t?: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-outbox-'));
  t?.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Records whose time is their sequence number, so delivery can be checked exactly. */
export function seqRecords(from: number, n: number, device = 'd1'): TelemetryRecord[] {
  const tags = { device, bus: 'can0' };
  const out: TelemetryRecord[] = [];
  for (let i = from; i < from + n; i++) {
    out.push({ time: BigInt(i), measurement: 'm', tags, fields: { v: i * 0.5, n: BigInt(i), ok: i % 2 === 0 } });
  }
  return out;
}

export type Script = WriteResult | ((batch: readonly TelemetryRecord[]) => WriteResult | Promise<WriteResult>);

/**
 * A sink that answers from a script (one entry per write, then `fallback`) and keeps what it accepted. Accepted
 * records are those of an ok write, or the non-rejected ones of a partial write.
 */
export class ScriptedSink implements Sink {
  readonly accepted: TelemetryRecord[] = [];
  readonly writes: { size: number; at: number; result: WriteResult['kind'] }[] = [];
  script: Script[];
  fallback: WriteResult;
  constructor(
    readonly name: string,
    script: Script[] = [],
    fallback: WriteResult = { kind: 'ok' },
  ) {
    this.script = [...script];
    this.fallback = fallback;
  }
  async write(batch: readonly TelemetryRecord[]): Promise<WriteResult> {
    const next = this.script.length ? (this.script.shift() as Script) : this.fallback;
    const res = typeof next === 'function' ? await next(batch) : next;
    this.writes.push({ size: batch.length, at: Date.now(), result: res.kind });
    if (res.kind === 'ok') this.accepted.push(...batch);
    if (res.kind === 'partial') {
      const rej = new Set(res.rejected.map((r) => r.index));
      batch.forEach((r, i) => {
        if (!rej.has(i)) this.accepted.push(r);
      });
    }
    return res;
  }
  async close(): Promise<void> {}
  times(): number[] {
    return this.accepted.map((r) => Number(r.time));
  }
}

export function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

export function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Overwrites `count` pages (never page 1, the header) of an SQLite file with seeded random bytes. */
export function damagePages(file: string, count: number, seed: number, from = 0.2, to = 0.9): void {
  const bytes = readFileSync(file);
  const ps = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
  const pages = Math.floor(bytes.length / ps);
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const lo = Math.max(1, Math.floor(pages * from));
  const hi = Math.max(lo + 1, Math.floor(pages * to));
  for (let k = 0; k < count; k++) {
    const p = lo + Math.floor(rnd() * (hi - lo));
    for (let i = p * ps; i < (p + 1) * ps && i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
  }
  writeFileSync(file, bytes);
}
