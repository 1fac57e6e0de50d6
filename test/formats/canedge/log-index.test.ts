import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildEncryptedContainer,
  defaultIndexPath,
  LocalLogStore,
  LogIndex,
  type LogStore,
  type LogStoreEntry,
  MDF4_TIME_RANGE_ID,
  mdf4TimeRange,
  parseLogPath,
  parsePasswords,
  refreshIndex,
} from '../../../src/formats/canedge/index.js';
import type { ByteSource } from '../../../src/io/index.js';
import { fixturesDir } from '../../harness/paths.js';

const fx = (name: string) => join(fixturesDir, 'canedge', name);
const expected = JSON.parse(readFileSync(fx('expected.json'), 'utf8')).files;

describe('log tree paths', () => {
  test('parses <device>/<session>/<split>[-<hex>].<ext> case-insensitively, at any depth', () => {
    assert.deepEqual(parseLogPath('LOG/5bc57fec/00000001/00000005-643e503a.mfc'), {
      path: 'LOG/5bc57fec/00000001/00000005-643e503a.mfc',
      prefix: 'LOG',
      device: '5BC57FEC',
      session: 1,
      split: 5,
      suffixEpochS: 0x643e503a,
      extKind: 'mfc',
    });
    const p = parseLogPath('AABBCCDD/00000012/00000003.MF4');
    assert.equal(p?.prefix, '');
    assert.equal(p?.suffixEpochS, null);
    assert.equal(p?.extKind, 'mdf');
    assert.equal(parseLogPath('a/b/AABBCCDD/00000012/00000003.MFE')?.extKind, 'mfe');
    assert.equal(parseLogPath('a/b/AABBCCDD/00000012/00000003.mfm')?.extKind, 'mfm');
  });

  test('rejects everything else', () => {
    for (const p of [
      'AABBCCDD/00000012/0000003.MF4', // 7-digit split
      'AABBCCDD/0000012/00000003.MF4', // 7-digit session
      'AABBCCD/00000012/00000003.MF4', // 7-hex device
      'AABBCCDG/00000012/00000003.MF4', // not hex
      'AABBCCDD/00000012/00000003.MF5',
      'AABBCCDD/00000012/00000003.MF4.bak',
      'AABBCCDD/00000012/00000003-.MF4',
      'AABBCCDD/00000012/00000003-XYZ.MF4',
      '00000012/00000003.MF4',
      'passwords.json',
      'gnss.dbc',
    ]) {
      assert.equal(parseLogPath(p), null, p);
    }
  });
});

/** A LogStore wrapper that counts opens: proves which files a refresh actually reads. */
class CountingStore implements LogStore {
  opened: string[] = [];
  constructor(private readonly inner: LogStore) {}
  get id() {
    return this.inner.id;
  }
  list(prefix?: string): AsyncIterable<LogStoreEntry> {
    return this.inner.list(prefix);
  }
  async open(path: string): Promise<ByteSource> {
    this.opened.push(path);
    return this.inner.open(path);
  }
}

