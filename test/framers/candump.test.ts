/**
 * The candump log framer: every frame kind (classic, extended, remote, CAN FD, error), the exact µs time, the
 * interface numbering, blank and comment lines, each kind of malformed line, and two properties: splitting the
 * input anywhere changes nothing, and random bytes never throw nor make the framer hold more than its bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SigflowError } from '../../src/errors/index.js';
import { CANDUMP_MAX_LINE, type CandumpOptions, createCandumpFramer } from '../../src/framers/candump/index.js';
import { CanFrameBatch, FRAME_BRS, FRAME_ERROR, FRAME_FD, FRAME_RTR } from '../../src/framers/frames/index.js';
import { type FrameRow, frameRows } from '../harness/frames.js';

const NOW = 1_700_000_000_000_000;
const T = 1436509052249713;
const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hexOf = (n: number, digits: number) => n.toString(16).toUpperCase().padStart(digits, '0');

const rows = frameRows;
type Row = FrameRow;

/** Pushes `input` in one chunk, then flushes. */
function run(input: string, options: CandumpOptions = {}, now = NOW) {
  const f = createCandumpFramer(options);
  const out = new CanFrameBatch();
  f.push(enc(input), now, out);
  f.flush(now, out);
  return { rows: rows(out), counters: { ...f.counters }, framer: f };
}

const row = (id: number, ext: number, flags: number, data: string, t = T, ch = 0): Row => ({
  t,
  id,
  ext,
  flags,
  ch,
  data,
});
const L = (frame: string, iface = 'vcan0') => `(1436509052.249713) ${iface} ${frame}\n`;

test('classic frames, exact µs time, interfaces numbered in order of appearance', () => {
  const r = run(
    L('044#2A366C2BBA') + L('12345678#DEADBEEF', 'can1') + L('7FF#', 'vcan0') + L('00000000#0011223344556677', 'can1'),
  );
  assert.deepEqual(r.rows, [
    row(0x44, 0, 0, '2a366c2bba'),
    row(0x12345678, 1, 0, 'deadbeef', T, 1),
    row(0x7ff, 0, 0, ''),
    row(0, 1, 0, '0011223344556677', T, 1),
  ]);
  assert.deepEqual(
    [...r.framer.interfaces],
    [
      ['vcan0', 0],
      ['can1', 1],
    ],
  );
  assert.deepEqual(r.counters, { frames: 4, garbage_bytes: 0, malformed_lines: 0 });
});

test('remote frames: R, r, a DLC, a raw DLC after 8', () => {
  const r = run(L('123#R') + L('123#r') + L('123#R5') + L('1FFFFFFF#R8_9') + L('123#R0 T'));
  assert.deepEqual(r.rows, [
    row(0x123, 0, FRAME_RTR, ''),
    row(0x123, 0, FRAME_RTR, ''),
    row(0x123, 0, FRAME_RTR, ''),
    row(0x1fffffff, 1, FRAME_RTR, ''),
    row(0x123, 0, FRAME_RTR, ''),
  ]);
  assert.equal(r.counters.malformed_lines, 0);
});

test('CAN FD frames: flags digit, BRS from bit 0x1, up to 64 bytes', () => {
  const b64 = Array.from({ length: 64 }, (_, i) => hexOf(i, 2)).join('');
  const r = run(L('123##0AABB') + L('123##1') + L(`12345678##3${b64}`) + L('7FF##2112233') + L('001##4AA'));
  assert.deepEqual(r.rows, [
    row(0x123, 0, FRAME_FD, 'aabb'),
    row(0x123, 0, FRAME_FD | FRAME_BRS, ''),
    row(0x12345678, 1, FRAME_FD | FRAME_BRS, b64.toLowerCase()),
    row(0x7ff, 0, FRAME_FD, '112233'),
    row(0x001, 0, FRAME_FD, 'aa'),
  ]);
});

