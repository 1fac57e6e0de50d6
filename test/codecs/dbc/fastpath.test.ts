/**
 * The parser reads the common one-line `SG_`, `BO_`, `VAL_` and `VAL_TABLE_` statements and statement ends with
 * sticky regular expressions (syntax.ts: SG_LINE, BO_LINE, VAL_HEAD, CHOICE_PAIR …) and everything else token by
 * token. Both must give the same result: each random text is parsed with the fast paths and without them (the
 * lexer's reference mode: every token scanned), and the two results must agree — the same messages, signals and
 * choices, the same warnings, or the same error code. A second variant of each statement puts line breaks where
 * the expressions match none, as attr-fastpath.test.ts does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildDbcFile } from '../../../src/codecs/dbc/build.js';
import { parseDbc } from '../../../src/codecs/dbc/index.js';
import { DbcSyntaxError, Lexer } from '../../../src/codecs/dbc/lexer.js';
import { QuirkLog } from '../../../src/codecs/dbc/quirks.js';
import { parseStatements } from '../../../src/codecs/dbc/syntax.js';

const HEAD = `VERSION ""
BU_: ECU1 Node_2
EV_ EnvA: 0 [0|10] "" 0 1 DUMMY_NODE_VECTOR0 Vector__XXX;
VAL_TABLE_ Base 1 "One" 0 "Zero";
BO_ 100 Msg: 8 ECU1
`;

const gap = fc.constantFrom('', ' ', ' ', '\t', '  \t ');
/** Mostly `valid`, sometimes `odd` (a statement of a dozen tokens should still often be valid as a whole). */
const mostly = <T>(valid: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: odd, weight: 1 });

const number = mostly(
  fc.oneof(
    fc.constantFrom('0', '5', '-3', '+7', '1.5', '1.', '1.e5', '1e3', '2E-2', '5e+99', '5e100', '9'.repeat(200)),
    fc.constantFrom('1E-006', '1.84467E+019', '1e0100', '5E+0999', '2e-0000000000001'),
    fc.integer({ min: -1e6, max: 1e6 }).map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  ),
  fc.constantFrom('.5', '-.5', '1e999', '12ab', '0x10', '1e', '"1"', '9'.repeat(201)),
);
const bit = mostly(
  fc.constantFrom('0', '7', '8', '63', '64', '511', '007'),
  fc.constantFrom('65', '512', '-1', '+3', '1.5', '1e1', '9'.repeat(16)),
);
const name = mostly(fc.constantFrom('Sig1', 'S_2', '_x', 'm1', 'M', 'BO_'), fc.constantFrom('2Sig', '"s"'));
const mux = mostly(
  fc.constantFrom<string[]>([], [], [], ['M'], ['m0'], ['m12'], ['m3M']),
  fc.constantFrom<string[]>(['mx'], ['m1m'], ['0'], ['Mm']),
);
const order = mostly(fc.constantFrom('0', '1'), fc.constantFrom('2', '01', '-1'));
const sign = mostly(fc.constantFrom('+', '-'), fc.constantFrom('*', '+-'));
const unit = mostly(fc.constantFrom('""', '"km/h"', '"a,b"', '"°C"'), fc.constantFrom('"x\\"y"', '"tab\there"', 'km'));
const receiver = mostly(fc.constantFrom('GWM', 'Node_2', 'Vector__XXX', 'BO_', 'A1'), fc.constantFrom('2N', '"r"'));
const separator = mostly(fc.constantFrom(',', ' ', ' , ', ', ', '\t'), fc.constantFrom(',,', ' // x'));
const receivers = fc
  .array(fc.tuple(separator, receiver), { maxLength: 3 })
  .map((rs) => rs.map(([sep, r], i) => (i === 0 ? r : sep + r)).join(''));
const lead = mostly(fc.constantFrom('', ' ', ' ', '\t'), fc.constantFrom(',', ' ,'));
const trail = mostly(
  fc.constantFrom('', '', ' ', '\t'),
  // a later line that starts with `,`: the token path takes it as one more receiver separator
  fc.constantFrom(',', ' // note', ';', ' x', '\n,GWM', '\n// c\n ,GWM', '\n\n, BO_'),
);

