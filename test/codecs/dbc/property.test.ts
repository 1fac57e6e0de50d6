/**
 * Property tests (fast-check): encode → decode round trips over random layouts, writer → parser round trips,
 * and robustness (fuzzed DBC text never crashes or hangs the parser; random payloads never throw from the
 * decoder).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  Database,
  type DbcFile,
  DbcSyntaxError,
  DecodedBatch,
  type FrameColumns,
  parseDbc,
  writeDbc,
} from '../../../src/codecs/dbc/index.js';
import { signalBits } from '../../../src/codecs/dbc/layout.js';
import { fixturesDir } from '../../harness/paths.js';

interface SigSpec {
  name: string;
  start: number;
  length: number;
  order: 0 | 1;
  signed: boolean;
  type: 0 | 1 | 2;
  factor: number;
  offset: number;
  mux: string;
}

const sigArb = fc.record({
  start: fc.nat({ max: 511 }),
  length: fc.integer({ min: 1, max: 64 }),
  order: fc.constantFrom<0 | 1>(0, 1),
  signed: fc.boolean(),
  type: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 1, 2),
  factor: fc.constantFrom(1, 2, 0.5, 0.1, -3),
  offset: fc.constantFrom(0, -40, 1.5, 100),
});

/** A message with non-overlapping signals inside `length` bytes; optionally multiplexed. */
const layoutArb = fc
  .record({
    length: fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64),
    candidates: fc.array(sigArb, { minLength: 1, maxLength: 14 }),
    mux: fc.boolean(),
    muxValues: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 14, maxLength: 14 }),
  })
  .map(({ length, candidates, mux, muxValues }) => {
    const used = new Set<number>();
    const sigs: SigSpec[] = [];
    for (const c of candidates) {
      const len = c.type === 1 ? 32 : c.type === 2 ? 64 : c.length;
      const spec = {
        startBit: c.start,
        length: len,
        byteOrder: c.order === 1 ? ('little_endian' as const) : ('big_endian' as const),
      };
      const bits = signalBits(spec);
      if (bits.some((b) => b < 0 || b >= length * 8 || used.has(b))) continue;
      for (const b of bits) used.add(b);
      sigs.push({
        name: `S${sigs.length}`,
        start: c.start,
        length: len,
        order: c.order,
        signed: c.signed,
        type: c.type,
        factor: c.factor,
        offset: c.offset,
        mux: '',
      });
    }
    // Multiplexing: the first small unsigned integer signal is the multiplexer, others get m<n>.
    const m = mux ? sigs.find((s) => s.type === 0 && s.length >= 2 && s.length <= 8) : undefined;
    if (m) {
      m.mux = 'M';
      m.signed = false;
      m.factor = 1;
      m.offset = 0;
      sigs.forEach((s, i) => {
        if (s !== m && muxValues[i] < 3) s.mux = `m${muxValues[i]}`;
      });
    }
    return { length, sigs };
  })
  .filter((l) => l.sigs.length > 0);

function dbcText(length: number, sigs: SigSpec[], id = 0x123): string {
  const lines = ['VERSION ""', '', 'BU_: ECU', '', `BO_ ${id} Msg: ${length} ECU`];
  for (const s of sigs) {
    lines.push(
      ` SG_ ${s.name}${s.mux ? ` ${s.mux}` : ''} : ${s.start}|${s.length}@${s.order}${s.signed ? '-' : '+'} (${s.factor},${s.offset}) [0|0] "" ECU`,
    );
  }
  lines.push('');
  for (const s of sigs) if (s.type) lines.push(`SIG_VALTYPE_ ${id} ${s.name} : ${s.type};`);
  return `${lines.join('\n')}\n`;
}

type Word = bigint | 'zero' | 'one' | 'ones' | 'sign' | 'below_sign';
/** Random 64 bits, or a boundary pattern relative to the signal's length (sign bit, all ones …). */
const wordArb: fc.Arbitrary<Word> = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
  { weight: 2, arbitrary: fc.constantFrom<Word>('zero', 'one', 'ones', 'sign', 'below_sign') },
);

