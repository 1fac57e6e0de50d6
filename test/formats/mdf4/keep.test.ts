/**
 * readBusFrames' `keep` filter (the server's decode passes use it): exactly the frames of an unfiltered read that
 * the predicate accepts, in the same order, with the same payloads — on real CANedge logs of two layouts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { frameAt, openMdf4, readBusFrames } from '../../../src/formats/mdf4/index.js';
import { fixturesDir } from '../../harness/paths.js';

const FILES = [
  join(fixturesDir, 'canedge', 'serve', 'LOG', '2F6913DB', '00000004', '00000001.MF4'),
  join(fixturesDir, 'canedge', '00000001-60B621D9.MF4'),
];

async function frames(path: string, keep?: (ch: number, id: number, ext: boolean) => boolean) {
  const mdf = await openMdf4(path);
  const out: string[] = [];
  try {
    for await (const b of readBusFrames(mdf, { keep, batchSize: 1000 })) {
      for (let i = 0; i < b.count; i++) {
        const f = frameAt(b, i);
        out.push(`${f.timeNs} ${f.channel} ${f.id} ${f.extended} ${f.type} ${Buffer.from(f.data).toString('hex')}`);
      }
    }
  } finally {
    await mdf.close();
  }
  return out;
}

for (const file of FILES) {
  test(`keep filters inside the reader: ${file.split('/').slice(-2).join('/')}`, async () => {
    const all = await frames(file);
    assert.ok(all.length > 1000);
    const ids = [...new Set(all.map((l) => Number(l.split(' ')[2])))];
    const pick = new Set(ids.filter((_, i) => i % 2 === 0));
    const keep = (ch: number, id: number) => ch !== 9 && pick.has(id);
    const want = all.filter((l) => {
      const [, ch, id] = l.split(' ');
      return keep(Number(ch), Number(id));
    });
    const got = await frames(file, keep);
    assert.ok(want.length > 0 && want.length < all.length, `${want.length} of ${all.length}`);
    assert.deepEqual(got, want);
    assert.deepEqual(await frames(file, () => false), []);
  });
}
