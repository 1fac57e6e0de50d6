/**
 * Checks sigflow's DBC engine against cantools' reference outputs (manifest, frame files, errors.ndjson) under a
 * data root laid out like shared/data (the full corpus, or test/fixtures/dbc).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Database, type DecodedValue } from '../../../src/codecs/dbc/index.js';

export interface ManifestEntry {
  path: string;
  cantools_loads: boolean;
  error: string | null;
  messages: number | null;
  signals: number | null;
  encoding: string;
  wide_signals: { message: string; signal: string }[];
  frames_file?: string;
}

export interface RefFrame {
  id: number;
  extended: boolean;
  data: string;
  message: string;
  phys: Record<string, number | string>;
  raw: Record<string, number | string>;
  choices: Record<string, string>;
}

export interface RefError {
  dbc: string;
  id: number;
  extended: boolean;
  data: string;
  error: 'short' | 'mux' | 'unknown_id';
  message?: string;
  truncated?: Record<string, number | string>;
}

/**
 * Where sigflow deliberately differs from cantools (see docs/dbc.md of this repo, "Differences from cantools").
 * gm_global_a_powertrain_generated.dbc ends with `VAL_ 501 ManualMode 1 "Active" 0 "Inactive"` and no ';'.
 * cantools drops that statement silently; sigflow applies it and warns (missing_semicolon). So sigflow reports
 * a ManualMode choice that the oracle lacks. Every other value must match.
 */
export const EXTRA_CHOICES_VS_CANTOOLS: Record<string, Record<string, Record<string, string>>> = {
  'dbc/opendbc/generated/gm_global_a_powertrain_generated.dbc': { ECMPRDNL2: { ManualMode: '0:Inactive,1:Active' } },
};

export function loadManifest(root: string): ManifestEntry[] {
  return JSON.parse(readFileSync(join(root, 'dbc/reference/manifest.json'), 'utf8')).files;
}

export function readNdjson<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Compares one expected value (reference encoding) with a decoded one; returns a reason or null. */
export function valueDiff(expected: number | string, got: DecodedValue | string | undefined): string | null {
  if (got === undefined) return 'missing';
  if (typeof expected === 'string') {
    // The CLI writes these as strings too; the library returns numbers.
    if (expected === 'NaN')
      return got === 'NaN' || (typeof got === 'number' && Number.isNaN(got)) ? null : `expected NaN, got ${got}`;
    if (expected === 'Infinity' || expected === '-Infinity') {
      return got === expected || got === Number(expected) ? null : `expected ${expected}, got ${got}`;
    }
    const want = BigInt(expected);
    const have =
      typeof got === 'bigint'
        ? got
        : typeof got === 'string'
          ? BigInt(got)
          : Number.isInteger(got)
            ? BigInt(got)
            : null;
    return have === want ? null : `expected ${expected}, got ${got}`;
  }
  const g = typeof got === 'bigint' ? Number(got) : typeof got === 'string' ? Number(got) : got;
  if (expected === 0) {
    if (g !== 0) return `expected ${Object.is(expected, -0) ? '-0.0' : '0'}, got ${g}`;
    return Object.is(expected, -0) === Object.is(g, -0)
      ? null
      : `sign of zero differs (expected ${Object.is(expected, -0) ? '-0' : '+0'})`;
  }
  return Math.abs(g - expected) <= 1e-9 * Math.abs(expected) ? null : `expected ${expected}, got ${g}`;
}

