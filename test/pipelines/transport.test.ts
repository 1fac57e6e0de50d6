/**
 * Transport-protocol reassembly in every decode path, on a synthetic log: UDS responses over ISO-TP (channel 1),
 * J1939 BAM transfers and NMEA 2000 fast packets (channel 2) among ordinary frames, written as a real MF4 file.
 * `decode`, `import` and `frames | dbc decode` must give each multi-frame message's values once, at its first
 * frame's time; `--transport off` gives the per-message "needs transport-protocol reassembly" breakdown instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type WriteFrame, writeBusLog } from '../../src/formats/mdf4/writer.js';
import { segmentFastPacket, segmentIsoTp, segmentJ1939 } from '../../src/transport/index.js';
import { runCli } from '../harness/cli.js';

const DBC = `VERSION ""
BO_ 2024 Uds: 24 Vector__XXX
 SG_ service : 15|8@0+ (1,0) [0|255] "" Vector__XXX
 SG_ soc : 88|16@1+ (0.01,0) [0|100] "%" Vector__XXX
BO_ 2566834942 Dm1Like: 20 Vector__XXX
 SG_ first : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ last : 152|8@1+ (1,0) [0|255] "" Vector__XXX
BO_ 2583168510 gnssPositionData: 43 Vector__XXX
 SG_ sid : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ tail : 336|8@1+ (1,0) [0|255] "" Vector__XXX
BO_ 256 Plain: 8 Vector__XXX
 SG_ speed : 0|16@1+ (0.1,0) [0|6553.5] "km/h" Vector__XXX
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_ "VFrameFormat" BO_ 2566834942 3;
`;

const T0 = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;
let dir: string;
let log: string;
let dbc: string;
/** What every path must decode: message → list of [first-frame time, values]. */
const want = { Uds: [] as [string, number][], Dm1Like: [] as [string, number][], gnss: [] as [string, number][] };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigflow-tp-'));
  dbc = join(dir, 'tp.dbc');
  writeFileSync(dbc, DBC);
  const frames: WriteFrame[] = [];
  let t = T0;
  const put = (channel: number, f: { id: number; extended: boolean; data: Uint8Array }) => {
    frames.push({ timeNs: t, channel, id: f.id, extended: f.extended, data: f.data, dlc: f.data.length });
    t += MS;
  };
  for (let k = 0; k < 10; k++) {
    // an ordinary frame between the transfers
    put(1, { id: 256, extended: false, data: Uint8Array.of(k, 0, 0, 0, 0, 0, 0, 0) });
    // UDS: 0x62 (response to ReadDataByIdentifier), DID, …, SoC at payload byte 10 (message byte 11)
    const uds = new Uint8Array(23);
    uds[0] = 0x62;
    uds[10] = (5000 + k) & 0xff;
    uds[11] = (5000 + k) >> 8;
    want.Uds.push([String(t), (5000 + k) * 0.01]);
    for (const f of segmentIsoTp(uds, { id: 2024 })) put(1, f);
    // J1939 BAM of 20 bytes from 0x00 (the DBC names sender 0xFE: matched by PGN)
    const j = Uint8Array.from({ length: 20 }, (_, i) => (i === 19 ? 200 + k : k));
    want.Dm1Like.push([String(t), 200 + k]);
    for (const f of segmentJ1939(j, { pgn: 0xfeca, sa: 0x00 })) put(2, f);
    // NMEA 2000 fast packet of 43 bytes, sender 0x23
    const g = Uint8Array.from({ length: 43 }, (_, i) => (i === 42 ? 100 + k : k));
    want.gnss.push([String(t), 100 + k]);
    for (const f of segmentFastPacket(g, { id: (0x19f805 << 8) | 0x23, seq: k })) put(2, f);
  }
  log = join(dir, 'tp.MF4');
  writeBusLog(log, frames, { layout: 'canedge-v2', startTimeNs: T0, device: { serial: 'AABBCCDD' } });
});
after(() => rmSync(dir, { recursive: true, force: true }));

type Line = { t: string; message: string; signal: string; value: number };
const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

function valuesOf(rows: Line[], message: string, signal: string): [string, number][] {
  return rows.filter((r) => r.message === message && r.signal === signal).map((r) => [r.t, r.value]);
}

