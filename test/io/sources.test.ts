/**
 * The ByteSource contract, over every implementation (in memory, local file read synchronously and
 * asynchronously): reads return what was asked, short only where the source ends; invalid ranges, reads after
 * close, missing files and truncation are SigflowErrors with SF_ERR_IO_* codes naming the source.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SigflowError } from '../../src/errors/index.js';
import {
  AsyncFileSource,
  BufferSource,
  type ByteSource,
  FileSource,
  IoError,
  type IoErrorCode,
  readAll,
  readExact,
} from '../../src/io/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sigflow-io-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const BYTES = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff);
const path = join(dir, 'data.bin');
writeFileSync(path, BYTES);

const kinds: [string, () => Promise<ByteSource>][] = [
  ['BufferSource', async () => new BufferSource(BYTES, 'mem')],
  ['FileSource (sync)', async () => new FileSource(path)],
  ['AsyncFileSource', () => AsyncFileSource.open(path)],
];

function isIo(code: IoErrorCode, name?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof IoError, `expected IoError, got ${e}`);
    assert.ok(e instanceof SigflowError);
    assert.equal(e.code, code, e.message);
    if (name !== undefined) {
      assert.equal(e.source, name);
      assert.ok(e.message.startsWith(`${name}: `), e.message);
      assert.ok(e.where?.startsWith(name), e.where);
    }
    return true;
  };
}

/** Runs `fn` and turns a synchronous throw into a rejection (sources may throw or reject). */
async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  return fn();
}

for (const [kind, open] of kinds) {
  describe(kind, () => {
    test('reads exactly what is asked, anywhere in the source', async () => {
      const s = await open();
      assert.equal(s.size, BYTES.length);
      assert.deepEqual(Buffer.from(await s.read(0, 10)), Buffer.from(BYTES.subarray(0, 10)));
      assert.deepEqual(Buffer.from(await s.read(500, 300)), Buffer.from(BYTES.subarray(500, 800)));
      assert.equal((await s.read(17, 0)).length, 0);
      await s.close?.();
    });

    test('short reads only at the end: a read across the end gets the rest, at or past the end nothing', async () => {
      const s = await open();
      assert.deepEqual(Buffer.from(await s.read(990, 100)), Buffer.from(BYTES.subarray(990)));
      assert.equal((await s.read(1000, 5)).length, 0);
      assert.equal((await s.read(5000, 5)).length, 0);
      await s.close?.();
    });

    test('readInto copies into the target, short only where the source or the target ends', async () => {
      const s = await open();
      assert.ok(s.readInto, 'implements readInto');
      const t = new Uint8Array(64).fill(0xee);
      assert.equal(await s.readInto(100, t, 4, 32), 32);
      assert.deepEqual(Buffer.from(t.subarray(4, 36)), Buffer.from(BYTES.subarray(100, 132)));
      assert.equal(t[3], 0xee);
      assert.equal(t[36], 0xee);
      assert.equal(await s.readInto(990, t, 0, 64), 10, 'the source ends');
      assert.deepEqual(Buffer.from(t.subarray(0, 10)), Buffer.from(BYTES.subarray(990)));
      assert.equal(await s.readInto(0, t, 60, 64), 4, 'the target ends');
      assert.equal(await s.readInto(2000, t, 0, 8), 0);
      await s.close?.();
    });

    test('negative, fractional or unsafe ranges → SF_ERR_IO_RANGE', async () => {
      const s = await open();
      for (const [o, l] of [
        [-1, 4],
        [0, -1],
        [1.5, 4],
        [0, 2.5],
        [Number.NaN, 1],
        [Number.POSITIVE_INFINITY, 1],
        [2 ** 53, 1],
      ]) {
        await assert.rejects(
          call(() => s.read(o, l)),
          isIo('SF_ERR_IO_RANGE', s.name),
          `read(${o}, ${l})`,
        );
      }
      await assert.rejects(
        call(() => s.readInto?.(-4, new Uint8Array(4), 0, 4)),
        isIo('SF_ERR_IO_RANGE', s.name),
      );
      await assert.rejects(
        call(() => s.readInto?.(0, new Uint8Array(4), -1, 4)),
        isIo('SF_ERR_IO_RANGE', s.name),
      );
      await s.close?.();
    });

    test('read after close → SF_ERR_IO_CLOSED; close is idempotent', async () => {
      const s = await open();
      await s.close?.();
      await s.close?.();
      await assert.rejects(
        call(() => s.read(0, 1)),
        isIo('SF_ERR_IO_CLOSED', s.name),
      );
      await assert.rejects(
        call(() => s.readInto?.(0, new Uint8Array(1), 0, 1)),
        isIo('SF_ERR_IO_CLOSED', s.name),
      );
    });

    test('readExact: exactly the bytes, or SF_ERR_IO_TRUNCATED naming the range and the size', async () => {
      const s = await open();
      assert.deepEqual(Buffer.from(await readExact(s, 10, 20)), Buffer.from(BYTES.subarray(10, 30)));
      await assert.rejects(readExact(s, 990, 20), (e: unknown) => {
        isIo('SF_ERR_IO_TRUNCATED', s.name)(e);
        assert.match((e as Error).message, /read of 20 bytes at offset 990 passes the end \(size 1000\)/);
        assert.equal((e as IoError).offset, 990);
        return true;
      });
      assert.deepEqual(Buffer.from(await readAll(s)), Buffer.from(BYTES));
      await s.close?.();
    });
  });
}