test('error frames: CAN_ERR_FLAG in an 8-digit id, class as the id, data kept', () => {
  const r = run(L('20000004#0004000000000000') + L('20000080#'));
  assert.deepEqual(r.rows, [row(0x4, 1, FRAME_ERROR, '0004000000000000'), row(0x80, 1, FRAME_ERROR, '')]);
});

test('trailing text, dots between bytes, a raw DLC, CR LF, lower case, tabs', () => {
  const r = run(
    '(1436509052.249713) vcan0 123#1122 T\r\n' +
      '(1436509052.249713)  vcan0\t123#11.22.33 R extra words\n' +
      '(1436509052.249713) vcan0 123#1122334455667788_E\n' +
      '(1436509052.249713) vcan0 1bc#ff\r\n',
  );
  assert.deepEqual(r.rows, [
    row(0x123, 0, 0, '1122'),
    row(0x123, 0, 0, '112233'),
    row(0x123, 0, 0, '1122334455667788'),
    row(0x1bc, 0, 0, 'ff'),
  ]);
  assert.equal(r.counters.malformed_lines, 0);
});

test('time: seconds and fraction as integers, fractions of any digit count scaled to µs', () => {
  const at = (t: string) => run(`(${t}) can0 123#\n`).rows[0]?.t;
  assert.equal(at('1436509052.249713'), 1436509052249713);
  assert.equal(at('1436509052.249'), 1436509052249000);
  assert.equal(at('1436509052.249713999'), 1436509052249713);
  assert.equal(at('1436509052.5'), 1436509052500000);
  assert.equal(at('0.000001'), 1);
  assert.equal(at('1700000000.123456'), 1700000000123456);
  // use_now_time takes the receive time instead.
  assert.equal(run(L('123#'), { use_now_time: true }).rows[0].t, NOW);
});

test('channels option: fixed numbers, other interfaces skipped; bad options throw', () => {
  const r = run(L('123#', 'can1') + L('124#', 'can0') + L('125#', 'vcan9'), { channels: { can0: 4, can1: 7 } });
  assert.deepEqual(r.rows, [row(0x123, 0, 0, '', T, 7), row(0x124, 0, 0, '', T, 4)]);
  assert.equal(r.counters.malformed_lines, 1);
  assert.deepEqual([...r.framer.interfaces].sort(), [
    ['can0', 4],
    ['can1', 7],
  ]);
  assert.throws(
    () => createCandumpFramer({ channels: { can0: 256 } }),
    (e: unknown) =>
      e instanceof SigflowError && e.code === 'SF_ERR_CONFIG_INVALID' && e.where === 'candump.channels.can0',
  );
});

test('at most 256 interfaces are numbered; lines of further ones are malformed', () => {
  let input = '';
  for (let i = 0; i < 258; i++) input += L('123#', `if${i}`);
  input += L('123#', 'if255');
  const r = run(input);
  assert.equal(r.counters.frames, 257);
  assert.equal(r.counters.malformed_lines, 2);
  assert.equal(r.framer.interfaces.size, 256);
  assert.equal(r.rows.at(-1)?.ch, 255);
});

test('blank lines and comments are ignored, not garbage', () => {
  const r = run(`\n\r\n   \n# a comment\n  # another\n${L('123#')}`);
  assert.deepEqual(r.counters, { frames: 1, garbage_bytes: 0, malformed_lines: 0 });
});

