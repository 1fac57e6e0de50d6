/**
 * The log-decode pipeline (library) against the asammdf reference: frames (counts, first/last 25, digest) and
 * decoded statistics per DBC, over the in-repo fixtures always and the shared corpus when present.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUS_LIN,
  EV_CAN_DATA,
  EV_LIN_FRAME,
  FLAG_BRS,
  FLAG_EDL,
  FLAG_EXT,
  FLAG_TX,
  kindOf,
} from '../../src/formats/mdf4/index.js';
import { buildDecoderConfig } from '../../src/pipelines/logdecode/dbcset.js';
import { expandInputs } from '../../src/pipelines/logdecode/inputs.js';
import { forEachValue, j1939Sa, runLogPipeline } from '../../src/pipelines/logdecode/pipeline.js';
import { warnNoShared } from '../harness/paths.js';
import {
  checkDecoded,
  corpusCases,
  dbcPath,
  FrameCheck,
  fixtureCases,
  type RefCase,
  SeriesStats,
  seriesKey,
  signalPattern,
} from './reference.js';

async function checkFrames(c: RefCase): Promise<void> {
  const { files, problems } = await expandInputs([c.log]);
  assert.deepEqual(problems, []);
  const fc = new FrameCheck();
  const stats = await runLogPipeline(files, {
    batchSize: 4096,
    onFileError: (_i, e) => {
      throw e;
    },
    onBatch: (v) => {
      const b = v.frames;
      const hex = Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength);
      for (let i = 0; i < b.count; i++) {
        const ty = b.type[i];
        const f = b.flags[i];
        const data = hex.toString('hex', b.dataStart[i], b.dataStart[i + 1]);
        const t = v.time.format(b.offsetNs[i]);
        const bus = b.bus[i] === BUS_LIN ? 'LIN' : 'CAN';
        const kind = ty === EV_CAN_DATA || ty === EV_LIN_FRAME ? 'data' : kindOf(ty);
        const [chn, id, dlc, len] = [b.channel[i], b.id[i], b.dlc[i], b.length[i]];
        fc.addFields(t, bus, chn, id, (f & FLAG_EXT) !== 0, (f & FLAG_EDL) !== 0, data, kind, () => ({
          t,
          bus,
          chn,
          id,
          ext: (f & FLAG_EXT) !== 0,
          dir: f & FLAG_TX ? 1 : 0,
          dlc,
          len,
          edl: (f & FLAG_EDL) !== 0,
          brs: (f & FLAG_BRS) !== 0,
          data,
        }));
      }
    },
  });
  fc.check(c.ref, c.name);
  assert.equal(stats.frames, c.ref.n_frames, `${c.name}: stats.frames`);
  assert.equal(stats.failedFiles, 0);
}

/** Decodes the log once per DBC of the reference and compares the statistics of that DBC's signals. */
async function checkDecode(c: RefCase): Promise<number> {
  const { files } = await expandInputs([c.log]);
  let checked = 0;
  for (const attempt of c.ref.decoding_attempts) {
    // only the reference's signals are collected (the others are decoded too, but not handed out)
    // (a DBC with no signal in the reference: no filter — one that matches nothing is a usage error)
    const pattern = signalPattern(c.ref, attempt.dbc);
    const config = buildDecoderConfig({
      dbc: [dbcPath(c, attempt.dbc)],
      signals: pattern === '^$' ? undefined : new RegExp(pattern),
    });
    const series = new Map<string, SeriesStats>();
    const msgNames = config.databases.map((d) => d.messageName);
    let decodedFrames = 0;
    const stats = await runLogPipeline(files, {
      config,
      batchSize: 5000,
      onFileError: (_i, e) => {
        throw e;
      },
      onBatch: (v) => {
        const b = v.frames;
        let lastI = -1;
        let t = '';
        forEachValue(v, (i, d, k) => {
          if (i !== lastI) {
            lastI = i;
            t = v.time.format(b.offsetNs[i]);
          }
          const out = v.decoded?.[d];
          if (!out) throw new Error('no decode output');
          const db = config.databases[d];
          const gi = out.signal[k];
          const m = db.db.signalMessage[gi];
          const sa = db.messageJ1939[m.index] ? j1939Sa(b.id[i]) : null;
          // Reference names: per-DBC message names; gnss.dbc repeats names at different ids, so key by the
          // name sigflow prints and map the reference onto it below.
          const key = seriesKey(b.channel[i], msgNames[d][m.index], db.db.signals[gi].name, sa);
          let st = series.get(key);
          if (!st) {
            st = new SeriesStats();
            series.set(key, st);
          }
          st.add(t, db.wide[gi] ? Number(out.widePhys[k]) : out.phys[k]);
        });
      },
    });
    decodedFrames += stats.decodedFrames;
    const names = config.databases[0].db.messages;
    checked += checkDecoded(
      c.ref,
      attempt.dbc,
      series,
      (s) => {
        const same = names.filter((m) => m.name === s.message);
        return same.length > 1 ? `${s.message}#0x${s.can_id.toString(16)}` : s.message;
      },
      c.name,
    );
    if (attempt.message_instances === 0) {
      assert.equal(decodedFrames, 0, `${c.name}: ${attempt.dbc} matches no message in the reference`);
    } else assert.ok(decodedFrames > 0, `${c.name}: ${attempt.dbc} decodes something`);
  }
  return checked;
}

describe('log pipeline: fixtures vs asammdf reference', () => {
  for (const c of fixtureCases()) {
    it(`${c.name}: frames, counts, digest`, () => checkFrames(c));
    it(`${c.name}: decoded statistics per DBC`, async () => {
      const n = await checkDecode(c);
      assert.equal(n, c.ref.decoded.length, 'every reference signal was checked');
    });
  }
});

describe('log pipeline: shared corpus vs asammdf reference', () => {
  const cases = corpusCases();
  if (cases.length === 0) {
    warnNoShared();
    it.skip('shared corpus not present');
    return;
  }
  it(`${cases.length} corpus logs: frames, counts, digest, decoded statistics`, async () => {
    let signals = 0;
    for (const c of cases) {
      await checkFrames(c);
      signals += await checkDecode(c);
    }
    assert.equal(
      signals,
      cases.reduce((a, c) => a + c.ref.decoded.length, 0),
    );
  });
});
