/**
 * The SLCAN framer: every frame kind, each kind of malformed line, the adapter's replies, the init commands, the
 * rebuilt adapter time (wrap, re-anchoring), and two properties: splitting the input anywhere changes nothing, and
 * random bytes never throw nor make the framer hold more than SLCAN_MAX_LINE bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SigflowError } from '../../src/errors/index.js';
import { CanFrameBatch, FRAME_BRS, FRAME_FD, FRAME_RTR } from '../../src/framers/frames/index.js';
import { createSlcanFramer, SLCAN_MAX_LINE, type SlcanOptions } from '../../src/framers/slcan/index.js';
import { type FrameRow, frameRows } from '../harness/frames.js';

const NOW = 1_700_000_000_000_000;
const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hexOf = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

const rows = frameRows;
type Row = FrameRow;

/** Pushes `input` in one chunk; the frames and counters. */
function run(input: string, options: SlcanOptions = {}, now = NOW) {
  const f = createSlcanFramer(options);
  const out = new CanFrameBatch();
  f.push(enc(input), now, out);
  return { rows: rows(out), counters: { ...f.counters }, framer: f, out };
}

const row = (id: number, ext: number, flags: number, data: string, t = NOW, ch = 0): Row => ({
  t,
  id,
  ext,
  flags,
  ch,
  data,
});

test('init: close, bit rate, open — with Z1 and L when asked', () => {
  const text = (o: SlcanOptions) => createSlcanFramer(o).init.map((b) => new TextDecoder().decode(b));
  assert.deepEqual(text({}), ['C\r', 'S6\r', 'O\r']);
  assert.deepEqual(text({ bitrate: 10000 }), ['C\r', 'S0\r', 'O\r']);
  assert.deepEqual(text({ bitrate: 1000000, timestamps: true, listen_only: true }), ['C\r', 'S8\r', 'Z1\r', 'L\r']);
  assert.deepEqual(text({ bitrate: 125000, timestamps: true }), ['C\r', 'S4\r', 'Z1\r', 'O\r']);
  for (const b of createSlcanFramer({}).init) assert.ok(b instanceof Uint8Array);
});

test('invalid options throw SF_ERR_CONFIG_INVALID', () => {
  assert.throws(
    () => createSlcanFramer({ bitrate: 33333 }),
    (e: unknown) => e instanceof SigflowError && e.code === 'SF_ERR_CONFIG_INVALID' && e.where === 'slcan.bitrate',
  );
  assert.throws(
    () => createSlcanFramer({ channel: 256 }),
    (e: unknown) => e instanceof SigflowError && e.code === 'SF_ERR_CONFIG_INVALID' && e.where === 'slcan.channel',
  );
});

test('classic frames: t, T, r, R, upper and lower case hex, channel', () => {
  const r = run('t1232AABB\rT1ABCDEF831122334455\rr7FF8\rR000000010\rt7ff1c0\rt0000\r', { channel: 3 });
  assert.deepEqual(r.rows, [
    row(0x123, 0, 0, 'aabb', NOW, 3),
    row(0x1abcdef8, 1, 0, '112233', NOW, 3),
    row(0x7ff, 0, FRAME_RTR, '', NOW, 3),
    row(0x1, 1, FRAME_RTR, '', NOW, 3),
    row(0x7ff, 0, 0, 'c0', NOW, 3),
    row(0, 0, 0, '', NOW, 3),
  ]);
  assert.equal(r.counters.frames, 6);
  assert.equal(r.counters.garbage_bytes, 0);
  assert.equal(r.counters.malformed_lines, 0);
});