test('malformed lines are skipped whole and counted with their bytes', () => {
  const cases = [
    '1436509052.249713 vcan0 123#', // no parentheses
    '(1436509052) vcan0 123#', // no fraction
    '(1436509052.) vcan0 123#', // empty fraction
    '(14365x9052.249713) vcan0 123#', // not a number
    '(1436509052.2497131234) vcan0 123#', // fraction past ns
    '(1436509052.249713 vcan0 123#', // no closing parenthesis
    '(1436509052.249713)vcan0 123#', // no space
    '(1436509052.249713) vcan0', // no frame
    '(1436509052.249713) vcan0 ', // no frame
    '(1436509052.249713) vcan0 1234#11', // 4-digit id
    '(1436509052.249713) vcan0 800#11', // standard id past 0x7FF
    '(1436509052.249713) vcan0 40000000#11', // RTR flag bit in the id
    '(1436509052.249713) vcan0 123', // no #
    '(1436509052.249713) vcan0 123#112', // odd hex digits
    '(1436509052.249713) vcan0 123#11G2', // not hex
    '(1436509052.249713) vcan0 123#112233445566778899', // 9 bytes
    `(1436509052.249713) vcan0 123##0${'00'.repeat(65)}`, // 65 FD bytes
    '(1436509052.249713) vcan0 123##', // FD without flags
    '(1436509052.249713) vcan0 123##G', // FD flags not hex
    '(1436509052.249713) vcan0 123###01010101', // CAN XL
    '(1436509052.249713) vcan0 123#R9', // RTR DLC 9
    '(1436509052.249713) vcan0 123#R5AA', // RTR with data
    '(1436509052.249713) vcan0 123#11_E', // raw DLC on fewer than 8 bytes
    '(1436509052.249713) vcan0 123#11x', // junk glued to the frame
    'garbage',
  ];
  for (const c of cases) {
    for (const eol of ['\n', '\r\n']) {
      const r = run(`${c}${eol}${L('123#')}`);
      assert.equal(r.counters.malformed_lines, 1, c);
      assert.equal(r.counters.garbage_bytes, c.length + eol.length - 1, c);
      assert.deepEqual(r.rows, [row(0x123, 0, 0, '')], c);
    }
    // A malformed line names no interface.
    assert.deepEqual([...run(`${c}\n`).framer.interfaces], [], c);
  }
});

test('a line past CANDUMP_MAX_LINE is dropped up to the next LF, however it arrives', () => {
  const long = `# ${'x'.repeat(CANDUMP_MAX_LINE * 2)}`;
  const whole = run(`${long}\n${L('123#')}`);
  assert.deepEqual(whole.counters, { frames: 1, garbage_bytes: long.length, malformed_lines: 1 });
  const f = createCandumpFramer();
  const out = new CanFrameBatch();
  for (let i = 0; i < long.length; i += 100) {
    f.push(enc(long.slice(i, i + 100)), NOW, out);
    assert.ok(f.pending <= CANDUMP_MAX_LINE);
  }
  f.push(enc(`\n${L('123#')}`), NOW, out);
  assert.deepEqual(f.counters, whole.counters);
  assert.deepEqual(rows(out), whole.rows);
  // Exactly the bound is still a line.
  const atBound = L(`123#${' '.repeat(CANDUMP_MAX_LINE)}`).slice(0, CANDUMP_MAX_LINE) + '\n';
  assert.equal(run(atBound).counters.frames, 1);
});

test('flush reads a last line without its LF', () => {
  const f = createCandumpFramer();
  const out = new CanFrameBatch();
  f.push(enc(`${L('123#11')}(1436509052.249713) vcan0 124#2`), NOW, out);
  assert.equal(out.count, 1);
  f.push(enc('2'), NOW, out);
  f.flush(NOW, out);
  assert.deepEqual(rows(out), [row(0x123, 0, 0, '11'), row(0x124, 0, 0, '22')]);
  assert.equal(f.pending, 0);
});

// ── properties ───────────────────────────────────────────────────────────────────────────────────────────

