/**
 * The DBC tokenizer on the edge cases of its scanning loops (issue 16 replaced the per-character loops for
 * identifiers and digits by sticky regular expressions and a character-class table): identifiers that start with
 * a digit, exponents versus identifier tails, numbers with a leading dot or a sign, `//` comments (also at the
 * end of the text), CRLF and other blanks, escapes in strings, characters outside ASCII, and tokens that end the
 * text. The expected streams are those of the tokenizer before the change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lexer } from '../../../src/codecs/dbc/lexer.js';

function tokens(src: string): string[] {
  const lx = new Lexer(src, 't.dbc');
  const out: string[] = [];
  for (;;) {
    const t = lx.next();
    if (t.kind === 'eof') return out;
    out.push(`${t.kind}:${t.text}@${t.line}:${t.column}${t.lineStart ? '^' : ''}${t.quirk ? `!${t.quirk}` : ''}`);
  }
}

const cases: [string, string[]][] = [
  [
    'BO_ 1e5x 1e5 .25 -.5e-3 +7 64_BIT_LE 12abc 3E+2',
    [
      'ident:BO_@1:1^',
      'ident:1e5x@1:5!digit_ident',
      'number:1e5@1:10',
      'number:.25@1:14!leading_dot',
      'number:-.5e-3@1:18!leading_dot',
      'number:+7@1:25',
      'ident:64_BIT_LE@1:28!digit_ident',
      'ident:12abc@1:38!digit_ident',
      'number:3E+2@1:44',
    ],
  ],
  ['a//comment to the end', ['ident:a@1:1^']],
  ['x // c\r\ny\t\u000bz', ['ident:x@1:1^', 'ident:y@2:1^', 'ident:z@2:4']],
  ['"a\\"b\\\\c\r\nd" e', ['string:a"b\\c\nd@1:1^', 'ident:e@2:4']],
  ['é1 ab€c 9', ['punct:é@1:1^', 'number:1@1:2', 'ident:ab@1:4', 'punct:€@1:6', 'ident:c@1:7', 'number:9@1:9']],
  ['1.', ['number:1.@1:1^']],
  ['ab', ['ident:ab@1:1^']],
  ['12', ['number:12@1:1^']],
  ['\ufeffVERSION ""', ['ident:VERSION@1:2^', 'string:@1:10']],
];

for (const [src, want] of cases)
  test(`lexer: ${JSON.stringify(src)}`, () => {
    assert.deepEqual(tokens(src), want);
  });

test('lexer: an unterminated string is a syntax error at its start', () => {
  assert.throws(() => tokens('BO_ "abc'), /t\.dbc:1:5: unterminated string/);
});