/** Tokens from the name to the unit; `line` joins them with their gaps, `broken` turns each gap into a line break. */
function spread(tokens: string[], gaps: string[], forced: number): { line: string; broken: string } {
  const line = tokens.map((t, i) => (i === 0 ? t : gaps[i - 1] + t)).join('');
  const broken = tokens.map((t, i) => (i === 0 ? t : (gaps[i - 1] === '' && i !== forced ? '' : '\n') + t)).join('');
  return { line, broken };
}

const signal = fc
  .tuple(
    name,
    mux,
    fc.tuple(bit, bit, order, sign),
    fc.tuple(number, number, number, number),
    unit,
    fc.tuple(lead, receivers, trail),
  )
  .chain(([n, mx, [start, length, order, sign], [factor, offset, min, max], u, rx]) => {
    const tokens = [n, ...mx, ':', start, '|', length, '@', order, sign, '(', factor, ',', offset, ')'];
    tokens.push('[', min, '|', max, ']', u);
    return fc.tuple(
      fc.constant(tokens),
      fc.array(gap, { minLength: tokens.length, maxLength: tokens.length }),
      fc.constant(rx),
      fc.constant(tokens.indexOf(':')),
    );
  })
  .map(([tokens, gaps, [ld, rx, tr], colon]) => {
    // a line break before ':' is white space to the token path and never in the fast path's expression
    const { line, broken } = spread(tokens, gaps, colon);
    const tail = rx === '' ? tr : (ld === '' ? ' ' : ld) + rx + tr;
    return { line: ` SG_ ${line}${tail}`, broken: ` SG_ ${broken}${tail}` };
  });

const pairValue = mostly(
  fc.constantFrom('0', '1', '-1', '+2', '99999999999999999999'),
  fc.constantFrom('1.0', '1.5', '12ab', '1e3', '"3"'),
);
const label = mostly(fc.constantFrom('""', '"On"', '"a b"', '"ä"'), fc.constantFrom('"x\\"y"', '"tab\there"', 'Off'));
const pairs = fc.array(fc.tuple(pairValue, gap, label, gap), { maxLength: 4 });

/** The head of a VAL_ (of Sig1, of a signal that is not there, of an environment variable) or VAL_TABLE_. */
const valueHead = mostly(
  fc.constantFrom<string[]>(['100', 'Sig1'], ['0100', 'Sig1'], ['100', 'Nope'], ['EnvA'], ['T1'], ['Base']),
  fc.constantFrom<string[]>(
    ['1.0e2', 'Sig1'],
    ['+100', 'Sig1'],
    ['99999999999999999', 'Sig1'],
    ['100', '2S'],
    ['"T"'],
    ['2T'],
  ),
);
const headGap = fc.constantFrom(' ', ' ', '\t', '  ', '');

/** A VAL_ or VAL_TABLE_ statement; `broken` puts a line break between the head's tokens and in each pair. */
const valueList = fc
  .tuple(fc.constantFrom('VAL_', 'VAL_TABLE_'), valueHead, headGap, pairs, fc.constantFrom(';', ';', ' ;', ''))
  .map(([kw, head, g, ps, end]) => {
    const line = ps.map(([v, gap, l, g2]) => ` ${v}${gap}${l}${g2}`).join('');
    const broken = ps
      .map(([v, gap, l, g2]) => ` ${v}${gap === '' && !l.startsWith('"') ? '' : '\n'}${l}${g2}`)
      .join('');
    return {
      line: `${kw} ${head.join(g)}${line}${end}`,
      broken: `${kw}\n${head.join(g === '' ? '' : '\n')}${broken}${end === ' ;' ? '\n;' : end}`,
    };
  });

/** A BO_ line with one signal; `broken` puts line breaks between the tokens before the sender. */
const message = fc
  .tuple(
    mostly(
      fc.constantFrom('100', '200', '2147484672', '0300'),
      fc.constantFrom('4294967296', '0x10', '+5', '1.0', '-1'),
    ),
    mostly(fc.constantFrom('Msg', 'M_2', '_m'), fc.constantFrom('2M', '"M"')),
    mostly(fc.constantFrom('8', '0', '64', '3'), fc.constantFrom('65', '-1', '8.0', '1e1')),
    mostly(
      fc.constantFrom(' ECU1', ' Vector__XXX', '\tBO_', ' ECU1 '),
      fc.constantFrom('', ' 2N', ' ECU1 // x', ' "s"'),
    ),
    fc.array(gap, { minLength: 3, maxLength: 3 }),
  )
  .map(([id, name, len, sender, [g1, g2, g3]]) => {
    const sig = '\n SG_ S : 0|8@1+ (1,0) [0|255] "" ECU1';
    const b = (g: string) => (g === '' ? '' : '\n');
    return {
      line: `BO_ ${id} ${name}${g1}:${g2}${len}${sender}${g3}${sig}`,
      broken: `BO_\n${id}\n${name}${b(g1)}:${b(g2)}${len}${sender}${g3}${sig}`,
    };
  });

