/**
 * The asammdf test files (DZ transposed deflate, various conversions) against their reference JSON: header,
 * groups, record layout, raw and physical values of every listed channel.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { flattenChannels, openMdf4, readChannel } from '../../../src/formats/mdf4/index.js';
import { sharedData, warnNoShared } from '../../harness/paths.js';

const FILES = ['asammdf_test_batch.mf4', 'asammdf_test_batch_cut_0.mf4', 'asammdf_test_metadata.mf4'];
const DT = ['uint_le', 'uint_be', 'int_le', 'int_be', 'float_le', 'float_be'];

for (const name of FILES) {
  test(`asammdf file ${name} matches the reference`, async (t) => {
    if (!sharedData) {
      warnNoShared();
      t.skip('shared corpus not found');
      return;
    }
    const dir = join(sharedData, 'mdf4-asammdf');
    const raw = readFileSync(join(dir, 'reference', `${name}.json`), 'utf8');
    const ref = JSON.parse(raw);
    const mdf = await openMdf4(join(dir, name));
    try {
      assert.equal(mdf.header.startTimeNs, BigInt((/"start_time_ns":\s*(\d+)/.exec(raw) as RegExpExecArray)[1]));
      assert.equal(mdf.header.timeIsLocal, ref.header.time_is_local);
      assert.equal(mdf.header.comment?.includes(ref.header.comment_raw.slice(0, 40)), true);
      assert.equal(mdf.id.finalized, ref.finalized);
      assert.equal(mdf.id.program, ref.id_block.program.trimEnd());
      assert.deepEqual(
        mdf.history.map((h) => h.comment),
        ref.file_history.map((h: { comment: string }) => h.comment),
      );
      const cgs = mdf.channelGroups;
      assert.equal(cgs.length, ref.n_groups);
      let listed = 0;
      for (const g of ref.groups) {
        const cg = cgs[g.index];
        assert.equal(cg.acqName ?? '', g.acq_name);
        assert.equal(cg.cycleCount, g.cycles);
        assert.equal(cg.dataBytes, g.samples_byte_nr);
        const chans = flattenChannels(cg.channels);
        for (const c of g.channels) {
          const ch = chans[c.index];
          assert.equal(ch.name, c.name);
          assert.equal(ch.byteOffset, c.byte_offset);
          assert.equal(ch.bitCount, c.bit_count);
          assert.equal(DT[ch.dataType], c.data_type);
          if (!c.raw_first) continue;
          listed++;
          const v = await readChannel(mdf, cg, ch);
          assert.equal(v.raw.length, c.samples, `${c.name} samples`);
          const n = c.raw_first.length;
          assert.deepEqual(v.raw.slice(0, n), c.raw_first, `${c.name} raw_first`);
          assert.deepEqual(v.raw.slice(-c.raw_last.length), c.raw_last, `${c.name} raw_last`);
          const phys = (xs: unknown[]) => xs.map((x) => (typeof x === 'number' ? Number(x.toPrecision(12)) : x));
          assert.deepEqual(phys(v.phys.slice(0, n)), phys(c.phys_first), `${c.name} phys_first`);
          assert.deepEqual(phys(v.phys.slice(-c.phys_last.length)), phys(c.phys_last), `${c.name} phys_last`);
        }
      }
      assert.equal(listed, ref.numeric_channels_listed);
      // the only warning: a start time flagged as local time (reported, used as if UTC)
      assert.deepEqual(
        mdf.warnings.map((w) => w.offset),
        ref.header.time_is_local ? [64] : [],
      );
      if (ref.header.time_is_local) assert.match(mdf.warnings[0].message, /local time/);
    } finally {
      await mdf.close();
    }
  });
}
