import assert from 'node:assert/strict';
import { createDecipheriv, createHash, pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  buildCompressedContainer,
  buildEncryptedContainer,
  buildMfm,
  CanedgeError,
  type CanedgeErrorCode,
  decodeContainer,
  heatshrinkDecode,
  openLog,
  PasswordBook,
  peekContainer,
} from '../../../src/formats/canedge/index.js';
import { AsyncFileSource, BufferSource } from '../../../src/io/index.js';
import { fixturesDir, sharedData, warnNoShared } from '../../harness/paths.js';
import { mfcSamples } from './mfc-corpus.js';

warnNoShared();

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const fx = (name: string) => join(fixturesDir, 'canedge', name);
const expected = JSON.parse(readFileSync(fx('expected.json'), 'utf8')).files;
const MF4 = readFileSync(fx('00000001-60B621D9.MF4'));
const MFC = readFileSync(fx('00000007-643E54EA.MFC'));
const ITER = 1000; // small iteration counts keep the tests fast; the count is read from the header anyway

function isErr(code: CanedgeErrorCode, file: string, re?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CanedgeError, `expected CanedgeError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.file, file);
    assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  };
}

async function readSource(src: { size: number; read(o: number, l: number): Promise<Uint8Array> | Uint8Array }) {
  return Buffer.from(await src.read(0, src.size));
}

describe('MFC (real samples)', () => {
  test('fixture: header fields and the decoded MDF equal the reference', async () => {
    const ref = expected['00000007-643E54EA.MFC'];
    const log = await openLog(await AsyncFileSource.open(fx('00000007-643E54EA.MFC')));
    assert.equal(log.kind, 'mfc');
    assert.equal(log.deviceId, ref.container_header.device);
    assert.equal(log.layers.length, 1);
    const h = log.layers[0].header as { windowBits: number; lookaheadBits: number; type: number; subtype: number };
    assert.equal(2 ** h.windowBits, ref.container_header.window);
    assert.equal(h.lookaheadBits, ref.container_header.lookahead);
    assert.equal(`0x${h.type.toString(16)}`, ref.container_header.type);
    assert.equal(h.subtype, ref.container_header.subtype);
    assert.equal(log.finalized, false);
    assert.equal(log.storedSize, ref.file_size);
    const mdf = await readSource(log.source);
    assert.equal(mdf.length, ref.mdf_size_of_decompressed);
    assert.equal(sha256(mdf), ref.mdf_sha256_of_decompressed);
  });

  test('corpus: all three MFC samples vs reference JSON', { skip: !sharedData && 'no ../shared/data' }, async () => {
    const samples = mfcSamples();
    assert.equal(samples.length, 3);
    for (const { name, path, ref } of samples) {
      const log = await openLog(await AsyncFileSource.open(path));
      assert.equal(log.deviceId, ref.container_header.device);
      const mdf = await readSource(log.source);
      assert.equal(mdf.length, ref.mdf_size_of_decompressed, name);
      assert.equal(sha256(mdf), ref.mdf_sha256_of_decompressed, name);
    }
  });

  test('plain MF4 passes through (same source, not read into memory)', async () => {
    const src = await AsyncFileSource.open(fx('00000001-60B621D9.MF4'));
    const log = await openLog(src);
    assert.equal(log.kind, 'mdf');
    assert.equal(log.source, src);
    assert.equal(log.deviceId, null);
    assert.equal(log.finalized, false);
    await log.source.close?.();
  });

  test('buildCompressedContainer writes the device layout (window as bytes, lookahead as bits)', async () => {
    const c = buildCompressedContainer(MF4, { deviceId: 'fcbf0606', windowBits: 11, lookaheadBits: 5 });
    assert.equal(c.toString('latin1', 0, 12), 'Generic File');
    assert.equal(c[14], 0x22);
    assert.equal(c[15], 0x01);
    assert.equal(c.readUInt32BE(16), 0xfcbf0606);
    assert.equal(c.readUInt32BE(20), 5);
    assert.equal(c.readUInt32BE(24), 2048);
    assert.ok(heatshrinkDecode(c.subarray(28), { windowBits: 11, lookaheadBits: 5 }).equals(MF4));
    const log = await openLog(new BufferSource(c, 'built.MFC'));
    assert.ok((await readSource(log.source)).equals(MF4));
  });
});

/** Decrypts by the documented layout with node:crypto directly — independent of the reader under test. */
function decryptByTheDoc(file: Buffer, password: string): Buffer {
  const iv = file.subarray(20, 32);
  const iterations = file.readUInt32BE(32);
  const salt = file.subarray(36, 52);
  const key = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(file.subarray(0, 52));
  d.setAuthTag(file.subarray(file.length - 16));
  return Buffer.concat([d.update(file.subarray(52, file.length - 16)), d.final()]);
}

describe('MFE (AES-256-GCM)', () => {
  test('built file follows the documented layout and reads back bit-exact', async () => {
    const salt = Buffer.alloc(16, 7);
    const iv = Buffer.alloc(12, 9);
    const mfe = await buildEncryptedContainer(MF4, {
      deviceId: 'FCBF0606',
      password: 'hunter2',
      iterations: ITER,
      salt,
      iv,
    });
    assert.equal(mfe.length, 52 + MF4.length + 16);
    assert.equal(mfe.toString('latin1', 0, 12), 'Generic File');
    assert.equal(mfe[14], 0x11);
    assert.equal(mfe[15], 0x01);
    assert.equal(mfe.readUInt32BE(16), 0xfcbf0606);
    assert.deepEqual(mfe.subarray(20, 32), iv);
    assert.equal(mfe.readUInt32BE(32), ITER);
    assert.deepEqual(mfe.subarray(36, 52), salt);
    assert.ok(decryptByTheDoc(mfe, 'hunter2').equals(MF4));

    const book = new PasswordBook({ FCBF0606: 'hunter2' });
    const log = await openLog(new BufferSource(mfe, 'x/00000001.MFE'), { passwords: book });
    assert.equal(log.kind, 'mfe');
    assert.equal(log.deviceId, 'FCBF0606');
    assert.ok((await readSource(log.source)).equals(MF4));
  });

  test('password lookup: device id in any case, then "default"', async () => {
    const mfe = await buildEncryptedContainer(MF4, { deviceId: 'ABCDEF01', password: 'pw', iterations: ITER });
    for (const book of [
      new PasswordBook({ abcdef01: 'pw' }),
      new PasswordBook({ default: 'pw', '12345678': 'other' }),
    ]) {
      const log = await openLog(new BufferSource(mfe, 'a.MFE'), { passwords: book });
      assert.ok((await readSource(log.source)).equals(MF4));
    }
    // the device entry wins over default
    const log = await openLog(new BufferSource(mfe, 'a.MFE'), {
      passwords: new PasswordBook({ default: 'nope', ABCDEF01: 'pw' }),
    });
    assert.ok((await readSource(log.source)).equals(MF4));
  });

  test('wrong password → wrong-password error naming the file', async () => {
    const mfe = await buildEncryptedContainer(MF4, { deviceId: 'ABCDEF01', password: 'right', iterations: ITER });
    await assert.rejects(
      openLog(new BufferSource(mfe, 'LOG/ABCDEF01/00000001/00000001.MFE'), {
        passwords: new PasswordBook({ default: 'wrong' }),
      }),
      isErr('SF_ERR_CANEDGE_WRONG_PASSWORD', 'LOG/ABCDEF01/00000001/00000001.MFE', /ABCDEF01/),
    );
  });

  test('missing password → missing-password error naming the file and device', async () => {
    const mfe = await buildEncryptedContainer(MF4, { deviceId: 'ABCDEF01', password: 'right', iterations: ITER });
    await assert.rejects(
      openLog(new BufferSource(mfe, 'f.MFE')),
      isErr('SF_ERR_CANEDGE_MISSING_PASSWORD', 'f.MFE', /ABCDEF01.*no passwords/),
    );
    await assert.rejects(
      openLog(new BufferSource(mfe, 'f.MFE'), { passwords: new PasswordBook({ '12345678': 'x' }, 'passwords.json') }),
      isErr('SF_ERR_CANEDGE_MISSING_PASSWORD', 'f.MFE', /passwords\.json has no entry for ABCDEF01/),
    );
  });

  test('tampering with header, ciphertext or tag fails authentication', async () => {
    const mfe = await buildEncryptedContainer(MF4, { deviceId: 'ABCDEF01', password: 'pw', iterations: ITER });
    const book = new PasswordBook({ default: 'pw' });
    for (const at of [13, 100, mfe.length - 1]) {
      const bad = Buffer.from(mfe);
      bad[at] ^= 1;
      await assert.rejects(
        openLog(new BufferSource(bad, 't.MFE'), { passwords: book }),
        isErr('SF_ERR_CANEDGE_WRONG_PASSWORD', 't.MFE'),
      );
    }
  });

  test('truncated MFE: short header → truncated; cut payload → authentication failure', async () => {
    const mfe = await buildEncryptedContainer(MF4, { deviceId: 'ABCDEF01', password: 'pw', iterations: ITER });
    const book = new PasswordBook({ default: 'pw' });
    for (const n of [12, 19, 40, 67]) {
      await assert.rejects(
        openLog(new BufferSource(mfe.subarray(0, n), 's.MFE'), { passwords: book }),
        isErr('SF_ERR_CANEDGE_TRUNCATED', 's.MFE'),
      );
    }
    await assert.rejects(
      openLog(new BufferSource(mfe.subarray(0, 5000), 's.MFE'), { passwords: book }),
      isErr('SF_ERR_CANEDGE_WRONG_PASSWORD', 's.MFE', /truncated/),
    );
  });

  test('absurd PBKDF2 iteration counts are refused before deriving', async () => {
    const mfe = await buildEncryptedContainer(MF4, { deviceId: 'ABCDEF01', password: 'pw', iterations: ITER });
    for (const it of [0, 0xffffffff]) {
      const bad = Buffer.from(mfe);
      bad.writeUInt32BE(it, 32);
      await assert.rejects(
        openLog(new BufferSource(bad, 'i.MFE'), { passwords: new PasswordBook({ default: 'pw' }) }),
        isErr('SF_ERR_CANEDGE_CORRUPT', 'i.MFE', /iteration/),
      );
    }
  });
});

describe('MFM (encrypted MFC)', () => {
  test('built file: outer MFE, inner MFC, reads back bit-exact', async () => {
    const mfm = await buildMfm(MF4, { deviceId: '11223344', password: 'secret', iterations: ITER });
    assert.equal(mfm[14], 0x11);
    const inner = decryptByTheDoc(mfm, 'secret');
    assert.equal(inner.toString('latin1', 0, 12), 'Generic File');
    assert.equal(inner[14], 0x22);
    assert.equal(inner.readUInt32BE(16), 0x11223344);
    const log = await openLog(new BufferSource(mfm, 'm.MFM'), {
      passwords: new PasswordBook({ '11223344': 'secret' }),
    });
    assert.equal(log.kind, 'mfm');
    assert.deepEqual(
      log.layers.map((l) => l.kind),
      ['aes-256-gcm', 'heatshrink'],
    );
    assert.ok((await readSource(log.source)).equals(MF4));
  });

  test('MFM of the real decompressed MFC round-trips to the reference sha256', async () => {
    const mdf = heatshrinkDecode(MFC.subarray(28), { windowBits: 10, lookaheadBits: 4 });
    const mfm = await buildMfm(mdf, { deviceId: '5BC57FEC', password: 'pw', iterations: ITER });
    const log = await openLog(new BufferSource(mfm, 'r.MFM'), { passwords: new PasswordBook({ default: 'pw' }) });
    assert.equal(sha256(await readSource(log.source)), expected['00000007-643E54EA.MFC'].mdf_sha256_of_decompressed);
  });

  test('wrong password on MFM → wrong-password', async () => {
    const mfm = await buildMfm(MF4, { deviceId: '11223344', password: 'secret', iterations: ITER });
    await assert.rejects(
      openLog(new BufferSource(mfm, 'm.MFM'), { passwords: new PasswordBook({ default: 'x' }) }),
      isErr('SF_ERR_CANEDGE_WRONG_PASSWORD', 'm.MFM'),
    );
  });

  test('decrypted content that is neither MDF nor a container → corrupt', async () => {
    const mfe = await buildEncryptedContainer(Buffer.from('this is not an MDF file at all'), {
      deviceId: '11223344',
      password: 'p',
      iterations: ITER,
    });
    await assert.rejects(
      openLog(new BufferSource(mfe, 'j.MFM'), { passwords: new PasswordBook({ default: 'p' }) }),
      isErr('SF_ERR_CANEDGE_CORRUPT', 'j.MFM', /aes-256-gcm layer/),
    );
  });
});

describe('container errors', () => {
  const gen = (type: number, subtype: number, len = 64) => {
    const b = Buffer.alloc(len);
    b.write('Generic File', 0, 'latin1');
    b[14] = type;
    b[15] = subtype;
    b.writeUInt32BE(0xdeadbeef, 16);
    return b;
  };

  test('unknown type/subtype → unknown-container naming file, type and subtype', async () => {
    await assert.rejects(
      openLog(new BufferSource(gen(0x33, 0x01), 'u.MFX')),
      isErr('SF_ERR_CANEDGE_UNKNOWN_CONTAINER', 'u.MFX', /type 0x33 subtype 0x01/),
    );
    await assert.rejects(
      openLog(new BufferSource(gen(0x22, 0x02), 'u.MFC')),
      isErr('SF_ERR_CANEDGE_UNKNOWN_CONTAINER', 'u.MFC', /type 0x22 subtype 0x02.*unknown subtype/),
    );
    await assert.rejects(
      openLog(new BufferSource(gen(0x11, 0x07), 'u.MFE')),
      isErr('SF_ERR_CANEDGE_UNKNOWN_CONTAINER', 'u.MFE', /type 0x11 subtype 0x07/),
    );
    await assert.rejects(
      peekContainer(new BufferSource(gen(0x11, 0x07), 'u.MFE')),
      isErr('SF_ERR_CANEDGE_UNKNOWN_CONTAINER', 'u.MFE'),
    );
  });

  test('not a log / too short', async () => {
    await assert.rejects(
      openLog(new BufferSource(Buffer.from('PK\x03\x04 zip file, not MDF'), 'n.MF4')),
      isErr('SF_ERR_CANEDGE_NOT_A_LOG', 'n.MF4', /0x504b0304/),
    );
    await assert.rejects(
      openLog(new BufferSource(Buffer.alloc(0), 'e.MF4')),
      isErr('SF_ERR_CANEDGE_TRUNCATED', 'e.MF4'),
    );
    await assert.rejects(
      openLog(new BufferSource(MFC.subarray(0, 20), 'g.MFC')),
      isErr('SF_ERR_CANEDGE_TRUNCATED', 'g.MFC', /28 bytes/),
    );
  });

  test('bad heatshrink parameters in an MFC header → corrupt', async () => {
    for (const [la, win] of [
      [4, 1000],
      [0, 1024],
      [10, 1024],
      [4, 65536],
    ]) {
      const bad = Buffer.from(MFC);
      bad.writeUInt32BE(la, 20);
      bad.writeUInt32BE(win, 24);
      await assert.rejects(
        openLog(new BufferSource(bad, 'p.MFC')),
        isErr('SF_ERR_CANEDGE_CORRUPT', 'p.MFC', /heatshrink/),
      );
    }
  });

  test('MFC whose stream is cut inside an item → truncated', async () => {
    // Find a cut that leaves ≥ 8 bits of an unfinished item (most cuts do; some land on item boundaries).
    let hits = 0;
    for (let cut = 1000; cut < 1200; cut++) {
      try {
        await openLog(new BufferSource(MFC.subarray(0, cut), 'c.MFC'));
      } catch (e) {
        isErr('SF_ERR_CANEDGE_TRUNCATED', 'c.MFC', /truncated/)(e);
        hits++;
      }
    }
    assert.ok(hits > 50, `${hits} of 200 cuts detected`);
  });

  test('decoded content that is not MDF → corrupt', async () => {
    const c = buildCompressedContainer(Buffer.from('hello hello hello, not MDF'), { deviceId: 1 });
    await assert.rejects(
      openLog(new BufferSource(c, 'h.MFC')),
      isErr('SF_ERR_CANEDGE_CORRUPT', 'h.MFC', /heatshrink layer/),
    );
  });

  test('garbage after a valid MFC header → error or bounded output, never a hang (fast-check)', async () => {
    const header = MFC.subarray(0, 28);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4000, size: 'max' }), async (junk) => {
        try {
          const r = await decodeContainer(Buffer.concat([header, junk]), 'g.MFC', { maxDecodedSize: 1 << 20 });
          assert.ok(r.mdf.length <= 1 << 20);
        } catch (e) {
          assert.ok(e instanceof CanedgeError, String(e));
          assert.equal(e.file, 'g.MFC');
        }
      }),
      { numRuns: 200 },
    );
  });

  test('decoded size limit → too-large', async () => {
    await assert.rejects(
      openLog(new BufferSource(MFC, 'l.MFC'), { maxDecodedSize: 100_000 }),
      isErr('SF_ERR_CANEDGE_TOO_LARGE', 'l.MFC'),
    );
    await assert.rejects(
      openLog(new BufferSource(MFC, 'l.MFC'), { maxContainerSize: 1000 }),
      isErr('SF_ERR_CANEDGE_TOO_LARGE', 'l.MFC'),
    );
  });
});
