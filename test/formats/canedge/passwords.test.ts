import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CanedgeError, loadPasswords, PasswordBook, parsePasswords } from '../../../src/formats/canedge/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sigflow-pw-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function badFile(file: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CanedgeError);
    assert.equal(e.code, 'SF_ERR_CANEDGE_PASSWORDS_FILE');
    assert.equal(e.file, file);
    assert.match(e.message, re);
    return true;
  };
}

describe('passwords.json', () => {
  test('lookup by device id (any case), then default', () => {
    const b = parsePasswords('{"5bc57fec": "one", "DEFAULT": "dflt", "AABBCCDD": "two"}', 'p.json');
    assert.equal(b.lookup('5BC57FEC'), 'one');
    assert.equal(b.lookup('5bc57fec'), 'one');
    assert.equal(b.lookup('aabbccdd'), 'two');
    assert.equal(b.lookup('11111111'), 'dflt');
    assert.equal(parsePasswords('{"AABBCCDD": "x"}', 'p.json').lookup('11111111'), undefined);
    assert.equal(PasswordBook.empty().lookup('11111111'), undefined);
  });

  test('the empty string is a password, not a missing one', () => {
    assert.equal(parsePasswords('{"default": ""}', 'p').lookup('12345678'), '');
  });

  test('bad JSON names the file and line:column', () => {
    assert.throws(
      () => parsePasswords('{\n  "AABBCCDD": "x",\n  oops\n}', '/r/passwords.json'),
      badFile('/r/passwords.json', /invalid JSON at 3:3/),
    );
    assert.throws(() => parsePasswords('{"a": "x"', 'p.json'), badFile('p.json', /invalid JSON at/));
    assert.throws(() => parsePasswords('', 'p.json'), badFile('p.json', /invalid JSON at 1:1/));
  });

  test('wrong shapes are errors naming the key', () => {
    assert.throws(() => parsePasswords('["x"]', 'p.json'), badFile('p.json', /expected an object.*array/));
    assert.throws(
      () => parsePasswords('{"AABBCCDD": 5}', 'p.json'),
      badFile('p.json', /"AABBCCDD" must be a string, got number/),
    );
    assert.throws(() => parsePasswords('{"device1": "x"}', 'p.json'), badFile('p.json', /key "device1"/));
  });

  test('UTF-8 BOM tolerated; fingerprint changes with contents only', () => {
    const a = parsePasswords('\ufeff{"AABBCCDD": "x", "default": "y"}', 'p');
    const b = parsePasswords('{"default": "y", "aabbccdd": "x"}', 'q');
    const c = parsePasswords('{"default": "y", "aabbccdd": "z"}', 'q');
    assert.equal(a.fingerprint(), b.fingerprint());
    assert.notEqual(a.fingerprint(), c.fingerprint());
    assert.ok(!a.fingerprint().includes('x'));
  });

  test('loadPasswords reads a file; a missing file is an error naming it', async () => {
    const p = join(dir, 'passwords.json');
    writeFileSync(p, '{"default": "pw"}');
    assert.equal((await loadPasswords(p)).lookup('00000000'), 'pw');
    await assert.rejects(loadPasswords(join(dir, 'nope.json')), badFile(join(dir, 'nope.json'), /cannot read/));
  });
});