/** Compares a decoded record ({phys, raw, choices}) with a reference frame; returns the differences. */
export function frameDiffs(
  dbcPath: string,
  ref: RefFrame,
  got: {
    message: string;
    phys: Record<string, DecodedValue | string>;
    raw: Record<string, DecodedValue | string>;
    choices: Record<string, string>;
  },
): string[] {
  const out: string[] = [];
  if (got.message !== ref.message) out.push(`message ${got.message} ≠ ${ref.message}`);
  for (const k of ['phys', 'raw'] as const) {
    const e = ref[k];
    const g = got[k];
    const ek = Object.keys(e).sort();
    const gk = Object.keys(g).sort();
    if (ek.join() !== gk.join()) out.push(`${k} signals [${gk}] ≠ [${ek}]`);
    for (const n of ek) {
      const d = valueDiff(e[n], g[n]);
      if (d) out.push(`${k}.${n}: ${d}`);
    }
  }
  const extra = EXTRA_CHOICES_VS_CANTOOLS[dbcPath]?.[ref.message] ?? {};
  const gc = { ...got.choices };
  for (const sig of Object.keys(extra)) {
    if (!(sig in gc)) continue;
    // Documented difference: the label sigflow adds must be the one the file's VAL_ gives for the raw value.
    const raw = String(ref.raw[sig]);
    const table = Object.fromEntries(extra[sig].split(',').map((x) => x.split(':')));
    if (gc[sig] !== table[raw]) out.push(`choices.${sig}: ${gc[sig]} is not the VAL_ label for raw ${raw}`);
    delete gc[sig];
  }
  const a = JSON.stringify(Object.entries(gc).sort());
  const b = JSON.stringify(Object.entries(ref.choices).sort());
  if (a !== b) out.push(`choices ${a} ≠ ${b}`);
  return out;
}

/** Library-API check of every reference frame of one manifest entry. Returns [checked, failures]. */
export function checkFramesLibrary(root: string, entry: ManifestEntry): [number, string[]] {
  const db = Database.load([join(root, entry.path)]);
  const frames = readNdjson<RefFrame>(join(root, 'dbc/reference', entry.frames_file!));
  const failures: string[] = [];
  for (const f of frames) {
    const r = db.decodeFrame(f.id, f.extended, Buffer.from(f.data, 'hex'));
    if (!r.ok) {
      failures.push(`${entry.path} ${f.message} ${f.data}: ${r.error} ${r.detail}`);
      continue;
    }
    const d = frameDiffs(entry.path, f, { message: r.message.name, phys: r.phys, raw: r.raw, choices: r.choices });
    if (d.length) failures.push(`${entry.path} ${f.message} ${f.data}: ${d.slice(0, 3).join('; ')}`);
  }
  return [frames.length, failures];
}

/** Library-API check of errors.ndjson cases whose DBC is under root. */
export function checkErrorsLibrary(root: string, cases: RefError[]): string[] {
  const dbs = new Map<string, Database>();
  const failures: string[] = [];
  for (const c of cases) {
    let db = dbs.get(c.dbc);
    if (!db) dbs.set(c.dbc, (db = Database.load([join(root, c.dbc)])));
    const data = Buffer.from(c.data, 'hex');
    const r = db.decodeFrame(c.id, c.extended, data);
    if (r.ok || r.error !== c.error) {
      failures.push(`${c.dbc} ${c.id} ${c.data}: expected ${c.error}, got ${r.ok ? 'a decode' : r.error}`);
      continue;
    }
    if (c.error === 'short') {
      const t = db.decodeFrame(c.id, c.extended, data, { truncated: true });
      if (!t.ok) {
        failures.push(`${c.dbc} ${c.id} ${c.data}: truncated decode failed: ${t.error}`);
        continue;
      }
      const want = c.truncated ?? {};
      const keys = Object.keys(want).sort().join();
      if (Object.keys(t.phys).sort().join() !== keys)
        failures.push(`${c.dbc} ${c.data}: truncated signals [${Object.keys(t.phys)}] ≠ [${keys}]`);
      for (const k of Object.keys(want)) {
        const d = valueDiff(want[k], t.phys[k]);
        if (d) failures.push(`${c.dbc} ${c.data}: truncated ${k}: ${d}`);
      }
    }
  }
  return failures;
}

export function assertNoFailures(failures: string[], what: string): void {
  assert.equal(failures.length, 0, `${failures.length} ${what} failed:\n${failures.slice(0, 20).join('\n')}`);
}
