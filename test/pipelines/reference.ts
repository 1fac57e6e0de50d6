/**
 * Reference cases for the log pipeline tests: every CANedge log with its asammdf reference JSON (in-repo fixtures
 * always; the shared corpus when present), and the checks (counts, first/last frames, digest, decoded statistics)
 * shared by the library and the CLI tests.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { RefFrame } from '../formats/mdf4/reference.js';
import { fixturesDir, sharedData } from '../harness/paths.js';

export type { RefFrame };

export interface RefSignal {
  dbc: string;
  message: string;
  signal: string;
  bus: number;
  can_id: number;
  ext: boolean;
  j1939: { pgn: number; sa: number } | null;
  count: number;
  first: [string, number][];
  last: [string, number][];
  min: number;
  max: number;
  mean: number;
  n_source_frames: number;
  n_invalid_j1939?: number;
  min_valid?: number;
  max_valid?: number;
  mean_valid?: number;
}

export interface RefJson {
  file: string;
  counts: { bus: string; chn: number; kind: string; fd: boolean; ext: boolean; n: number }[];
  n_frames: number;
  frames_first: RefFrame[];
  frames_last: RefFrame[];
  digest: { sha256: string; n_frames: number };
  decoding_attempts: { dbc: string; message_instances: number }[];
  decoded: RefSignal[];
}

export interface RefCase {
  name: string;
  log: string;
  ref: RefJson;
  /** Root that `decoding_attempts[].dbc` is relative to. */
  dbcRoot: string;
}

const fixtureDbcRoot = join(fixturesDir, 'canedge', 'dbc');

/** The in-repo fixture logs with their reference JSON. */
export function fixtureCases(): RefCase[] {
  const out: RefCase[] = [];
  const ce = join(fixturesDir, 'canedge');
  for (const f of readdirSync(join(ce, 'reference'))
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    out.push({
      name: `fixture canedge/${basename(f, '.json')}`,
      log: join(ce, basename(f, '.json')),
      ref: JSON.parse(readFileSync(join(ce, 'reference', f), 'utf8')),
      dbcRoot: fixtureDbcRoot,
    });
  }
  const md = join(fixturesDir, 'mdf4');
  for (const f of readdirSync(md)
    .filter((f) => /\.mf4\.json$/i.test(f))
    .sort()) {
    out.push({
      name: `fixture mdf4/${basename(f, '.json')}`,
      log: join(md, basename(f, '.json')),
      ref: JSON.parse(readFileSync(join(md, f), 'utf8')),
      dbcRoot: fixtureDbcRoot,
    });
  }
  return out;
}

/** Every log of the shared corpus with its reference (empty without the corpus). */
export function corpusCases(): RefCase[] {
  if (!sharedData) return [];
  const root = join(sharedData, 'canedge');
  const refDir = join(root, 'reference');
  if (!existsSync(refDir)) return [];
  const out: RefCase[] = [];
  for (const f of readdirSync(refDir)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .sort()) {
    const ref = JSON.parse(readFileSync(join(refDir, f), 'utf8')) as RefJson;
    out.push({ name: `corpus ${ref.file}`, log: join(root, ref.file), ref, dbcRoot: root });
  }
  return out;
}

export function dbcPath(c: RefCase, dbc: string): string {
  return join(c.dbcRoot, dbc);
}

/** A frame as the CLI prints it (NDJSON) — the library test builds the same shape. */
export interface OutFrame {
  t: string;
  bus: string;
  chn: number;
  id: number;
  ext: boolean;
  dir: number;
  dlc: number;
  len: number;
  edl: boolean;
  brs: boolean;
  data: string;
  kind?: string;
}

/**
 * Collects frames and checks them against a reference: counts, first/last 25 data frames, digest. Kept lean
 * (one string per frame, no BigInt): the corpus has 1.4 M frames.
 */
export class FrameCheck {
  counts = new Map<string, number>();
  /** Per data frame: sort key (t padded to 20 digits, bus, chn, id, data, ext) + \u0001 + digest line. */
  lines: string[] = [];
  head: OutFrame[] = [];
  private ring: (OutFrame | (() => OutFrame))[] = new Array(25);
  private n = 0;

