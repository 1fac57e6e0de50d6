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

test('everyChunk: a filter that keeps nothing still gets control back per chunk walked (not once per file)', async () => {
  const file = FILES[0];
  const count = async (everyChunk: boolean) => {
    const mdf = await openMdf4(file, { chunkSize: 16384 });
    let yields = 0;
    let events = 0;
    try {
      for await (const b of readBusFrames(mdf, { types: [0], keep: () => false, everyChunk, batchSize: 1000 })) {
        yields++;
        events += b.count;
      }
    } finally {
      await mdf.close();
    }
    return { yields, events };
  };
  assert.deepEqual(await count(false), { yields: 0, events: 0 });
  const every = await count(true);
  assert.equal(every.events, 0);
  // the 215 kB log in 16 KiB chunks: control back about once per chunk
  assert.ok(every.yields >= 10, `${every.yields} yields`);
  // and with a filter that keeps frames: the same frames as without everyChunk
  const keepSome = (_ch: number, id: number) => id % 3 === 0;
  const read = async (everyChunk: boolean) => {
    const mdf = await openMdf4(file, { chunkSize: 16384 });
    const out: string[] = [];
    try {
      for await (const b of readBusFrames(mdf, { types: [0], keep: keepSome, everyChunk, batchSize: 1000 }))
        for (let i = 0; i < b.count; i++) out.push(`${frameAt(b, i).timeNs} ${b.id[i]}`);
    } finally {
      await mdf.close();
    }
    return out;
  };
  const plain = await read(false);
  assert.ok(plain.length > 0);
  assert.deepEqual(await read(true), plain);
});
