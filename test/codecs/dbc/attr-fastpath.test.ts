/**
 * The parser reads the common one-line `BA_` statements with one sticky regular expression (syntax.ts, BA_LINE)
 * and everything else token by token. Both must give the same result: each random statement is parsed as written
 * on one line (fast path when it fits) and with every white-space gap turned into a line break (never the fast
 * path: its expression matches no line break), and the two results must agree — the same attributes on the same
 * objects, the same warnings, or the same error code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DbcSyntaxError, parseDbc } from '../../../src/codecs/dbc/index.js';

const HEAD = `VERSION ""
BU_: ECU1 Node_2
BO_ 100 Msg: 8 ECU1
 SG_ Sig1 : 0|8@1+ (1,0) [0|255] "" Node_2
 SG_ Sig5 : 8|8@1+ (1,0) [0|255] "" Node_2
BO_ 2147484672 Ext: 8 ECU1
 SG_ S : 0|8@1+ (1,0) [0|255] "" Node_2
EV_ EnvA: 0 [0|10] "" 0 1 DUMMY_NODE_VECTOR0 Vector__XXX;
BA_DEF_ "DbInt" INT 0 100000;
BA_DEF_ "DbStr" STRING;
BA_DEF_ "DbFloat" FLOAT -1e30 1e30;
BA_DEF_ BU_ "NodeInt" INT 0 100;
BA_DEF_ BO_ "MsgInt" INT 0 100000;
BA_DEF_ BO_ "MsgHex" HEX 0 65535;
BA_DEF_ SG_ "SigStr" STRING;
BA_DEF_ SG_ "SigEnum" ENUM "a","b","c";
BA_DEF_ EV_ "EvInt" INT 0 10;
`;

/** The tokens of one BA_ statement (the keyword first) and the gaps between them ('' keeps tokens touching). */
const ref = fc.constantFrom<string[]>(
  [],
  ['SG_', '100', 'Sig1'],
  ['SG_', '100', 'Sig5'],
  ['SG_', '2147484672', 'S'],
  ['SG_', '100', 'Sig'],
  ['SG_', '100', 'Nope'],
  ['SG_', '1000000000000000', 'Sig1'],
  ['BO_', '100'],
  ['BO_', '2147484672'],
  ['BO_', '10'],
  ['BU_', 'ECU1'],
  ['BU_', 'Node_2'],
  ['BU_', '2Node'],
  ['EV_', 'EnvA'],
  ['XX_', '1'],
);
const name = fc.constantFrom(
  '"DbInt"',
  '"DbStr"',
  '"DbFloat"',
  '"NodeInt"',
  '"MsgInt"',
  '"MsgHex"',
  '"SigStr"',
  '"SigEnum"',
  '"EvInt"',
  '"Unknown"',
  '"Db\\"Int"',
);
const value = fc.oneof(
  fc.constantFrom(
    '0',
    '5',
    '-3',
    '+7',
    '1.5',
    '.5',
    '1.',
    '1e3',
    '2E-2',
    '1e999',
    '12ab',
    '0x10',
    '"1"',
    '"a b"',
    '""',
  ),
  fc.constantFrom('"x\\"y"', '"tab\there"', '9'.repeat(201), '9'.repeat(200), '5e+99', '5e100'),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
);
const gap = fc.constantFrom('', ' ', ' ', '\t', '  \t ');

const statement = fc
  .tuple(name, ref, value, fc.boolean())
  .chain(([n, r, v, semi]) => {
    const tokens = ['BA_', n, ...r, v, ...(semi ? [';'] : [])];
    return fc.tuple(fc.constant(tokens), fc.array(gap, { minLength: tokens.length, maxLength: tokens.length }));
  })
  .map(([tokens, gaps]) => {
    // the keyword needs a gap before a name that does not start with a quote (it never does here)
    const g = gaps.map((x, i) => (i === 0 && x === '' ? ' ' : x));
    const line = tokens.map((t, i) => (i === 0 ? t : g[i - 1] + t)).join('');
    const broken = tokens.map((t, i) => (i === 0 ? t : (g[i - 1] === '' ? '' : '\n') + t)).join('');
    return { line, broken };
  });

/** Everything parsed, with source positions left out (the broken variant's tokens sit on other lines). */
function outcome(text: string): string {
  try {
    const file = parseDbc(text, { file: 't.dbc' });
    return JSON.stringify(file, (k, v) => {
      if (k === 'line' || k === 'column' || k === 'pos' || k === 'message' || k === 'where') return undefined;
      if (v instanceof Map) return [...v];
      if (typeof v === 'bigint') return `${v}n`;
      return v;
    });
  } catch (e) {
    if (e instanceof DbcSyntaxError) return `error ${e.code}`;
    throw e;
  }
}

test('a BA_ statement means the same on one line (fast path) as spread over lines (token path)', () => {
  fc.assert(
    fc.property(fc.array(statement, { minLength: 1, maxLength: 4 }), (stmts) => {
      const one = HEAD + stmts.map((s) => s.line).join('\n');
      const spread = HEAD + stmts.map((s) => s.broken).join('\n');
      assert.equal(outcome(one), outcome(spread), `${one.slice(HEAD.length)}\n---\n${spread.slice(HEAD.length)}`);
    }),
    { numRuns: 3000 },
  );
});

test('the fast path is taken for the common forms (their attributes arrive)', () => {
  const file = parseDbc(
    `${HEAD}BA_ "DbInt" 7;\nBA_ "MsgInt" BO_ 100 50;\nBA_ "SigStr" SG_ 100 Sig1 "hello";\nBA_ "NodeInt" BU_ ECU1 3;\nBA_ "EvInt" EV_ EnvA 2;\nBA_ "DbFloat" -1.5e3;\n`,
  );
  assert.equal(file.attributes.get('DbInt'), 7);
  assert.equal(file.attributes.get('DbFloat'), -1500);
  const msg = file.messages.find((m) => m.id === 100);
  assert.equal(msg?.attributes.get('MsgInt'), 50);
  assert.equal(msg?.signals.find((s) => s.name === 'Sig1')?.attributes.get('SigStr'), 'hello');
  assert.equal(file.nodes.find((n) => n.name === 'ECU1')?.attributes.get('NodeInt'), 3);
});
