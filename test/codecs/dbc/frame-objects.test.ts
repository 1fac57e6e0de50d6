/**
 * The per-frame API's generated object builders (one per message slot layout: every multiplexer branch, truncated
 * frames; fixed-shape choices objects) against the generic object building, key for key: the same keys in the
 * same order, the same values and labels, the same prototypes, over random payloads with defined multiplexer
 * values — multiplexed (vw_mlb), extended multiplexing (cantools issue_184 files), duplicate names (`#n` keys),
 * `__proto__`, wide signals, and every choices-object strategy (literal variants, adds, dictionary mode).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { rawBits, writeBits } from '../../../src/codecs/dbc/encoder.js';
import { Database, type FrameResult, type Message } from '../../../src/codecs/dbc/index.js';
import { fixturesDir } from '../../harness/paths.js';
import { prng as rng } from '../../harness/prng.js';

const dbcDir = join(fixturesDir, 'dbc', 'dbc');

/** A random payload of the message with each multiplexer set to one of its defined values (most of the time). */
function payload(m: Message, rand: () => number): Uint8Array {
  const p = new Uint8Array(m.length);
  for (let k = 0; k < p.length; k++) p[k] = Math.floor(rand() * 256);
  if (rand() < 0.05) return p;
  for (const s of m.signals) {
    if (!s.isMultiplexer) continue;
    const values: number[] = [];
    for (const c of m.signals) {
      if (c.multiplexerSignal !== s.name) continue;
      for (const r of c.multiplexerRanges ?? []) values.push(r.lo + Math.floor(rand() * (r.hi - r.lo + 1)));
    }
    if (values.length === 0) continue;
    writeBits(s, rawBits(s, values[Math.floor(rand() * values.length)], false), p);
  }
  return p;
}

