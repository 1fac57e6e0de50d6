/**
 * The DBC engine against cantools' reference outputs: the in-repo fixture subset always, the whole shared corpus
 * when ../shared/data exists. Library API and `sigflow dbc decode` both.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Database } from '../../../src/codecs/dbc/index.js';
import { runCli } from '../../harness/cli.js';
import { fixturesDir, sharedData, warnNoShared } from '../../harness/paths.js';
import {
  assertNoFailures,
  checkErrorsLibrary,
  checkFramesLibrary,
  frameDiffs,
  loadManifest,
  type ManifestEntry,
  type RefError,
  type RefFrame,
  readNdjson,
  valueDiff,
} from './reference.js';

const roots: [string, string | null][] = [
  ['fixtures', join(fixturesDir, 'dbc')],
  ['shared corpus', sharedData],
];

/** Runs the CLI over one DBC's reference frames and compares every output line. */
async function checkFramesCli(root: string, entry: ManifestEntry): Promise<string[]> {
  const frames = readNdjson<RefFrame>(join(root, 'dbc/reference', entry.frames_file!));
  const input = frames.map((f) => JSON.stringify({ id: f.id, extended: f.extended, data: f.data })).join('\n');
  // single frames against cantools: no transport-protocol reassembly (the frames are not bus traffic)
  const r = await runCli(['dbc', 'decode', join(root, entry.path), '--transport', 'off'], { input });
  if (r.code !== 0) return [`${entry.path}: exit ${r.code}: ${r.stderr.slice(0, 300)}`];
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== frames.length)
    return [`${entry.path}: ${lines.length} output lines for ${frames.length} frames`];
  const failures: string[] = [];
  lines.forEach((line, i) => {
    const got = JSON.parse(line);
    if (got.error) {
      failures.push(`${entry.path} ${frames[i].data}: ${got.error} ${got.detail}`);
      return;
    }
    // one naming rule (src/codecs/dbc messageKeys): a name its file repeats is "<name>#0x<id>" (gnss.dbc)
    got.message = String(got.message).replace(/#0x[0-9a-f]+$/, '');
    const d = frameDiffs(entry.path, frames[i], got);
    if (d.length) failures.push(`${entry.path} ${frames[i].data}: ${d.slice(0, 3).join('; ')}`);
  });
  return failures;
}

/**
 * Runs the CLI over errors.ndjson cases. `modes`: without --truncated (short frames must be "short") and/or with it
 * (short frames must decode the signals that fit). Other errors must be the same in both modes.
 */
async function checkErrorsCli(root: string, cases: RefError[], modes: boolean[]): Promise<string[]> {
  const failures: string[] = [];
  const byDbc = new Map<string, RefError[]>();
  for (const c of cases) byDbc.set(c.dbc, [...(byDbc.get(c.dbc) ?? []), c]);
  const jobs = [...byDbc].flatMap(([dbc, list]) => modes.map((truncated) => ({ dbc, list, truncated })));
  await inBatches(jobs, 4, async ({ dbc, list, truncated }) => {
    const input = list.map((c) => JSON.stringify({ id: c.id, extended: c.extended, data: c.data })).join('\n');
    {
      const r = await runCli(
        ['dbc', 'decode', join(root, dbc), '--transport', 'off', ...(truncated ? ['--truncated'] : [])],
        { input },
      );
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      for (const [i, c] of list.entries()) {
        const got = lines[i];
        if (truncated && c.error === 'short') {
          if (got.error || !got.truncated) {
            failures.push(`${dbc} ${c.data}: --truncated gave ${JSON.stringify(got)}`);
            continue;
          }
          const want = c.truncated ?? {};
          if (Object.keys(got.phys).sort().join() !== Object.keys(want).sort().join())
            failures.push(`${dbc} ${c.data}: --truncated signals differ`);
          for (const k of Object.keys(want)) {
            const d = valueDiff(want[k], got.phys[k]);
            if (d) failures.push(`${dbc} ${c.data}: --truncated ${k}: ${d}`);
          }
        } else if (got.error !== c.error) {
          failures.push(`${dbc} ${c.data}: expected error ${c.error}, got ${JSON.stringify(got).slice(0, 200)}`);
        }
      }
    }
  });
  return failures;
}