test('CAN FD frames: d, D (no BRS), b, B (BRS), DLC 9..F lengths', () => {
  const bytes = (n: number) => Array.from({ length: n }, (_, i) => (i & 0xff).toString(16).padStart(2, '0')).join('');
  const lens = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];
  let input = '';
  const want: Row[] = [];
  for (let dlc = 0; dlc < 16; dlc++) {
    const data = bytes(lens[dlc]);
    input += `d${hexOf(0x120 + dlc, 3)}${dlc.toString(16)}${data}\r`;
    want.push(row(0x120 + dlc, 0, FRAME_FD, data));
  }
  input += `D1FFFFFFFF${bytes(64)}\rb0011AB\rB000001009${bytes(12).toUpperCase()}\r`;
  want.push(row(0x1fffffff, 1, FRAME_FD, bytes(64)));
  want.push(row(0x001, 0, FRAME_FD | FRAME_BRS, 'ab'));
  want.push(row(0x100, 1, FRAME_FD | FRAME_BRS, bytes(12)));
  const r = run(input);
  assert.deepEqual(r.rows, want);
  assert.equal(r.counters.frames, 19);
  assert.equal(r.counters.malformed_lines, 0);
});

test('malformed lines are skipped whole and counted with their bytes', () => {
  const cases = [
    't1232AA', // too short for its DLC
    't1232AABBCC', // too long (and not by a timestamp's 4)
    't1231GG', // not hex
    't12X0', // not hex in the id
    't8000', // standard id > 0x7FF
    'T200000000', // extended id > 0x1FFFFFFF
    't1239112233445566778899', // DLC 9 on a classic frame
    'r123F', // DLC F on a classic remote frame
    'r1232AA', // a remote frame carries no data
    't1230EA60', // timestamp past 59999 ms
    't123', // no DLC
    'T1234', // short id
    'x123', // unknown message
    'Z1', // transmit ack with a tail
    'F1', // status reply of one digit
    'F1G', // status reply not hex
  ];
  for (const c of cases) {
    const r = run(`${c}\rt1230\r`);
    assert.equal(r.counters.malformed_lines, 1, c);
    assert.equal(r.counters.garbage_bytes, c.length, c);
    assert.equal(r.counters.frames, 1, c);
    assert.deepEqual(r.rows, [row(0x123, 0, 0, '')], c);
  }
});

test('replies: OK, transmit acks, BEL with and without CR, status, version, serial', () => {
  const r = run('\rz\rZ\r\x07\x07\rF00\rV1013\rv0102\rN1234\rt1230\r');
  assert.deepEqual(r.counters, {
    frames: 1,
    garbage_bytes: 0,
    malformed_lines: 0,
    error_replies: 2,
    replies: 7, // CR, z, Z, F00, V, v, N — the CR right after a BEL belongs to it
    reanchors: 0,
  });
  // A BEL inside a line (an interleaved error reply) leaves the line whole.
  const b = run('t12\x0732AABB\r');
  assert.deepEqual(b.rows, [row(0x123, 0, 0, 'aabb')]);
  assert.equal(b.counters.error_replies, 1);
});

test('LF ends a line alone or after CR, and is otherwise ignored', () => {
  const r = run('t1230\nt1231AA\r\n\n\r\nt1232AABB\n\r');
  assert.deepEqual(r.rows, [row(0x123, 0, 0, ''), row(0x123, 0, 0, 'aa'), row(0x123, 0, 0, 'aabb')]);
  assert.equal(r.counters.replies, 2); // the two bare CRs
  assert.equal(r.counters.garbage_bytes, 0);
});

test('a line without a terminator past SLCAN_MAX_LINE is dropped up to the next CR', () => {
  const f = createSlcanFramer({});
  const out = new CanFrameBatch();
  const noise = 't'.repeat(SLCAN_MAX_LINE * 3 + 7);
  for (const ch of noise) {
    f.push(enc(ch), NOW, out);
    assert.ok(f.pending <= SLCAN_MAX_LINE);
  }
  f.push(enc('\rt1230\r'), NOW, out);
  assert.deepEqual(rows(out), [row(0x123, 0, 0, '')]);
  assert.equal(f.counters.malformed_lines, 1);
  assert.equal(f.counters.garbage_bytes, noise.length);
  assert.equal(f.counters.replies, 0); // the CR that ends the noise is not an OK
  // A line of exactly the bound is still read (and is malformed here for its length).
  const r = run(`${'t'.repeat(SLCAN_MAX_LINE)}\r`);
  assert.equal(r.counters.malformed_lines, 1);
  assert.equal(r.counters.garbage_bytes, SLCAN_MAX_LINE);
});