function wordBits(w: Word, length: number): bigint {
  if (typeof w === 'bigint') return w;
  const L = BigInt(length);
  return { zero: 0n, one: 1n, ones: (1n << L) - 1n, sign: 1n << (L - 1n), below_sign: (1n << (L - 1n)) - 1n }[w];
}

/** A raw value for a signal, from random 64 bits or a boundary pattern. */
function rawFor(s: SigSpec, word: Word): number | bigint {
  const bits = wordBits(word, s.length);
  if (s.type === 1) return new Float32Array(new Uint32Array([Number(bits & 0xffffffffn)]).buffer)[0];
  if (s.type === 2) return new Float64Array(new BigUint64Array([bits]).buffer)[0];
  const u = BigInt.asUintN(s.length, bits);
  return s.signed ? BigInt.asIntN(s.length, u) : u;
}

function sameRaw(a: number | bigint, b: number | bigint): boolean {
  if (typeof a === 'bigint' || typeof b === 'bigint') return BigInt(a) === BigInt(b);
  return Object.is(a, b);
}

test('encode → decode returns every raw value, for random layouts (both byte orders, signs, 1–64 bits, floats, mux)', () => {
  fc.assert(
    fc.property(layoutArb, fc.array(wordArb, { minLength: 14, maxLength: 14 }), ({ length, sigs }, words) => {
      const db = Database.fromText(dbcText(length, sigs));
      const msg = db.messages[0];
      const values: Record<string, number | bigint> = {};
      sigs.forEach((s, i) => {
        values[s.name] = rawFor(s, words[i]);
      });
      const muxer = sigs.find((s) => s.mux === 'M');
      const children = sigs.filter((s) => s.mux.startsWith('m'));
      if (muxer && children.length > 0) {
        // Choose a defined multiplexer value: one that some child uses.
        const v = Number(children[Number(wordBits(words[0], 8) % BigInt(children.length))].mux.slice(1));
        values[muxer.name] = BigInt(v);
      }
      const data = db.encode(msg, values, { scaling: false });
      assert.equal(data.length, length);
      for (const choices of [true, false]) {
        const r = db.decodeFrame(0x123, false, data, { choices });
        assert.ok(r.ok, `decode failed: ${!r.ok && r.detail}`);
        const active = sigs.filter(
          (s) => !s.mux.startsWith('m') || (muxer && BigInt(values[muxer.name]) === BigInt(s.mux.slice(1))),
        );
        assert.deepEqual(Object.keys(r.raw).sort(), active.map((s) => s.name).sort());
        for (const s of active) {
          assert.ok(sameRaw(r.raw[s.name], values[s.name]), `${s.name}: raw ${r.raw[s.name]} ≠ ${values[s.name]}`);
          const raw = r.raw[s.name];
          const phys = r.phys[s.name];
          if (typeof raw === 'number' && typeof phys === 'number' && !(s.factor === 1 && s.offset === 0)) {
            assert.ok(
              Object.is(phys, raw * s.factor + s.offset),
              `${s.name}: phys ${phys} ≠ ${raw}*${s.factor}+${s.offset}`,
            );
          }
        }
      }
      // Truncated decoding of the full frame is the same as normal decoding.
      const t = db.decodeFrame(0x123, false, data, { truncated: true });
      const n = db.decodeFrame(0x123, false, data);
      assert.deepEqual(t, n);
    }),
    { numRuns: 400 },
  );
});