/**
 * Everything parsed. `positions` false leaves source positions and messages out (the broken variant's tokens sit
 * on other lines); true keeps them (the same text through both paths: every line, column and message must agree).
 */
function outcome(text: string, fastPaths = true, positions = false): string {
  try {
    const quirks = new QuirkLog('t.dbc', false);
    const file = buildDbcFile(parseStatements(new Lexer(text, 't.dbc', fastPaths), quirks), 't.dbc', quirks);
    return JSON.stringify(file, (k, v) => {
      if (!positions && (k === 'line' || k === 'column' || k === 'pos' || k === 'message' || k === 'where'))
        return undefined;
      if (v instanceof Map) return [...v];
      if (typeof v === 'bigint') return `${v}n`;
      return v;
    });
  } catch (e) {
    if (e instanceof DbcSyntaxError) return positions ? `error ${e.code} ${e.message}` : `error ${e.code}`;
    throw e;
  }
}

/**
 * For 3000 random lists of statements after `head`: each text parses the same with the fast paths and without them
 * (positions and messages included), and the same as its variant spread over lines (positions left out). Most runs
 * must be valid (an error on both sides shows little).
 */
function agreeOn(statement: fc.Arbitrary<{ line: string; broken: string }>, head = HEAD): void {
  let parsed = 0;
  fc.assert(
    fc.property(fc.array(statement, { minLength: 1, maxLength: 3 }), (list) => {
      const one = head + list.map((s) => s.line).join('\n');
      const spreadText = head + list.map((s) => s.broken).join('\n');
      const result = outcome(one);
      assert.equal(outcome(one, true, true), outcome(one, false, true), one.slice(head.length));
      assert.equal(result, outcome(spreadText), `${one.slice(head.length)}\n---\n${spreadText.slice(head.length)}`);
      if (!result.startsWith('error')) parsed++;
    }),
    { numRuns: 3000 },
  );
  assert.ok(parsed > 300, `only ${parsed} of 3000 runs parsed`);
}

test('an SG_ statement means the same on one line (fast path) as spread over lines (token path)', () => {
  agreeOn(signal);
});

test('VAL_ and VAL_TABLE_ pairs mean the same on one line (fast path) as spread over lines (token path)', () => {
  agreeOn(valueList, `${HEAD} SG_ Sig1 : 0|8@1+ (1,0) [0|255] "" Node_2\n`);
});

test('a BO_ line means the same on one line (fast path) as spread over lines (token path)', () => {
  agreeOn(message);
});

test('the fast paths are taken for the common forms (their signals and choices arrive)', () => {
  const file = parseDbc(
    `${HEAD} SG_ Mode M : 0|4@1+ (1,0) [0|15] "" Node_2\n SG_ Speed m1 : 8|16@0- (0.01,-5) [-5|650.35] "km/h" GWM,Vector__XXX ECU1\nVAL_ 100 Mode 1 "Drive" 0 "Park" -1 "Neg";\n`,
  );
  const msg = file.messages[0];
  const speed = msg.signals.find((s) => s.name === 'Speed');
  assert.ok(speed);
  assert.equal(speed.startBit, 8);
  assert.equal(speed.length, 16);
  assert.equal(speed.byteOrder, 'big_endian');
  assert.equal(speed.signed, true);
  assert.equal(speed.factor, 0.01);
  assert.equal(speed.offset, -5);
  assert.equal(speed.maximum, 650.35);
  assert.equal(speed.unit, 'km/h');
  assert.deepEqual(speed.receivers, ['GWM', 'ECU1']);
  const mode = msg.signals.find((s) => s.name === 'Mode');
  assert.deepEqual(
    (mode?.choices ?? []).map((c) => [String(c.value), c.label]),
    [
      ['1', 'Drive'],
      ['0', 'Park'],
      ['-1', 'Neg'],
    ],
  );
});