async function inBatches<T, R>(items: T[], size: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

for (const [label, root] of roots) {
  describe(`DBC reference (${label})`, { skip: root === null ? 'no ../shared/data' : false }, () => {
    if (root === null) {
      warnNoShared();
      return;
    }
    const manifest = loadManifest(root).filter((e) => existsSync(join(root, e.path)));

    test('every DBC loads leniently; counts equal cantools wherever cantools loads the file', () => {
      const failures: string[] = [];
      for (const e of manifest) {
        let db: Database;
        try {
          db = Database.load([join(root, e.path)]);
        } catch (err) {
          failures.push(`${e.path}: ${(err as Error).message}`);
          continue;
        }
        if (!e.cantools_loads) {
          // The files cantools rejects load with warnings that name the quirk (checked by eye; see the note).
          if (db.warnings.length === 0)
            failures.push(`${e.path}: cantools rejects it (${e.error}) but sigflow warns about nothing`);
          continue;
        }
        const sigs = db.messages.reduce((a, m) => a + m.signals.length, 0);
        if (db.messages.length !== e.messages || sigs !== e.signals) {
          failures.push(
            `${e.path}: ${db.messages.length} messages/${sigs} signals, cantools ${e.messages}/${e.signals}`,
          );
        }
        if (e.encoding !== 'ascii' && db.files[0].encoding !== e.encoding)
          failures.push(`${e.path}: read as ${db.files[0].encoding}, expected ${e.encoding}`);
        // Our notion of "wide" (needs bigint) must cover every signal the oracle writes as decimal strings.
        for (const w of e.wide_signals) {
          const m = db.getMessage(w.message);
          const s = m?.signals.find((x) => x.name === w.signal);
          if (!s || !db.wide[s.globalIndex]) failures.push(`${e.path}: ${w.message}.${w.signal} should be wide`);
        }
      }
      assertNoFailures(failures, 'files');
    });

    test('every reference frame decodes exactly (library API)', () => {
      let n = 0;
      const failures: string[] = [];
      for (const e of manifest.filter((x) => x.frames_file)) {
        const [k, f] = checkFramesLibrary(root, e);
        n += k;
        failures.push(...f);
      }
      assert.ok(n > 0);
      assertNoFailures(failures, `of ${n} frames`);
    });

    test('every errors.ndjson case gives the expected error or truncated decode (library API)', () => {
      const cases = readNdjson<RefError>(join(root, 'dbc/reference/errors.ndjson')).filter((c) =>
        existsSync(join(root, c.dbc)),
      );
      assert.ok(cases.length > 0);
      assertNoFailures(checkErrorsLibrary(root, cases), 'error cases');
    });

    test('every reference frame decodes exactly through `sigflow dbc decode`', async () => {
      const entries = manifest.filter((x) => x.frames_file);
      const failures = (await inBatches(entries, 4, (e) => checkFramesCli(root, e))).flat();
      assertNoFailures(failures, 'CLI frames');
    });

    test('every errors.ndjson case through `sigflow dbc decode` (--truncated; fixtures also without)', async () => {
      const cases = readNdjson<RefError>(join(root, 'dbc/reference/errors.ndjson')).filter((c) =>
        existsSync(join(root, c.dbc)),
      );
      // The whole corpus runs once, with --truncated (mux and unknown-id errors are the same in both modes; the
      // plain "short" error through the CLI is covered by the fixture subset, which runs both modes).
      const modes = label === 'fixtures' ? [false, true] : [true];
      assertNoFailures(await checkErrorsCli(root, cases, modes), 'CLI error cases');
    });
  });
}

test('the fixture subset is what its manifest says', () => {
  const root = join(fixturesDir, 'dbc');
  for (const e of loadManifest(root)) {
    assert.ok(existsSync(join(root, e.path)), `${e.path} missing from fixtures`);
    if (e.frames_file) assert.ok(readFileSync(join(root, 'dbc/reference', e.frames_file)).length > 0);
  }
});