describe('transport protocols in decode, import and dbc decode', () => {
  test('decode: each multi-frame message once, at its first frame, with a note and a reassembly line', async () => {
    const r = await runCli(['decode', log, '--dbc', dbc]);
    assert.equal(r.code, 0, r.stderr);
    const rows = lines(r.stdout) as Line[];
    assert.deepEqual(valuesOf(rows, 'Uds', 'soc'), want.Uds);
    assert.deepEqual(valuesOf(rows, 'Dm1Like', 'last'), want.Dm1Like);
    assert.deepEqual(valuesOf(rows, 'gnssPositionData', 'tail'), want.gnss);
    assert.equal(valuesOf(rows, 'Plain', 'speed').length, 10);
    assert.match(r.stderr, /note: Uds \(0x7E8\) is 24 bytes: ISO-TP reassembly on 0x7E8/);
    assert.match(r.stderr, /reassembled ISO-TP: 10 messages from 40 frames/);
    assert.match(r.stderr, /reassembled J1939 TP: 10 messages from 40 frames/);
    assert.match(r.stderr, /reassembled NMEA 2000 fast packet: 10 messages from 70 frames/);
    assert.match(r.stderr, / 0 decode errors/);
  });

  test('--transport off: no multi-frame values, and the breakdown says why', async () => {
    const r = await runCli(['decode', log, '--dbc', dbc, '--transport', 'off']);
    const rows = lines(r.stdout) as Line[];
    assert.equal(valuesOf(rows, 'Uds', 'soc').length, 0);
    assert.equal(valuesOf(rows, 'Plain', 'speed').length, 10);
    assert.match(r.stderr, /needs transport-protocol reassembly/);
    const only = await runCli(['decode', log, '--dbc', dbc, '--transport', 'j1939']);
    const rows2 = lines(only.stdout) as Line[];
    assert.equal(valuesOf(rows2, 'Dm1Like', 'last').length, 10);
    assert.equal(valuesOf(rows2, 'Uds', 'soc').length, 0);
    const ch = await runCli(['decode', log, '--dbc', dbc, '--transport', 'CAN1=off']);
    const rows3 = lines(ch.stdout) as Line[];
    assert.equal(valuesOf(rows3, 'Uds', 'soc').length, 0, 'CAN1 off');
    assert.equal(valuesOf(rows3, 'gnssPositionData', 'tail').length, 10, 'CAN2 still auto');
    const bad = await runCli(['decode', log, '--dbc', dbc, '--transport', 'isotp,can']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--transport "isotp,can": unknown protocol "can".*SF_ERR_LOGDECODE_TRANSPORT/);
  });

  test('frames | dbc decode: a "part" line per taken frame, the message on the line that completes it', async () => {
    const frames = await runCli(['frames', log]);
    assert.equal(frames.code, 0, frames.stderr);
    const r = await runCli(['dbc', 'decode', '--dbc', dbc], { input: frames.stdout });
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, frames.stdout.trim().split('\n').length, 'one line out per line in');
    const msgs = out.filter((o) => typeof o.transport === 'object');
    assert.equal(msgs.length, 30);
    assert.equal(out.filter((o) => o.transport === 'part').length, 150 - 30);
    const uds = msgs.filter((o) => o.message === 'Uds').map((o) => [o.transport.t_first, o.phys.soc]);
    assert.deepEqual(uds, want.Uds);
    const gnss = msgs.filter((o) => o.message === 'gnssPositionData').map((o) => [o.transport.t_first, o.phys.tail]);
    assert.deepEqual(gnss, want.gnss);
  });

  test('import: the reassembled values are stored once', async () => {
    const data = join(dir, 'data');
    const r = await runCli(['import', log, '--dbc', dbc, '--data-dir', data]);
    assert.equal(r.code, 0, r.stderr);
    const q = await runCli([
      'store',
      'query',
      join(data, 'store.db'),
      'Uds',
      '--field',
      'soc',
      '--from',
      String(T0),
      '--to',
      String(T0 + 10_000n * MS),
    ]);
    assert.equal(q.code, 0, q.stderr);
    const series = lines(q.stdout);
    assert.equal(series.length, 1);
    const got = series[0].samples.map((x: { time: string; value: number }) => [x.time, x.value]);
    assert.deepEqual(got, want.Uds);
  });
});
