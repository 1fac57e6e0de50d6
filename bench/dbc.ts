/**
 * `npm run bench -- dbc [--json] [--frames N]`
 *
 * Decodes the same 10,000 random valid frames per DBC (ford_lincoln_base_pt, vw_mlb, toyota_tss2_adas) through
 * the batch API and the per-frame API, with VAL_ choices on and off, and prints frames/s and signals/s beside
 * cantools' figures measured on this machine class (../shared/docs/dbc.md). Also times parsing
 * ford_lincoln_base_pt (807 KB; cantools ≈ 330 ms).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawBits, writeBits } from '../src/codecs/dbc/encoder.js';
import { Database, DecodedBatch, type FrameColumns, type Message } from '../src/codecs/dbc/index.js';
import { fixturesDir } from '../test/harness/paths.js';
import { arg, fmtRate, median, note, peakRssMb, report, timeRuns } from './_harness.js';

const CANTOOLS: Record<string, { lo: number; hi: number; raw: string }> = {
  ford_lincoln_base_pt: { lo: 231e3, hi: 266e3, raw: '454k–477k' },
  vw_mlb: { lo: 241e3, hi: 266e3, raw: '446k' },
  toyota_tss2_adas: { lo: 556e3, hi: 578e3, raw: '664k–670k' },
};

/** Small deterministic PRNG (mulberry32) so every run decodes the same frames. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random payloads with every multiplexer set to a value that is defined (so frames decode). */
function makeFrames(db: Database, n: number, seed: number): FrameColumns {
  const rand = rng(seed);
  const usable = db.messages.filter((m) => m.signals.length > 0 && m.length > 0);
  const cols: FrameColumns = {
    count: n,
    id: new Uint32Array(n),
    ext: new Uint8Array(n),
    data: new Uint8Array(n * 64),
    offset: new Uint32Array(n),
    length: new Uint8Array(n),
  };
  for (let i = 0; i < n; i++) {
    const m: Message = usable[Math.floor(rand() * usable.length)];
    const payload = new Uint8Array(m.length);
    for (let k = 0; k < payload.length; k++) payload[k] = Math.floor(rand() * 256);
    for (const s of m.signals) {
      if (!s.isMultiplexer) continue;
      const values = new Set<number>();
      for (const c of m.signals) {
        if (c.multiplexerSignal !== s.name) continue;
        for (const r of c.multiplexerRanges ?? []) values.add(r.lo + Math.floor(rand() * (r.hi - r.lo + 1)));
      }
      for (const c of s.choices ?? []) values.add(Number(c.value));
      if (values.size === 0) continue;
      const pick = [...values][Math.floor(rand() * values.size)];
      writeBits(s, rawBits(s, pick, false), payload);
    }
    cols.id[i] = m.id;
    cols.ext[i] = m.extended ? 1 : 0;
    cols.offset[i] = i * 64;
    cols.length[i] = m.length;
    cols.data.set(payload, i * 64);
  }
  return cols;
}

async function main(): Promise<void> {
  const nFrames = Number(arg('frames', '10000'));
  const root = join(fixturesDir, 'dbc', 'dbc', 'opendbc');
  note(
    `DBC decode benchmark: ${nFrames} random valid frames per DBC, median of 7 runs (cantools: ../shared/docs/dbc.md)\n`,
  );

  // Parse time of the largest file.
  const fordPath = join(root, 'ford_lincoln_base_pt.dbc');
  const fordText = readFileSync(fordPath, 'latin1');
  // The first parse in the process runs before V8 has optimised the parser: what a CLI run pays.
  const t0 = performance.now();
  Database.fromText(fordText, fordPath);
  const coldMs = performance.now() - t0;
  const parseTimes = await timeRuns(() => Database.fromText(fordText, fordPath), 9, 2);
  const parseMs = median(parseTimes) * 1000;
  report(
    { case: 'ford_lincoln_base_pt/parse', ms: +parseMs.toFixed(1), cold_ms: +coldMs.toFixed(1), cantools_ms: 330 },
    `parse ford_lincoln_base_pt.dbc (807 KB): ${parseMs.toFixed(1)} ms median, first parse in the process ${coldMs.toFixed(1)} ms (cantools 317–368 ms → ${(330 / parseMs).toFixed(1)}× / ${(330 / coldMs).toFixed(1)}× faster)`,
  );

  for (const stem of ['ford_lincoln_base_pt', 'vw_mlb', 'toyota_tss2_adas']) {
    const db = Database.load([join(root, `${stem}.dbc`)]);
    const frames = makeFrames(db, nFrames, 1);
    const ref = CANTOOLS[stem];
    for (const api of ['batch', 'frame'] as const) {
      for (const choices of [true, false]) {
        const out = new DecodedBatch();
        db.compileAll({ choices });
        let values = 0;
        let errors = 0;
        const views = Array.from({ length: frames.count }, (_, i) =>
          frames.data.subarray(frames.offset[i], frames.offset[i] + frames.length[i]),
        );
        const once =
          api === 'batch'
            ? () => {
                db.decodeBatch(frames, out, { choices });
                values = out.values;
              }
            : () => {
                let v = 0;
                let e = 0;
                for (let i = 0; i < frames.count; i++) {
                  const r = db.decodeFrame(frames.id[i], frames.ext[i] === 1, views[i], { choices });
                  if (r.ok) {
                    for (const _ in r.phys) v++;
                  } else e++;
                }
                values = v;
                errors = e;
              };
        // Warm up for 2 s: each of a large DBC's hundreds of message decoders must reach V8's optimising tier, as
        // in a long-running pipeline (0.5 s measured ford_lincoln with choices at a third of its steady rate).
        // Then repeat the 10k frames enough times for each run to last ~0.2 s.
        const warmEnd = performance.now() + 2000;
        let calls = 0;
        const tw = performance.now();
        while (performance.now() < warmEnd) {
          once();
          calls++;
        }
        const reps = Math.max(1, Math.round((200 * calls) / Math.max(1, performance.now() - tw)));
        const times = await timeRuns(
          () => {
            for (let r = 0; r < reps; r++) once();
          },
          7,
          1,
        );
        const sec = median(times) / reps;
        const fps = frames.count / sec;
        const sps = values / sec;
        if (api === 'batch') errors = [...out.message.subarray(0, out.frames)].filter((x) => x < 0).length;
        const name = `${stem}/${api}/${choices ? 'choices' : 'nochoices'}`;
        const vs = choices
          ? `cantools ${fmtRate(ref.lo)}–${fmtRate(ref.hi)} → ${(fps / ref.hi).toFixed(1)}×`
          : `cantools raw ${ref.raw}`;
        report(
          {
            case: name,
            frames_per_s: Math.round(fps),
            signals_per_s: Math.round(sps),
            errors,
            cantools_frames_per_s: choices ? [ref.lo, ref.hi] : ref.raw,
            peak_rss_mb: +peakRssMb().toFixed(1),
          },
          `${name.padEnd(44)} ${fmtRate(fps).padStart(8)} frames/s ${fmtRate(sps).padStart(8)} signals/s   (${vs})${errors ? `  [${errors} frames did not decode]` : ''}`,
        );
      }
    }
  }
  note(`\npeak RSS ${peakRssMb().toFixed(0)} MB`);
}

await main();