describe('log index', () => {
  let root: string;
  let cache: string;
  const MFC = 'LOG/5BC57FEC/00000001/00000007-643E54EA.MFC';
  const MF4 = 'LOG/FCBF0606/00003482/00000001-60B621D9.MF4';
  const MOVED = 'LOG/17BD1DB7/00000006/00000170.MF4';
  const MFE = 'LOG/FCBF0606/00003483/00000001.MFE';
  const put = (rel: string, bytes: Buffer | string) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), bytes);
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'sigflow-tree-'));
    cache = mkdtempSync(join(tmpdir(), 'sigflow-cache-'));
    put(MFC, readFileSync(fx('00000007-643E54EA.MFC')));
    put(MF4, readFileSync(fx('00000001-60B621D9.MF4')));
    put(MOVED, readFileSync(fx('00000170.MF4')));
    // an encrypted copy of the FCBF0606 log (its own header still says session 3482)
    put(
      MFE,
      await buildEncryptedContainer(readFileSync(fx('00000001-60B621D9.MF4')), {
        deviceId: 'FCBF0606',
        password: 'pw',
        iterations: 1000,
      }),
    );
    put('gnss.dbc', 'VERSION ""\n');
    put('notes/readme.txt', 'hello');
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  const opts = { timeRange: mdf4TimeRange, timeRangeId: MDF4_TIME_RANGE_ID };

  test('first build: identity from headers, location from paths, record time ranges, errors per file', async () => {
    const store = new CountingStore(new LocalLogStore(root));
    const indexPath = join(cache, 'a.json');
    const before = readdirSync(root, { recursive: true }).sort();
    const { index, stats } = await refreshIndex(store, { ...opts, indexPath });
    assert.deepEqual(readdirSync(root, { recursive: true }).sort(), before, 'the tree is not written to');
    assert.equal(stats.added, 4);
    assert.equal(stats.ignored, 2);
    assert.equal(stats.errors, 1);
    const by = new Map(index.files.map((f) => [f.path, f]));

    const mfc = by.get(MFC);
    const eMfc = expected['00000007-643E54EA.MFC'];
    assert.equal(mfc?.container, 'mfc');
    assert.equal(mfc?.device, '5BC57FEC');
    assert.equal(mfc?.session, eMfc.metadata.session);
    assert.equal(mfc?.location.session, 1);
    assert.deepEqual(mfc?.mismatches, ['session: folder 1, file 26']);
    assert.equal(mfc?.mdfSize, eMfc.mdf_size_of_decompressed);
    assert.equal(mfc?.startNs, eMfc.start_time_ns);
    assert.equal(mfc?.firstNs, eMfc.time_range.first_t_ns);
    assert.equal(mfc?.lastNs, eMfc.time_range.last_t_ns);
    assert.deepEqual(mfc?.metadata, eMfc.metadata);

    const mf4 = by.get(MF4);
    const eMf4 = expected['00000001-60B621D9.MF4'];
    assert.equal(mf4?.firstNs, eMf4.time_range.first_t_ns);
    assert.equal(mf4?.lastNs, eMf4.time_range.last_t_ns);
    // FW 01.03.01 writes two Device Information trees: both are read
    assert.deepEqual(mf4?.metadata, eMf4.metadata);
    assert.equal(mf4?.mismatches, undefined);

    const moved = by.get(MOVED);
    assert.equal(moved?.device, '3EBDACA8');
    assert.equal(moved?.identitySource, 'mdf-header');
    assert.equal(moved?.location.device, '17BD1DB7');
    assert.deepEqual(moved?.mismatches, ['device: folder 17BD1DB7, file 3EBDACA8']);

    const mfe = by.get(MFE);
    assert.equal(mfe?.error?.code, 'SF_ERR_CANEDGE_MISSING_PASSWORD');
    assert.match(mfe?.error?.message ?? '', /00000001\.MFE/);
    assert.equal(mfe?.device, 'FCBF0606');
    assert.equal(mfe?.identitySource, 'container-header');
    assert.deepEqual(index.ignored.examples.sort(), ['gnss.dbc', 'notes/readme.txt']);
  });

  test('refresh probes only new, changed and retry-worthy files; deleted ones are dropped', async () => {
    const indexPath = join(cache, 'b.json');
    const base = new LocalLogStore(root);
    await refreshIndex(base, { ...opts, indexPath });

    let store = new CountingStore(base);
    let r = await refreshIndex(store, { ...opts, indexPath });
    assert.deepEqual(store.opened, []);
    assert.equal(r.stats.unchanged, 4);

    // add a file
    const added = 'LOG/FCBF0606/00003482/00000002.MF4';
    put(added, readFileSync(fx('00000001-60B621D9.MF4')));
    store = new CountingStore(base);
    r = await refreshIndex(store, { ...opts, indexPath });
    assert.deepEqual(store.opened, [added]);
    assert.equal(r.stats.added, 1);
    assert.equal(r.stats.total, 5);

    // touch a file (same size, new mtime)
    utimesSync(join(root, MF4), new Date(), new Date(Date.now() + 5000));
    store = new CountingStore(base);
    r = await refreshIndex(store, { ...opts, indexPath });
    assert.deepEqual(store.opened, [MF4]);
    assert.equal(r.stats.changed, 1);

    // replace a file's content (size changes): the new content is what the index says
    put(added, readFileSync(fx('00000170.MF4')));
    store = new CountingStore(base);
    r = await refreshIndex(store, { ...opts, indexPath });
    assert.deepEqual(store.opened, [added]);
    assert.equal(r.index.files.find((f) => f.path === added)?.device, '3EBDACA8');

    // delete a file
    rmSync(join(root, added));
    store = new CountingStore(base);
    r = await refreshIndex(store, { ...opts, indexPath });
    assert.deepEqual(store.opened, []);
    assert.equal(r.stats.removed, 1);
    assert.equal(r.stats.total, 4);
    assert.equal(
      r.index.files.some((f) => f.path === added),
      false,
    );

    // new passwords: the file that failed for want of one is probed again and now reads
    store = new CountingStore(base);
    r = await refreshIndex(store, {
      ...opts,
      indexPath,
      passwords: parsePasswords('{"FCBF0606": "pw"}', 'passwords.json'),
    });
    assert.ok(store.opened.includes(MFE));
    const mfe = r.index.files.find((f) => f.path === MFE);
    assert.equal(mfe?.error, undefined);
    assert.equal(mfe?.container, 'mfe');
    assert.equal(mfe?.firstNs, expected['00000001-60B621D9.MF4'].time_range.first_t_ns);
    // same passwords again: nothing to do
    store = new CountingStore(base);
    r = await refreshIndex(store, {
      ...opts,
      indexPath,
      passwords: parsePasswords('{"FCBF0606": "pw"}', 'passwords.json'),
    });
    assert.deepEqual(store.opened, []);

    // a different probe (header only) re-probes everything once
    store = new CountingStore(base);
    r = await refreshIndex(store, { indexPath, passwords: parsePasswords('{"FCBF0606": "pw"}', 'passwords.json') });
    assert.equal(store.opened.length, 4);
    assert.equal(
      r.index.files.every((f) => f.firstNs === undefined && f.timeSource === 'none'),
      true,
    );
  });

  test('queries: device + time overlap; header-only entries use conservative bounds', async () => {
    const indexPath = join(cache, 'c.json');
    const store = new LocalLogStore(root);
    const { index } = await refreshIndex(store, { ...opts, indexPath });
    const e = expected['00000001-60B621D9.MF4'].time_range;
    const first = BigInt(e.first_t_ns);
    const last = BigInt(e.last_t_ns);
    const paths = (q: Parameters<LogIndex['query']>[0]) => index.query(q).map((f) => f.path);
    assert.deepEqual(paths({ device: 'fcbf0606' }), [MF4]); // the MFE is unreadable here (no password)
    assert.deepEqual(paths({ device: 'FCBF0606', fromNs: last, toNs: last + 10n }), [MF4]);
    assert.deepEqual(paths({ device: 'FCBF0606', fromNs: last + 1n }), []);
    assert.deepEqual(paths({ device: 'FCBF0606', toNs: first - 1n }), []);
    assert.deepEqual(paths({ device: '17BD1DB7' }), [], 'identity is the header serial, not the folder');
    assert.deepEqual(paths({ device: '3EBDACA8' }), [MOVED]);
    assert.deepEqual(paths({ session: 26 }), [MFC]);

    // without record times: HD start .. suffix + 1 s bounds the MFC (suffix 0x643E54EA)
    const { index: h } = await refreshIndex(store, { indexPath: join(cache, 'd.json') });
    const mfc = h.files.find((f) => f.path === MFC);
    assert.equal(mfc?.firstNs, undefined);
    const suffixNs = BigInt(0x643e54ea) * 1_000_000_000n;
    const inside = BigInt(expected['00000007-643E54EA.MFC'].time_range.last_t_ns);
    assert.ok(inside <= suffixNs + 1_000_000_000n, 'the suffix bounds the last record (doc claim)');
    assert.deepEqual(
      h.query({ device: '5BC57FEC', fromNs: inside }).map((f) => f.path),
      [MFC],
    );
    assert.deepEqual(
      h.query({ device: '5BC57FEC', fromNs: suffixNs + 2_000_000_000n }).map((f) => f.path),
      [],
    );
    // no suffix, no record times: never excluded by `from`
    assert.deepEqual(
      h.query({ device: '3EBDACA8', fromNs: 10n ** 19n }).map((f) => f.path),
      [MOVED],
    );
  });

  test('persistence: saved index reloads; corrupt or foreign index files are rebuilt with a warning', async () => {
    const indexPath = join(cache, 'e.json');
    const store = new LocalLogStore(root);
    const { index } = await refreshIndex(store, { ...opts, indexPath });
    const again = await LogIndex.load(indexPath, store.id);
    assert.equal(again.loadWarning, null);
    assert.deepEqual(again.files, index.files);

    writeFileSync(indexPath, '{"format": "sigflow-canedge-index", "version": 1, "files": [');
    const broken = await LogIndex.load(indexPath, store.id);
    assert.match(broken.loadWarning ?? '', /corrupt index/);
    assert.equal(broken.files.length, 0);
    const r = await broken.refresh(store, opts);
    assert.equal(r.added, 4);

    await broken.save();
    const foreign = await LogIndex.load(indexPath, '/some/other/tree');
    assert.match(foreign.loadWarning ?? '', /indexes .* not \/some\/other\/tree/);
    assert.equal(foreign.files.length, 0);
  });

  test('default index location is a cache folder keyed by the tree, not the tree itself', () => {
    const saved = process.env.SIGFLOW_CACHE_DIR;
    try {
      process.env.SIGFLOW_CACHE_DIR = cache;
      const a = defaultIndexPath('/data/LOG');
      const b = defaultIndexPath('/other/LOG');
      assert.ok(a.startsWith(join(cache, 'canedge-index')));
      assert.notEqual(a, b);
      assert.equal(a, defaultIndexPath('/data/LOG'));
      delete process.env.SIGFLOW_CACHE_DIR;
      const xdg = process.env.XDG_CACHE_HOME;
      process.env.XDG_CACHE_HOME = '/x/cache';
      assert.ok(defaultIndexPath('/data/LOG').startsWith('/x/cache/sigflow/canedge-index/LOG-'));
      if (xdg === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = xdg;
    } finally {
      if (saved === undefined) delete process.env.SIGFLOW_CACHE_DIR;
      else process.env.SIGFLOW_CACHE_DIR = saved;
    }
  });

  test('damaged files are per-file errors, not a failed refresh', async () => {
    const r2 = mkdtempSync(join(tmpdir(), 'sigflow-tree2-'));
    try {
      const w = (rel: string, b: Buffer | string) => {
        mkdirSync(dirname(join(r2, rel)), { recursive: true });
        writeFileSync(join(r2, rel), b);
      };
      w('AABBCCDD/00000001/00000001.MF4', 'not an mdf file at all, just text');
      w('AABBCCDD/00000001/00000002.MFC', readFileSync(fx('00000007-643E54EA.MFC')).subarray(0, 20));
      w('AABBCCDD/00000001/00000003.MF4', readFileSync(fx('00000001-60B621D9.MF4')).subarray(0, 50));
      w('AABBCCDD/00000001/00000004.MF4', Buffer.alloc(0));
      const { index, stats } = await refreshIndex(new LocalLogStore(r2), { ...opts, indexPath: join(cache, 'f.json') });
      assert.equal(stats.total, 4);
      assert.equal(stats.errors, 4);
      const codes = Object.fromEntries(index.files.map((f) => [f.path.slice(-12), f.error?.code]));
      assert.deepEqual(codes, {
        '00000001.MF4': 'SF_ERR_CANEDGE_NOT_A_LOG',
        '00000002.MFC': 'SF_ERR_CANEDGE_TRUNCATED',
        '00000003.MF4': 'SF_ERR_CANEDGE_TRUNCATED',
        '00000004.MF4': 'SF_ERR_CANEDGE_TRUNCATED',
      });
      for (const f of index.files)
        assert.ok(f.error?.message.includes(f.path.split('/').pop() as string), f.error?.message);
    } finally {
      rmSync(r2, { recursive: true, force: true });
    }
  });
});