test('physical values encode back to the raw value they came from (integer signals)', () => {
  fc.assert(
    fc.property(layoutArb, fc.array(wordArb, { minLength: 14, maxLength: 14 }), ({ length, sigs }, words) => {
      const ints = sigs.filter((s) => s.type === 0 && s.length <= 32 && !s.mux).map((s) => ({ ...s, mux: '' }));
      fc.pre(ints.length > 0);
      const db = Database.fromText(dbcText(length, ints));
      const values: Record<string, bigint> = {};
      ints.forEach((s, i) => {
        values[s.name] = rawFor(s, words[i]) as bigint;
      });
      const r = db.decodeFrame(0x123, false, db.encode(db.messages[0], values, { scaling: false }));
      assert.ok(r.ok);
      const again = db.encode(db.messages[0], r.phys as Record<string, number>);
      const r2 = db.decodeFrame(0x123, false, again);
      assert.ok(r2.ok);
      assert.deepEqual(r2.raw, r.raw);
    }),
    { numRuns: 200 },
  );
});

function comparable(f: DbcFile) {
  return f.messages.map((m) => ({
    id: m.id,
    extended: m.extended,
    name: m.name,
    length: m.length,
    senders: m.senders,
    comment: m.comment,
    attributes: [...m.attributes],
    cycleTime: m.cycleTime,
    isFd: m.isFd,
    signals: m.signals.map((s) => ({
      name: s.name,
      startBit: s.startBit,
      length: s.length,
      byteOrder: s.byteOrder,
      signed: s.signed,
      valueType: s.valueType,
      factor: s.factor,
      offset: s.offset,
      minimum: s.minimum,
      maximum: s.maximum,
      unit: s.unit,
      receivers: s.receivers,
      comment: s.comment,
      choices: s.choices?.map((c) => [String(c.value), c.label]),
      isMultiplexer: s.isMultiplexer,
      multiplexerSignal: s.multiplexerSignal,
      multiplexerRanges: s.multiplexerRanges,
      attributes: [...s.attributes],
    })),
  }));
}

test('what the writer writes parses back to the same database (random layouts)', () => {
  fc.assert(
    fc.property(layoutArb, fc.string({ maxLength: 20 }), ({ length, sigs }, comment) => {
      const text = `${dbcText(length, sigs)}CM_ BO_ 291 ${JSON.stringify(comment).replace(/\\u[0-9a-f]{4}/g, '')};\n`;
      let a: DbcFile;
      try {
        a = parseDbc(text);
      } catch (e) {
        // JSON escapes other than \" and \\ are not DBC escapes; such comments are not the point here.
        fc.pre(false);
        throw e;
      }
      const b = parseDbc(writeDbc(a));
      assert.deepEqual(comparable(b), comparable(a));
    }),
    { numRuns: 200 },
  );
});

const realFiles = [
  'dbc/opendbc/toyota_tss2_adas.dbc',
  'dbc/opendbc/vw_pq.dbc',
  'dbc/opendbc/tesla_model3_vehicle.dbc',
  'dbc/cantools/issue_184_extended_mux_cascaded.dbc',
  'dbc/cantools/floating_point.dbc',
  'dbc/cantools/big_numbers.dbc',
  'dbc/cantools/long_names.dbc',
  'dbc/cantools/fd_test.dbc',
  'dbc/cantools/j1939.dbc',
].map((p) => join(fixturesDir, 'dbc', p));

test('the writer round-trips real files (messages, signals, choices, attributes, multiplexing)', () => {
  for (const f of realFiles) {
    const a = parseDbc(readFileSync(f, 'latin1'), { file: f });
    const b = parseDbc(writeDbc(a), { file: `${f} (rewritten)` });
    assert.deepEqual(comparable(b), comparable(a), f);
  }
});

