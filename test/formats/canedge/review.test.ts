/**
 * Regression tests for review findings: sources are closed on every error path of openLog / probeLogFile; data
 * damage found while probing record times is recorded in the index and shown by `sigflow logs index`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import {
  type LogStore,
  MDF4_TIME_RANGE_ID,
  mdf4TimeRange,
  openLog,
  parseLogPath,
  probeLogFile,
} from '../../../src/formats/canedge/index.js';
import { openMdf4 } from '../../../src/formats/mdf4/index.js';
import { buildBusLog } from '../../../src/formats/mdf4/writer.js';
import { BufferSource, type ByteSource, IoError } from '../../../src/io/index.js';
import { runCli } from '../../harness/cli.js';

/** A source whose reads fail (an I/O error), counting how often it is closed. */
function failingSource(name: string): ByteSource & { closed: number } {
  const s = {
    name,
    size: 4096,
    closed: 0,
    read(): Promise<Uint8Array> {
      return Promise.reject(new IoError('SF_ERR_IO_READ', name, 'read failed (simulated)'));
    },
    close(): void {
      s.closed++;
    },
  };
  return s;
}

test('openLog closes the source when reading its header fails', async () => {
  const src = failingSource('LOG/ABCDEF01/00000001/00000001.MF4');
  await assert.rejects(openLog(src), (e: unknown) => e instanceof IoError && e.code === 'SF_ERR_IO_READ');
  assert.equal(src.closed, 1);
});

test('probeLogFile: a file whose read fails is a per-file error and its source is closed', async () => {
  const path = 'LOG/ABCDEF01/00000001/00000001.MF4';
  const loc = parseLogPath(path);
  assert.ok(loc);
  const opened: ReturnType<typeof failingSource>[] = [];
  const store: LogStore = {
    id: 'mem://failing',
    async *list() {},
    async open(p: string) {
      const s = failingSource(p);
      opened.push(s);
      return s;
    },
  };
  const entry = await probeLogFile(store, loc, { size: 4096, mtimeMs: 0 }, {}, 'none');
  assert.equal(entry.error?.code, 'SF_ERR_IO_READ');
  assert.ok(opened.length >= 1);
  for (const s of opened) assert.ok(s.closed >= 1, `${s.name} opened but never closed`);
});

const START = 1_600_000_000_000_000_000n;

/** A CANedge-layout log of `n` CAN frames 1 ms apart whose record `k` (on disk) gets an unknown record id. */
async function damagedLog(n: number, k: number): Promise<Uint8Array> {
  const frames = [];
  for (let i = 0; i < n; i++)
    frames.push({ timeNs: START + BigInt(i) * 1_000_000n, channel: 1, id: 0x100, dlc: 8, data: new Uint8Array(8) });
  const bytes = new Uint8Array(buildBusLog(frames, { layout: 'canedge-v1', startTimeNs: START, finalized: true }));
  const mdf = await openMdf4(new BufferSource(bytes, 'probe'));
  const dg = mdf.groups[0];
  assert.equal(dg.recIdSize, 1);
  assert.equal(String.fromCharCode(bytes[dg.dataLink + 2], bytes[dg.dataLink + 3]), 'DT');
  const sizes = new Map(dg.channelGroups.map((g) => [g.recordId, g.isVlsd ? -1 : g.dataBytes + g.invalBytes]));
  const dv = new DataView(bytes.buffer);
  let p = dg.dataLink + 24;
  for (let i = 0; i < k; i++) {
    const size = sizes.get(bytes[p]);
    assert.ok(size !== undefined);
    p += size >= 0 ? 1 + size : 5 + dv.getUint32(p + 1, true);
  }
  assert.ok(!sizes.has(0xee));
  bytes[p] = 0xee;
  return bytes;
}

test('mdf4TimeRange reports data damage (with and without readable records)', async () => {
  const clean = await mdf4TimeRange(new BufferSource(cleanLog(50), 'c.mf4'));
  assert.ok(clean && clean.firstNs !== undefined);
  assert.equal(clean.dataWarnings, undefined);
  // record 40 of 100 on disk (20 frames: fixed + VLSD record each) → 20 frames readable
  const part = await mdf4TimeRange(new BufferSource(await damagedLog(50, 40), 'p.mf4'));
  assert.ok(part && part.firstNs !== undefined);
  assert.equal(part.firstNs, START);
  assert.equal(part.lastNs, START + 19n * 1_000_000n);
  assert.equal(part.dataWarnings?.count, 1);
  assert.match(part.dataWarnings?.messages[0] ?? '', /unknown record id 238/);
  const none = await mdf4TimeRange(new BufferSource(await damagedLog(50, 0), 'n.mf4'));
  assert.ok(none);
  assert.equal(none.firstNs, undefined);
  assert.equal(none.dataWarnings?.count, 1);
});

function cleanLog(n: number): Uint8Array {
  const frames = [];
  for (let i = 0; i < n; i++)
    frames.push({ timeNs: START + BigInt(i) * 1_000_000n, channel: 1, id: 0x100, dlc: 8, data: new Uint8Array(8) });
  return buildBusLog(frames, { layout: 'canedge-v1', startTimeNs: START, finalized: true });
}

test('sigflow logs index shows files with damaged data; the index entry records the warnings', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sigflow-review-tree-'));
  const cache = mkdtempSync(join(tmpdir(), 'sigflow-review-cache-'));
  try {
    const put = (rel: string, bytes: Uint8Array) => {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), bytes);
    };
    put('ABCDEF01/00000001/00000001.MF4', cleanLog(30));
    put('ABCDEF01/00000001/00000002.MF4', await damagedLog(30, 20));
    const indexPath = join(cache, 'i.json');
    const r = await runCli(['logs', 'index', root, '--index', indexPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /00000002\.MF4 .*\[damaged: 1 warning\(s\)\]/);
    assert.doesNotMatch(r.stdout, /00000001\.MF4 .*\[damaged/);
    assert.match(
      r.stdout,
      /files with damaged data \(1;.*\n\s+ABCDEF01\/00000001\/00000002\.MF4: 1 warning\(s\), first: at byte \d+: unknown record id 238/,
    );
    const idx = JSON.parse(readFileSync(indexPath, 'utf8'));
    const byPath = new Map(idx.files.map((f: { path: string }) => [f.path, f]));
    const bad = byPath.get('ABCDEF01/00000001/00000002.MF4') as { dataWarnings?: { count: number }; probe: string };
    const good = byPath.get('ABCDEF01/00000001/00000001.MF4') as { dataWarnings?: unknown };
    assert.equal(bad.dataWarnings?.count, 1);
    assert.equal(good.dataWarnings, undefined);
    assert.ok(bad.probe.includes(MDF4_TIME_RANGE_ID), bad.probe);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
});
