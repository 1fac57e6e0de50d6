/**
 * Crafted MFC "decompression bombs" for the memory tests (not a test file): a valid 28-byte MFC header (window
 * 2^15, lookahead 2^14) and a heatshrink stream of 8 literals (`MDF     `) then back-references of 16 384 bytes
 * each (30 bits apiece): ~4 400× expansion, as the crafted file of issue 8 (448 KB → 900 MB).
 */
import { buildCompressedContainer } from '../../../src/formats/canedge/index.js';

/** An MFC decoding to about `decodedBytes`: `MDF     ` + zeros (16 384 bytes), repeated. */
export function mfcBomb(decodedBytes: number, deviceId = 0x1234abcd): Buffer {
  const header = buildCompressedContainer(Buffer.alloc(0), { deviceId, windowBits: 15, lookaheadBits: 14 }).subarray(
    0,
    28,
  );
  const refs = Math.ceil(decodedBytes / 16384);
  const bits = 8 * 9 + refs * 30;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let pos = 0;
  const put = (value: number, n: number) => {
    for (let i = n - 1; i >= 0; i--) {
      if ((value >>> i) & 1) out[pos >> 3] |= 0x80 >> (pos & 7);
      pos++;
    }
  };
  for (const c of Buffer.from('MDF     ', 'latin1')) {
    put(1, 1);
    put(c, 8);
  }
  for (let i = 0; i < refs; i++) {
    put(0, 1);
    put(16383, 15); // distance 16 384 (into the zero history at first)
    put(16383, 14); // count 16 384
  }
  return Buffer.concat([header, out]);
}