/** parseDbc must return or throw DbcSyntaxError (with a position), quickly. */
function parsesSafely(text: string): void {
  const t0 = performance.now();
  try {
    const f = parseDbc(text, { file: 'fuzz.dbc' });
    // Whatever parses must also compile and decode without throwing.
    const db = new Database();
    db.add(f);
    for (const m of db.messages.slice(0, 20)) {
      db.decodeMessage(m, new Uint8Array(64).fill(0xa5));
      db.decodeMessage(m, new Uint8Array(3), { truncated: true });
    }
  } catch (e) {
    if (!(e instanceof DbcSyntaxError)) throw e;
    assert.ok(e.line >= 1 && e.column >= 1, `error without a position: ${e.message}`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `parse took ${ms.toFixed(0)} ms`);
}

test('fuzz: random text never crashes or hangs the parser', () => {
  const tokens = [
    'BO_',
    'SG_',
    'CM_',
    'BA_',
    'VAL_',
    'SG_MUL_VAL_',
    'SIG_VALTYPE_',
    ':',
    '|',
    '@',
    '(',
    ')',
    '[',
    ']',
    ',',
    ';',
    '"',
    '1',
    '-',
    '+',
    '0',
    '7',
    ' ',
    '\n',
    'M',
    'm1',
    'x',
    '.5',
    '1e3',
    '\\"',
    'BU_',
    'EV_',
    'NS_',
    'BA_DEF_',
  ];
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.array(fc.constantFrom(...tokens), { maxLength: 200 }).map((a) => a.join(' ')),
      ),
      (text) => {
        parsesSafely(text);
      },
    ),
    { numRuns: 2000 },
  );
});

test('fuzz: mutated real DBC text never crashes or hangs the parser', () => {
  const sources = realFiles.map((f) => readFileSync(f, 'latin1'));
  const mutation = fc.record({
    file: fc.nat({ max: sources.length - 1 }),
    ops: fc.array(
      fc.record({
        kind: fc.constantFrom('delete', 'insert', 'duplicate', 'replace'),
        at: fc.double({ min: 0, max: 1, noNaN: true }),
        len: fc.nat({ max: 40 }),
        text: fc.string({ maxLength: 8 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  });
  fc.assert(
    fc.property(mutation, ({ file, ops }) => {
      let s = sources[file];
      for (const op of ops) {
        const i = Math.floor(op.at * s.length);
        if (op.kind === 'delete') s = s.slice(0, i) + s.slice(i + op.len);
        else if (op.kind === 'insert') s = s.slice(0, i) + op.text + s.slice(i);
        else if (op.kind === 'duplicate') s = s.slice(0, i + op.len) + s.slice(i, i + op.len) + s.slice(i + op.len);
        else s = s.slice(0, i) + op.text + s.slice(i + op.text.length);
      }
      parsesSafely(s);
    }),
    { numRuns: 300 },
  );
});

test('fuzz: random payloads and lengths never throw from the decoder (per-frame and batch)', () => {
  const dbs = realFiles.map((f) => Database.load([f]));
  fc.assert(
    fc.property(
      fc.nat({ max: dbs.length - 1 }),
      fc.array(
        fc.record({
          pick: fc.nat(),
          randomId: fc.boolean(),
          rid: fc.nat({ max: 0x1fffffff }),
          data: fc.uint8Array({ maxLength: 64 }),
          truncated: fc.boolean(),
          choices: fc.boolean(),
        }),
        { minLength: 1, maxLength: 50 },
      ),
      (which, frames) => {
        const db = dbs[which];
        const ids = db.messages.map((m) => [m.id, m.extended] as const);
        const cols: FrameColumns = {
          count: frames.length,
          id: new Uint32Array(frames.length),
          ext: new Uint8Array(frames.length),
          data: new Uint8Array(frames.length * 64),
          offset: new Uint32Array(frames.length),
          length: new Uint8Array(frames.length),
        };
        frames.forEach((f, i) => {
          const [id, ext] = f.randomId ? [f.rid, f.rid > 0x7ff] : ids[f.pick % ids.length];
          const r = db.decodeFrame(id, ext, f.data, { truncated: f.truncated, choices: f.choices, j1939: f.choices });
          assert.equal(typeof r.ok, 'boolean');
          cols.id[i] = id;
          cols.ext[i] = ext ? 1 : 0;
          cols.offset[i] = i * 64;
          cols.length[i] = f.data.length;
          cols.data.set(f.data, i * 64);
        });
        const out = new DecodedBatch();
        db.decodeBatch(cols, out, { truncated: frames[0].truncated });
        assert.equal(out.frames, frames.length);
      },
    ),
    { numRuns: 300 },
  );
});
