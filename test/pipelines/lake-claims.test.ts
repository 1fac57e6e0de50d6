/**
 * Claims kept in a folder lake (StoreClaims): a claim record appears whole or not at all (another worker read an
 * O_EXCL-created file before it was written, and its JSON.parse of "" stopped it), and a record left unreadable
 * (a crash, a hand edit) is a claim that has expired, not an error.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FolderLakeStore } from '../../src/formats/lake/index.js';
import { StoreClaims } from '../../src/pipelines/lake/index.js';

const root = mkdtempSync(join(tmpdir(), 'sigflow-claims-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a create-only put is whole or absent, leaves no temporary file, and says false when the key exists', async () => {
  const store = new FolderLakeStore(join(root, 'lake1'));
  assert.equal(await store.putText('_sigflow/claims/D/s/0', '{"a":1}', { ifAbsent: true }), true);
  assert.equal(await store.putText('_sigflow/claims/D/s/0', '{"a":2}', { ifAbsent: true }), false);
  assert.equal(await store.getText('_sigflow/claims/D/s/0'), '{"a":1}');
  assert.deepEqual(readdirSync(join(root, 'lake1', '_sigflow', 'claims', 'D', 's')), ['0']);
});

test('an unreadable claim record is an expired claim: the log is taken with the next attempt', async () => {
  const lake = join(root, 'lake2');
  const dir = join(lake, '_sigflow', 'claims', 'D', 'stem');
  mkdirSync(dir, { recursive: true });
  for (const [n, text] of [
    ['0', ''],
    ['1', '{"worker": "x", "expires": '],
  ] as const) {
    writeFileSync(join(dir, n), text);
    const claims = new StoreClaims(new FolderLakeStore(lake), 60_000);
    assert.equal(await claims.claim('D', 'stem'), true, JSON.stringify(text));
  }
  // a live claim of another worker holds
  const other = new StoreClaims(new FolderLakeStore(lake), 60_000);
  assert.equal(await other.claim('D', 'stem'), false);
});