test('flush drops a message torn before its CR', () => {
  const f = createSlcanFramer({});
  const out = new CanFrameBatch();
  f.push(enc('t1230\rt12'), NOW, out);
  assert.equal(f.pending, 3);
  f.flush(NOW, out);
  assert.equal(f.pending, 0);
  f.push(enc('31AA\r'), NOW, out); // the rest of the torn line: a line of its own now, and not a frame
  assert.deepEqual(rows(out), [row(0x123, 0, 0, '')]);
  assert.equal(f.counters.malformed_lines, 2);
  assert.equal(f.counters.garbage_bytes, 3 + 4);
});

test('without `timestamps` a frame has the receive time of the push that completed it', () => {
  const f = createSlcanFramer({});
  const out = new CanFrameBatch();
  f.push(enc('t1230'), NOW, out);
  f.push(enc('1234\rt12'), NOW + 5, out); // the line carries a timestamp: read, not used
  f.push(enc('30\r'), NOW + 9, out);
  assert.deepEqual(
    rows(out).map((r) => r.t),
    [NOW + 5, NOW + 9],
  );
});

test('adapter timestamps: anchored to the first frame, advanced by the counter, wrapped at 60 s', () => {
  const f = createSlcanFramer({ timestamps: true });
  const out = new CanFrameBatch();
  f.push(enc('t12300100\r'), NOW, out); // anchor: 256 ms ↔ NOW
  f.push(enc('t12300200\rt1231AA0300\r'), NOW + 600_000, out); // +256 ms, +512 ms
  f.push(enc('t1230EA5F\r'), NOW + 59_600_000, out); // 59999 ms: +59743 ms
  f.push(enc('t12300005\r'), NOW + 59_800_000, out); // wrapped: 59999 → 5 is +6 ms
  f.push(enc('t1230\r'), NOW + 59_800_500, out); // no timestamp on this line: receive time
  assert.deepEqual(
    rows(out).map((r) => r.t),
    [NOW, NOW + 256_000, NOW + 512_000, NOW + 59_743_000, NOW + 59_749_000, NOW + 59_800_500],
  );
  assert.equal(f.counters.reanchors, 0);
});

test('adapter timestamps: re-anchored when the rebuilt time strays more than 1 s from the receive time', () => {
  const f = createSlcanFramer({ timestamps: true });
  const out = new CanFrameBatch();
  f.push(enc('t12301000\r'), NOW, out);
  // Quiet for 90 s: the counter moved 30 s (mod 60), the rebuilt time would be 60 s early.
  f.push(enc('t12308530\r'), NOW + 90_000_000, out);
  // Then on from the new anchor.
  f.push(enc('t12308534\r'), NOW + 90_004_000, out);
  // Exactly 1 s off is still kept.
  f.push(enc('t12308538\r'), NOW + 91_008_000, out);
  assert.deepEqual(
    rows(out).map((r) => r.t),
    [NOW, NOW + 90_000_000, NOW + 90_004_000, NOW + 90_008_000],
  );
  assert.equal(f.counters.reanchors, 1);
});

// ── properties ───────────────────────────────────────────────────────────────────────────────────────────