  /** Adds a frame; `full` builds the whole frame (called only for the first and last 25). */
  addFields(
    t: string,
    bus: string,
    chn: number,
    id: number,
    ext: boolean,
    edl: boolean,
    data: string,
    kind: string,
    full: OutFrame | (() => OutFrame),
  ): void {
    const k = `${bus}|${chn}|${kind}|${edl}|${ext}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    if (kind !== 'data') return;
    if (this.head.length < 25) this.head.push(typeof full === 'function' ? full() : full);
    this.ring[this.n % 25] = full;
    this.n++;
    const e = ext ? 1 : 0;
    this.lines.push(
      `${t.padStart(20, '0')}\u0000${bus}\u0000${String(chn).padStart(3, '0')}\u0000${String(id).padStart(10, '0')}\u0000${data}\u0000${e}\u0001${t},${bus},${chn},${id},${e},${data}\n`,
    );
  }

  add(f: OutFrame): void {
    this.addFields(f.t, f.bus, f.chn, f.id, f.ext, f.edl, f.data, f.kind ?? 'data', f);
  }

  private tail(): OutFrame[] {
    const out: OutFrame[] = [];
    for (let j = Math.max(0, this.n - 25); j < this.n; j++) {
      const f = this.ring[j % 25];
      out.push(typeof f === 'function' ? f() : f);
    }
    return out;
  }

  check(ref: RefJson, name: string): void {
    const want = new Map<string, number>();
    for (const c of ref.counts) want.set(`${c.bus}|${c.chn}|${c.kind}|${c.fd}|${c.ext}`, c.n);
    assert.deepEqual(
      Object.fromEntries([...this.counts].sort()),
      Object.fromEntries([...want].sort()),
      `${name}: counts`,
    );
    const norm = (f: RefFrame | OutFrame) => ({
      t: 't_ns' in f ? f.t_ns : f.t,
      bus: f.bus,
      chn: f.chn,
      id: f.id,
      ext: f.ext,
      dir: f.dir,
      dlc: f.dlc,
      len: f.len,
      edl: f.edl,
      brs: f.brs,
      data: f.data,
    });
    assert.equal(this.lines.length, ref.n_frames, `${name}: n_frames`);
    assert.deepEqual(this.head.map(norm), ref.frames_first.map(norm), `${name}: first 25 frames`);
    assert.deepEqual(this.tail().map(norm), ref.frames_last.map(norm), `${name}: last 25 frames`);
    this.lines.sort();
    const h = createHash('sha256');
    for (const l of this.lines) h.update(l.slice(l.indexOf('\u0001') + 1));
    assert.equal(h.digest('hex'), ref.digest.sha256, `${name}: digest`);
    assert.equal(this.lines.length, ref.digest.n_frames, `${name}: digest n_frames`);
  }
}

/** A regular expression matching exactly the reference's `message.signal` names of one DBC (for --signals). */
export function signalPattern(ref: RefJson, dbc: string | null): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const names = [
    ...new Set(ref.decoded.filter((s) => dbc === null || s.dbc === dbc).map((s) => `${s.message}.${s.signal}`)),
  ];
  return names.length ? `^(?:${names.map(esc).join('|')})$` : '^$';
}

/** Statistics of one decoded series, accumulated the way the reference defines them. */
export class SeriesStats {
  count = 0;
  first: [string, number][] = [];
  last: [string, number][] = [];
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  sum = 0;

  add(t: string, v: number): void {
    this.count++;
    if (this.first.length < 5) this.first.push([t, v]);
    this.last.push([t, v]);
    if (this.last.length > 10) this.last.splice(0, 5);
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.sum += v;
  }
}

export function seriesKey(chn: number, message: string, signal: string, sa: number | null): string {
  return `${chn}|${message}|${signal}|${sa ?? ''}`;
}

function close(a: number, b: number, what: string): void {
  const tol = 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs reference ${b}`);
}

/**
 * Checks the reference's decoded signals of `dbc` against collected series. `messageName(s)` maps a reference
 * signal to the message name sigflow reports. sigflow reports J1939 "not available" raw values as they decode
 * (no NA flagging), so the all-sample statistics apply; the test also asserts that the corpus has no such samples
 * where the two would differ (n_invalid_j1939 = 0), and fails loudly if a new sample has some.
 */
export function checkDecoded(
  ref: RefJson,
  dbc: string,
  series: Map<string, SeriesStats>,
  messageName: (s: RefSignal) => string,
  name: string,
): number {
  let checked = 0;
  for (const s of ref.decoded.filter((x) => x.dbc === dbc)) {
    const what = `${name}: ${basename(dbc, extname(dbc))} ${s.message}.${s.signal} on CAN${s.bus}`;
    const st = series.get(seriesKey(s.bus, messageName(s), s.signal, s.j1939 ? s.j1939.sa : null));
    assert.ok(st, `${what}: no values decoded (have ${[...series.keys()].slice(0, 20).join(', ')})`);
    assert.equal(st.count, s.count, `${what}: count`);
    assert.equal(st.count, s.n_source_frames, `${what}: one value per source frame`);
    if (s.n_invalid_j1939 !== undefined) assert.equal(s.n_invalid_j1939, 0, `${what}: reference has J1939 n/a samples`);
    const tail = st.last.slice(-5);
    assert.equal(st.first.length, s.first.length, `${what}: first`);
    for (let i = 0; i < s.first.length; i++) {
      assert.equal(st.first[i][0], s.first[i][0], `${what}: first[${i}] time`);
      close(st.first[i][1], s.first[i][1], `${what}: first[${i}] value`);
    }
    for (let i = 0; i < s.last.length; i++) {
      assert.equal(tail[i][0], s.last[i][0], `${what}: last[${i}] time`);
      close(tail[i][1], s.last[i][1], `${what}: last[${i}] value`);
    }
    close(st.min, s.min, `${what}: min`);
    close(st.max, s.max, `${what}: max`);
    close(st.sum / st.count, s.mean, `${what}: mean`);
    checked++;
  }
  return checked;
}