describe('file sources', () => {
  test('the sync and the async source return the same bytes', async () => {
    const a = new FileSource(path);
    const b = await AsyncFileSource.open(path);
    for (const [o, l] of [
      [0, 1000],
      [123, 456],
      [999, 1],
    ]) {
      assert.deepEqual(Buffer.from(a.read(o, l)), Buffer.from(await b.read(o, l)));
    }
    a.close();
    await b.close();
  });

  test('a missing file or a folder → SF_ERR_IO_OPEN naming it, with the system reason', async () => {
    const missing = join(dir, 'missing.bin');
    assert.throws(
      () => new FileSource(missing),
      (e: unknown) => isIo('SF_ERR_IO_OPEN', missing)(e) && /cannot open: ENOENT/.test((e as Error).message),
    );
    await assert.rejects(AsyncFileSource.open(missing), isIo('SF_ERR_IO_OPEN', missing));
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    assert.throws(() => new FileSource(folder), isIo('SF_ERR_IO_OPEN', folder));
    await assert.rejects(AsyncFileSource.open(folder), isIo('SF_ERR_IO_OPEN', folder));
  });

  test('`name` names the source in errors instead of the path', async () => {
    assert.throws(() => new FileSource(join(dir, 'nope'), 'bucket/key'), isIo('SF_ERR_IO_OPEN', 'bucket/key'));
    const s = await AsyncFileSource.open(path, 'LOG/a.MF4');
    assert.equal(s.name, 'LOG/a.MF4');
    await s.close();
    await assert.rejects(s.read(0, 1), isIo('SF_ERR_IO_CLOSED', 'LOG/a.MF4'));
  });

  test('a file that shrinks under an open source: short reads, and readExact reports the truncation', async () => {
    const p = join(dir, 'shrinks.bin');
    writeFileSync(p, BYTES);
    const a = new FileSource(p);
    const b = await AsyncFileSource.open(p);
    truncateSync(p, 600);
    assert.equal(a.read(500, 200).length, 100);
    assert.equal((await b.read(500, 200)).length, 100);
    await assert.rejects(readExact(a, 500, 200), isIo('SF_ERR_IO_TRUNCATED', p));
    await assert.rejects(readExact(b, 500, 200), isIo('SF_ERR_IO_TRUNCATED', p));
    a.close();
    await b.close();
  });

  test('an empty file reads as nothing; readAll gives an empty array', async () => {
    const p = join(dir, 'empty.bin');
    writeFileSync(p, '');
    const s = new FileSource(p);
    assert.equal(s.size, 0);
    assert.equal(s.read(0, 10).length, 0);
    assert.equal((await readAll(s)).length, 0);
    s.close();
  });
});

describe('BufferSource', () => {
  test('reads are views (no copy) and the name defaults to <buffer>', () => {
    const s = new BufferSource(BYTES);
    assert.equal(s.name, '<buffer>');
    const v = s.read(10, 5);
    assert.equal(v.buffer, BYTES.buffer);
    assert.equal(s.bytes, BYTES);
  });

  test('close drops the bytes: reading them afterwards → SF_ERR_IO_CLOSED', () => {
    const s = new BufferSource(BYTES, 'x');
    s.close();
    assert.throws(() => s.bytes, isIo('SF_ERR_IO_CLOSED', 'x'));
  });
});