const FD_LEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/** A valid frame line (without CR), random kind, id, data, case and timestamp; and the row it must give. */
const frameLine = fc
  .record({
    kind: fc.constantFrom('t', 'T', 'r', 'R', 'd', 'D', 'b', 'B'),
    id: fc.nat(),
    dlc: fc.nat({ max: 15 }),
    seed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    upper: fc.boolean(),
    ts: fc.option(fc.nat({ max: 59999 }), { nil: undefined }),
  })
  .map(({ kind, id, dlc, seed, upper, ts }) => {
    const ext = kind === kind.toUpperCase();
    const fd = 'dDbB'.includes(kind);
    const rtr = 'rR'.includes(kind);
    const theId = ext ? id % 0x20000000 : id % 0x800;
    const theDlc = fd ? dlc : dlc % 9;
    const len = fd ? FD_LEN[theDlc] : rtr ? 0 : theDlc;
    const data = hex(seed.subarray(0, len));
    let body = `${hexOf(theId, ext ? 8 : 3)}${theDlc.toString(16)}${data}${ts === undefined ? '' : hexOf(ts, 4)}`;
    body = upper ? body.toUpperCase() : body;
    const flags = (rtr ? FRAME_RTR : 0) | (fd ? FRAME_FD : 0) | ('bB'.includes(kind) ? FRAME_BRS : 0);
    return { line: kind + body, row: row(theId, ext ? 1 : 0, flags, data) };
  });

/** Input pieces: frames, replies, noise (some without a terminator, some over-long). */
const piece = fc.oneof(
  frameLine.map((f) => `${f.line}\r`),
  frameLine.map((f) => `${f.line}\r\n`),
  fc.constantFrom('\r', 'z\r', 'Z\r', '\x07', '\x07\r', 'F04\r', 'V1013\r', 'N0042\r', '\n', 't12', 'T1GG\r'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('t', '1', 'A', '\r', '\x07'), maxLength: 20 }),
  fc.nat({ max: 600 }).map((n) => 'A'.repeat(n)),
);

/** Splits `bytes` at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    parts.push(bytes.subarray(prev, c));
    prev = c;
  }
  return parts;
}

test('property: valid frame lines give back their frames', () => {
  fc.assert(
    fc.property(fc.array(frameLine, { maxLength: 30 }), (frames) => {
      const r = run(frames.map((f) => `${f.line}\r`).join(''));
      assert.deepEqual(
        r.rows,
        frames.map((f) => f.row),
      );
      assert.equal(r.counters.garbage_bytes, 0);
    }),
  );
});

test('property: any split into chunks gives the same frames and counters as one push', () => {
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.boolean(),
      (pieces, cuts, timestamps) => {
        const bytes = enc(pieces.join(''));
        const whole = createSlcanFramer({ timestamps });
        const a = new CanFrameBatch();
        whole.push(bytes, NOW, a);
        whole.flush(NOW, a);
        // Random cuts, and every byte alone (each boundary at once).
        for (const chunks of [split(bytes, cuts), Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))]) {
          const parts = createSlcanFramer({ timestamps });
          const b = new CanFrameBatch();
          for (const c of chunks) parts.push(c, NOW, b);
          parts.flush(NOW, b);
          assert.deepEqual(rows(b), rows(a));
          assert.deepEqual(parts.counters, whole.counters);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('property: random bytes never throw and never make the framer hold more than its bound', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }),
    fc
      .array(fc.constantFrom(0x74, 0x31, 0x41, 0x0d, 0x0a, 0x07, 0x00, 0xff), { maxLength: 2000 })
      .map((a) => Uint8Array.from(a)),
  );
  fc.assert(
    fc.property(fc.array(bytes, { maxLength: 6 }), fc.boolean(), (chunks, timestamps) => {
      const f = createSlcanFramer({ timestamps });
      const out = new CanFrameBatch();
      let t = NOW;
      let total = 0;
      for (const c of chunks) {
        f.push(c, (t += 1000), out);
        total += c.length;
        assert.ok(f.pending <= SLCAN_MAX_LINE);
      }
      f.flush(t, out);
      assert.equal(f.pending, 0);
      assert.equal(out.count, f.counters.frames);
      assert.ok(f.counters.garbage_bytes <= total);
    }),
  );
});