/** A valid candump line (without LF) of a random frame; and the row it must give (channel by interface). */
const frameLine = fc
  .record({
    secs: fc.nat({ max: 4_000_000_000 }),
    frac: fc.nat({ max: 999_999 }),
    iface: fc.constantFrom('can0', 'can1', 'vcan0', 'slcan0'),
    kind: fc.constantFrom('data', 'rtr', 'fd', 'err'),
    ext: fc.boolean(),
    id: fc.nat(),
    seed: fc.uint8Array({ minLength: 0, maxLength: 64 }),
    fdFlags: fc.nat({ max: 15 }),
    tail: fc.constantFrom('', ' T', ' R'),
  })
  .map(({ secs, frac, iface, kind, ext, id, seed, fdFlags, tail }) => {
    const isExt = ext || kind === 'err';
    const theId = isExt ? id % 0x20000000 : id % 0x800;
    const data = kind === 'rtr' ? new Uint8Array(0) : seed.subarray(0, kind === 'fd' ? 64 : 8);
    let frame: string;
    let flags = 0;
    if (kind === 'err') {
      frame = `${hexOf(theId + 0x20000000, 8)}#${hex(data)}`;
      flags = FRAME_ERROR;
    } else {
      const idText = hexOf(theId, isExt ? 8 : 3);
      if (kind === 'rtr') {
        frame = `${idText}#R`;
        flags = FRAME_RTR;
      } else if (kind === 'fd') {
        frame = `${idText}##${fdFlags.toString(16)}${hex(data)}`;
        flags = FRAME_FD | (fdFlags & 1 ? FRAME_BRS : 0);
      } else frame = `${idText}#${hex(data).toUpperCase()}`;
    }
    const t = secs * 1e6 + frac;
    return {
      line: `(${secs}.${String(frac).padStart(6, '0')}) ${iface} ${frame}${tail}`,
      iface,
      row: { t, id: theId, ext: isExt ? 1 : 0, flags, data: hex(data) },
    };
  });

const piece = fc.oneof(
  frameLine.map((f) => `${f.line}\n`),
  frameLine.map((f) => `${f.line}\r\n`),
  frameLine.map((f) => f.line.slice(0, f.line.length >> 1)),
  fc.constantFrom('\n', '\r\n', '# comment\n', '   \n', '(', '#', 'R', ' T\n'),
  fc.string({ maxLength: 20 }),
  fc.nat({ max: 2500 }).map((n) => 'A'.repeat(n)),
);

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

test('property: valid lines give back their frames, interfaces numbered by first appearance', () => {
  fc.assert(
    fc.property(fc.array(frameLine, { maxLength: 30 }), (frames) => {
      const r = run(frames.map((f) => `${f.line}\n`).join(''));
      const order = [...new Set(frames.map((f) => f.iface))];
      assert.deepEqual(
        r.rows,
        frames.map((f) => ({ ...f.row, ch: order.indexOf(f.iface) })),
      );
      assert.equal(r.counters.garbage_bytes, 0);
    }),
  );
});

test('property: any split into chunks gives the same frames and counters as one push', () => {
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 30 }), (pieces, cuts) => {
      const bytes = enc(pieces.join(''));
      const whole = createCandumpFramer();
      const a = new CanFrameBatch();
      whole.push(bytes, NOW, a);
      whole.flush(NOW, a);
      // Random cuts, and every byte alone (each boundary at once).
      for (const chunks of [split(bytes, cuts), Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))]) {
        const parts = createCandumpFramer();
        const b = new CanFrameBatch();
        for (const c of chunks) parts.push(c, NOW, b);
        parts.flush(NOW, b);
        assert.deepEqual(rows(b), rows(a));
        assert.deepEqual(parts.counters, whole.counters);
        assert.deepEqual([...parts.interfaces], [...whole.interfaces]);
      }
    }),
    { numRuns: 200 },
  );
});

test('property: random bytes never throw and never make the framer hold more than its bound', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc
      .array(fc.constantFrom(0x28, 0x29, 0x2e, 0x31, 0x23, 0x20, 0x0a, 0x0d, 0x52, 0x41, 0xff), { maxLength: 3000 })
      .map((a) => Uint8Array.from(a)),
  );
  fc.assert(
    fc.property(fc.array(bytes, { maxLength: 6 }), (chunks) => {
      const f = createCandumpFramer();
      const out = new CanFrameBatch();
      let total = 0;
      for (const c of chunks) {
        f.push(c, NOW, out);
        total += c.length;
        assert.ok(f.pending <= CANDUMP_MAX_LINE);
      }
      f.flush(NOW, out);
      assert.equal(f.pending, 0);
      assert.equal(out.count, f.counters.frames);
      assert.ok(f.counters.garbage_bytes <= total);
    }),
  );
});
