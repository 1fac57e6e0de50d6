/**
 * Issue 8 item 11: a crafted MFC (back-references decoding to hundreds of MB) must not hold its decoded size in
 * memory, and `logs index --concurrency 4` must not multiply it. Decoded MDF above `maxInMemory` (32 MiB) goes to
 * a temporary file (unlinked once open). Checked with the child's peak RSS over four such files probed at once
 * (before: ~1.3 GB for 4 × 256 MB; now the baseline plus a few chunks).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CanedgeError, openLog } from '../../../src/formats/canedge/index.js';
import { BufferSource, FileSource } from '../../../src/io/index.js';
import { fixturesDir } from '../../harness/paths.js';
import { mfcBomb } from './_bomb.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

describe('MFC decoded beyond maxInMemory goes to a temporary file', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-mfc-mem-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a 64 MB expansion is served from an unlinked temporary file with the right bytes', async () => {
    const spillDir = join(dir, 'spill1');
    mkdirSync(spillDir);
    const bomb = mfcBomb(64 << 20);
    const log = await openLog(new BufferSource(bomb, 'bomb.MFC'), { spillDir });
    try {
      assert.ok(log.source instanceof FileSource, 'not held in memory');
      assert.equal(log.source.size, 8 + 64 * 1024 * 1024);
      assert.equal(Buffer.from(await log.source.read(0, 8)).toString('latin1'), 'MDF     ');
      // the stream repeats its first 16 384 bytes (back-references of that distance): check far into the file
      const far = Buffer.from(await log.source.read(16384 * 4095, 16));
      assert.deepEqual(far, Buffer.from(await log.source.read(0, 16)));
      assert.equal(log.kind, 'mfc');
      assert.deepEqual(readdirSync(spillDir), [], 'the temporary file is unlinked as soon as it is open');
    } finally {
      await log.source.close?.();
    }
  });

  it('a small MFC stays in memory (fast path), and the limit of maxDecodedSize still holds when spilling', async () => {
    const mfc = readFileSync(join(fixturesDir, 'canedge', '00000007-643E54EA.MFC'));
    const small = await openLog(new BufferSource(mfc, 'small.MFC'));
    assert.ok(small.source instanceof BufferSource);
    const spillDir = join(dir, 'spill2');
    mkdirSync(spillDir);
    await assert.rejects(
      openLog(new BufferSource(mfcBomb(8 << 20), 'big.MFC'), {
        spillDir,
        maxInMemory: 1 << 20,
        maxDecodedSize: 4 << 20,
      }),
      (e: unknown) => e instanceof CanedgeError && e.code === 'SF_ERR_CANEDGE_TOO_LARGE' && /big\.MFC/.test(e.message),
    );
    assert.deepEqual(readdirSync(spillDir), [], 'no temporary file left after an error');
  });

  it('logs index over four 256 MB bombs, concurrency 4: peak RSS stays far below their decoded size', async () => {
    const root = join(dir, 'LOG');
    const folder = join(root, '1234ABCD', '00000001');
    mkdirSync(folder, { recursive: true });
    const bomb = mfcBomb(256 << 20);
    for (let i = 1; i <= 4; i++) writeFileSync(join(folder, `0000000${i}.MFC`), bomb);
    const script = join(here, fromSource ? '_index-rss-child.ts' : '_index-rss-child.js');
    const argv = [...(fromSource ? ['--import', 'tsx'] : []), script, root, join(dir, 'index.json'), '4'];
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      p.stdout.on('data', (b: Buffer) => {
        text += b.toString();
      });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`child exited ${code}`))));
    });
    const r = JSON.parse(out) as { maxRssMb: number; errors: string[] };
    // all four were decoded (then refused as MDF: the bomb's content is not a valid MDF file)
    assert.deepEqual(r.errors, [
      'SF_ERR_CANEDGE_CORRUPT',
      'SF_ERR_CANEDGE_CORRUPT',
      'SF_ERR_CANEDGE_CORRUPT',
      'SF_ERR_CANEDGE_CORRUPT',
    ]);
    // 4 × 256 MB decoded; before the fix the peak was ~1.3 GB
    assert.ok(r.maxRssMb < 500, `peak RSS ${r.maxRssMb} MB`);
  });
});
