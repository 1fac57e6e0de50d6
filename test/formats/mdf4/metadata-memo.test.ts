/**
 * The data-group memo (BlockReader.dataGroups): a file whose metadata bytes equal those of a recent parse gets that
 * parse's model. Reuse must be invisible: for any file — the same metadata, one byte changed anywhere in it, the
 * file cut short — opening it after another file gives what a fresh parse of it gives (model, warnings, error).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { forgetMetadata } from '../../../src/formats/mdf4/blocks.js';
import { type Mdf4File, openMdf4, readBusFrames } from '../../../src/formats/mdf4/index.js';
import { buildBusLog } from '../../../src/formats/mdf4/writer.js';
import { BufferSource } from '../../../src/io/index.js';
import { fixturesDir } from '../../harness/paths.js';

const samples: [string, Uint8Array][] = [
  ['00000001-60B621D9.MF4', readFileSync(join(fixturesDir, 'canedge', '00000001-60B621D9.MF4'))],
  [
    'serve 00000001.MF4',
    readFileSync(join(fixturesDir, 'canedge', 'serve', 'LOG', '2F6913DB', '00000004', '00000001.MF4')),
  ],
  [
    'synthetic',
    buildBusLog(
      [
        { timeNs: 1_650_000_000_000_000_000n, channel: 1, id: 0x123, data: Uint8Array.of(1, 2, 3) },
        { timeNs: 1_650_000_000_001_000_000n, type: 'LIN_Frame', channel: 2, id: 7, data: Uint8Array.of(9) },
      ],
      { layout: 'asammdf', startTimeNs: 1_650_000_000_000_000_000n },
    ),
  ],
];

type Outcome = { groups: unknown; warnings: string[]; frames: number } | { error: string };

async function open(buf: Uint8Array): Promise<{ mdf: Mdf4File } | { error: string }> {
  try {
    return { mdf: await openMdf4(new BufferSource(buf, 'f.MF4')) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function outcome(buf: Uint8Array): Promise<Outcome> {
  const o = await open(buf);
  if ('error' in o) return o;
  let frames = 0;
  try {
    for await (const b of readBusFrames(o.mdf)) frames += b.count;
  } catch (e) {
    return { error: (e as Error).message };
  }
  return { groups: o.mdf.groups, warnings: o.mdf.warnings.map((w) => `${w.code} ${w.offset} ${w.message}`), frames };
}

/** Opening `b` right after `a` (memo primed by `a`) equals opening `b` fresh. */
async function sameAsFresh(a: Uint8Array, b: Uint8Array, what: string): Promise<void> {
  forgetMetadata();
  await open(a);
  const reused = await outcome(b);
  forgetMetadata();
  const fresh = await outcome(b);
  assert.deepStrictEqual(reused, fresh, what);
}

/** The first data block: metadata lies before it in these files. */
function dataStart(buf: Uint8Array): number {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const dg = Number(v.getBigUint64(64 + 24, true)); // HD's first link: the first DG
  return Number(v.getBigUint64(dg + 24 + 16, true)); // DG links: next, first CG, data
}

test('files with the same metadata share one parse; their data is read as a fresh parse reads it', async () => {
  for (const [name, buf] of samples) {
    forgetMetadata();
    const first = await openMdf4(new BufferSource(buf, 'a.MF4'));
    const copy = Uint8Array.from(buf);
    copy[136] ^= 0x55; // the HD start time: another split of the same device
    const second = await openMdf4(new BufferSource(copy, 'b.MF4'));
    assert.equal(second.groups, first.groups, `${name}: the second file reuses the parse`);
    const reused = await outcome(copy);
    forgetMetadata();
    assert.deepStrictEqual(reused, await outcome(copy), name);
  }
});

test('a parse stays reusable while other layouts are read in between', async () => {
  forgetMetadata();
  const [a, b, c] = samples.map(([, buf]) => buf);
  const first = await openMdf4(new BufferSource(a, 'a.MF4'));
  await openMdf4(new BufferSource(b, 'b.MF4'));
  await openMdf4(new BufferSource(c, 'c.MF4'));
  assert.equal((await openMdf4(new BufferSource(a, 'a2.MF4'))).groups, first.groups);
});

for (const [name, buf] of samples) {
  test(`one byte changed anywhere in the metadata: as a fresh parse (${name})`, async () => {
    const end = Math.min(buf.length, dataStart(buf) + 64);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: end - 1 }), fc.integer({ min: 1, max: 255 }), async (at, x) => {
        const b = Uint8Array.from(buf);
        b[at] ^= x;
        await sameAsFresh(buf, b, `byte ${at} ^ ${x}`);
      }),
      { numRuns: 150 },
    );
  });

  test(`the file cut short: as a fresh parse (${name})`, async () => {
    const end = dataStart(buf);
    for (const cut of [end - 1, end, end + 1, end + 23, end + 24, end + 25, Math.floor(end / 2), buf.length - 1])
      if (cut > 0 && cut < buf.length) await sameAsFresh(buf, buf.subarray(0, cut), `cut at ${cut}`);
  });
}