function sameObject(a: Record<string, unknown>, b: Record<string, unknown>, what: string): void {
  assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${what}: prototype`);
  assert.deepEqual(Reflect.ownKeys(a), Reflect.ownKeys(b), `${what}: keys and order`);
  for (const k of Reflect.ownKeys(a)) {
    const da = Object.getOwnPropertyDescriptor(a, k);
    const db = Object.getOwnPropertyDescriptor(b, k);
    assert.deepEqual(da, db, `${what}: ${String(k)}`);
  }
}

function sameResult(fast: FrameResult, generic: FrameResult, what: string): void {
  assert.equal(fast.ok, generic.ok, `${what}: ok`);
  if (!fast.ok || !generic.ok) {
    assert.deepEqual(fast, generic, what);
    return;
  }
  assert.equal(fast.message, generic.message);
  sameObject(fast.phys, generic.phys, `${what} phys`);
  sameObject(fast.raw, generic.raw, `${what} raw`);
  sameObject(fast.choices, generic.choices, `${what} choices`);
}

/** Decodes `rounds` random payloads per message (and truncated ones) both ways; returns how many decoded. */
function compareAll(db: Database, rounds: number, seed: number): number {
  const rand = rng(seed);
  let ok = 0;
  for (let round = 0; round < rounds; round++) {
    for (const m of db.messages) {
      if (m.signals.length === 0 || m.length === 0) continue;
      const full = payload(m, rand);
      const short = full.subarray(0, Math.floor(rand() * m.length));
      for (const choices of [true, false]) {
        for (const [data, truncated] of [
          [full, false],
          [short, true],
        ] as const) {
          const opts = { choices, truncated };
          const fast = db.decodeMessage(m, data, opts);
          const generic = db.decodeMessageGeneric(m, data, opts);
          sameResult(fast, generic, `${m.name} choices=${choices} truncated=${truncated} round ${round}`);
          if (fast.ok) ok++;
        }
      }
    }
  }
  return ok;
}

test('generated builders equal the generic objects: vw_mlb (multiplexed, many choice signals)', () => {
  const db = Database.load([join(dbcDir, 'opendbc', 'vw_mlb.dbc')]);
  assert.ok(db.messages.some((m) => m.signals.some((s) => s.multiplexerSignal !== null)));
  assert.ok(compareAll(db, 40, 1) > 1000);
});

test('generated builders equal the generic objects: extended multiplexing', () => {
  for (const f of [
    'issue_184_extended_mux_cascaded.dbc',
    'issue_184_extended_mux_multiple_values.dbc',
    'multiplex_2.dbc',
    'multiplex_choices.dbc',
  ]) {
    const db = Database.load([join(dbcDir, 'cantools', f)]);
    assert.ok(compareAll(db, 200, 7) > 0, f);
  }
});

test('generated builders equal the generic objects: duplicates, __proto__, wide, every choices strategy', () => {
  const sig = (name: string, start: number, length: number) => ` SG_ ${name} : ${start}|${length}@1+ (1,0) [0|0] "" X`;
  const lines = ['VERSION ""', 'BU_: X'];
  lines.push('BO_ 100 Dup: 8 X', sig('a', 0, 8), sig('a', 8, 8), sig('a', 16, 8), sig('b', 24, 8));
  lines.push('BO_ 101 Proto: 8 X', sig('__proto__', 0, 8), sig('c', 8, 8));
  lines.push('BO_ 102 Wide: 8 X', sig('w', 0, 64));
  lines.push('BO_ 103 WideScaled: 8 X', ' SG_ ws : 0|60@1+ (3,1) [0|0] "" X');
  // Choice strategies: always-present labels (every raw value has one) and 2 optional ones (literal variants);
  // 7 optional ones (literal builders per combination met, then adds); 16 (literal builders, then the dictionary).
  lines.push('BO_ 110 Few: 8 X', sig('f0', 0, 1), sig('f1', 1, 3), sig('f2', 4, 2), sig('f3', 8, 4));
  lines.push('BO_ 111 Mid: 8 X', ...Array.from({ length: 7 }, (_, i) => sig(`m${i}`, i * 4, 4)));
  lines.push('BO_ 112 Many: 8 X', ...Array.from({ length: 16 }, (_, i) => sig(`d${i}`, i * 4, 4)));
  // Multiplexed, with a duplicate name in two branches and choices on both sides.
  lines.push(
    'BO_ 120 Mux: 8 X',
    ' SG_ M M : 0|4@1+ (1,0) [0|0] "" X',
    ' SG_ x m1 : 8|8@1+ (1,0) [0|0] "" X',
    ' SG_ x m2 : 8|4@1+ (1,0) [0|0] "" X',
    ' SG_ y m2 : 16|4@1+ (1,0) [0|0] "" X',
    ' SG_ z : 24|4@1+ (1,0) [0|0] "" X',
  );
  const val = (id: number, name: string, n: number) =>
    `VAL_ ${id} ${name} ${Array.from({ length: n }, (_, i) => `${i} "${name}_${i}"`).join(' ')} ;`;
  lines.push('', val(110, 'f0', 2), val(110, 'f1', 3), val(110, 'f2', 4), val(110, 'f3', 5));
  // (8 labels of 16 values: each present half the time, 128 combinations: more than a layout's literal builders)
  for (let i = 0; i < 7; i++) lines.push(val(111, `m${i}`, 8));
  for (let i = 0; i < 16; i++) lines.push(val(112, `d${i}`, 1 + (i % 8)));
  lines.push(val(120, 'M', 3), val(120, 'x', 2), val(120, 'y', 16), val(120, 'z', 3), val(101, '__proto__', 4));
  const db = Database.fromText(`${lines.join('\n')}\n`, 'inline.dbc');
  assert.ok(compareAll(db, 300, 3) > 1000);
  const dup = db.decodeMessage(db.getMessage('Dup') as Message, new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0]));
  assert.ok(dup.ok);
  assert.deepEqual(Object.keys(dup.raw), ['a', 'a#2', 'a#3', 'b']);
  const proto = db.decodeMessage(db.getMessage('Proto') as Message, new Uint8Array([2, 9, 0, 0, 0, 0, 0, 0]));
  assert.ok(proto.ok);
  assert.equal(Object.getPrototypeOf(proto.phys), Object.prototype);
  assert.deepEqual(Object.keys(proto.phys), ['__proto__', 'c']);
  assert.equal(Object.getOwnPropertyDescriptor(proto.choices, '__proto__')?.value, '__proto___2');
});
