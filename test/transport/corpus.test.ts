/**
 * The shared CANedge logs with their transport-protocol DBCs (api-examples data-processing): every multi-frame
 * message in them is reassembled, the count and bytes agree with a second, deliberately simple reassembler written
 * here (the CANedge reference's algorithm, emitting a message when its last frame comes), and the reassembled
 * messages decode with the DBC.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Database, j1939Pgn } from '../../src/codecs/dbc/index.js';
import { busFrames, openMdf4 } from '../../src/formats/mdf4/index.js';
import { planTransport, TAKEN, type TransportMessage, TransportStage } from '../../src/transport/index.js';
import { sharedData, warnNoShared } from '../harness/paths.js';

const root = sharedData && join(sharedData, 'canedge', 'api-examples', 'examples', 'data-processing');
/** Per log: the DBC, the protocol, and ranges a physical signal must stay in (what the vehicle can report). */
const cases: { log: string; dbc: string; protocol: string; ranges: Record<string, [number, number]> }[] = [
  {
    log: 'LOG/17BD1DB7/00000006/00000170.MF4',
    dbc: 'tp_uds.dbc',
    protocol: 'isotp',
    ranges: { M_SID_0x220101_StateOfChargeBMS: [1, 100], M_SID_0x220100_OutdoorTemp: [-40, 60] },
  },
  {
    log: 'LOG/2F6913DB/00000004/00000001.MF4',
    dbc: 'tp_uds_nissan.dbc',
    protocol: 'isotp',
    ranges: { SoC: [1, 100], BatPackTemp1: [-40, 60] },
  },
  {
    log: 'LOG/FCBF0606/00003482/00000001-60B621D9.MF4',
    dbc: 'tp_j1939.dbc',
    protocol: 'j1939',
    ranges: { EngineSpeedAtPoint5: [500, 3000] },
  },
  ...['LOG/94C49784/00000005/00000002.MF4', 'LOG/94C49784/00000005/00000017-6099D010.MF4'].map((log) => ({
    log,
    dbc: 'tp_nmea.dbc',
    protocol: 'nmea2000',
    // days since 1970: 2020-01-01 … 2022-12-31; positions in North America
    ranges: { date: [18262, 19357], latitude: [40, 50], longitude: [-90, -70], numberOfSvs: [4, 40] } as Record<
      string,
      [number, number]
    >,
  })),
];

interface Frame {
  timeNs: bigint;
  channel: number;
  id: number;
  extended: boolean;
  data: Uint8Array;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
type Out = { channel: number; id: number; timeNs: bigint; data: string };

/** The second reassembler: per address, start on a first frame, append continuations in order, emit when full. */
function simple(protocol: string, frames: Frame[], isotpIds: Set<number>, pgns: Set<number>): Out[] {
  type Open = { timeNs: bigint; id: number; want: number; next: number; bytes: number[] };
  const out: Out[] = [];
  const open = new Map<string, Open>();
  const emit = (channel: number, o: Open) =>
    out.push({ channel, id: o.id, timeNs: o.timeNs, data: hex(Uint8Array.from(o.bytes.slice(0, o.want))) });
  /** Starts a message (emitted at once when its first frame holds it all). */
  const start = (k: string, channel: number, o: Open) => {
    if (o.bytes.length >= o.want) {
      open.delete(k);
      emit(channel, o);
    } else open.set(k, o);
  };
  /** A continuation: `seq` must be the next expected; `next` is the one after it. */
  const more = (k: string, channel: number, seq: number, next: number, bytes: number[]) => {
    const o = open.get(k);
    if (!o || seq !== o.next) {
      open.delete(k);
      return;
    }
    o.bytes.push(...bytes);
    o.next = next;
    if (o.bytes.length >= o.want) {
      emit(channel, o);
      open.delete(k);
    }
  };
  for (const f of frames) {
    const d = [...f.data];
    if (protocol === 'isotp') {
      if (f.extended || !isotpIds.has(f.id)) continue;
      const k = `${f.channel}:${f.id}`;
      const type = d[0] >> 4;
      const o = { timeNs: f.timeNs, id: f.id, next: 1 };
      if (type === 0) start(k, f.channel, { ...o, want: 1 + (d[0] & 15), bytes: d });
      else if (type === 1) start(k, f.channel, { ...o, want: 1 + (((d[0] & 15) << 8) | d[1]), bytes: d.slice(1) });
      else if (type === 2) more(k, f.channel, d[0] & 15, ((d[0] & 15) + 1) & 15, d.slice(1));
    } else if (protocol === 'j1939') {
      if (!f.extended) continue;
      const pf = (f.id >>> 16) & 0xff;
      const k = `${f.channel}:${f.id & 0xff}:${(f.id >>> 8) & 0xff}`;
      if (pf === 0xec && (d[0] === 32 || d[0] === 16)) {
        const pgn = d[5] | (d[6] << 8) | (d[7] << 16);
        const id = ((6 << 26) | (pgn << 8) | (f.id & 0xff)) >>> 0;
        start(k, f.channel, { timeNs: f.timeNs, id, want: d[1] | (d[2] << 8), next: 1, bytes: [] });
      } else if (pf === 0xeb) more(k, f.channel, d[0], d[0] + 1, d.slice(1));
    } else {
      if (!f.extended || !pgns.has(j1939Pgn(f.id))) continue;
      const k = `${f.channel}:${f.id}`;
      if ((d[0] & 0x1f) === 0)
        start(k, f.channel, { timeNs: f.timeNs, id: f.id, want: d[1], next: d[0] + 1, bytes: d.slice(2) });
      else more(k, f.channel, d[0], d[0] + 1, d.slice(1));
    }
  }
  return out;
}

describe('transport protocols over the shared CANedge logs', { skip: !root && 'no ../shared/data' }, () => {
  if (!root) warnNoShared();
  for (const c of cases) {
    test(`${c.log} with ${c.dbc}: every multi-frame message reassembled and decoded`, async (t) => {
      const path = join(root as string, c.log);
      if (!existsSync(path)) return t.skip(`${path} missing`);
      const db = Database.load([join(root as string, 'dbc_files', c.dbc)]);
      const plan = planTransport(db.messages);
      assert.ok(plan.notes.length > 0, 'the DBC needs reassembly');
      const stage = new TransportStage(plan);
      const frames: Frame[] = [];
      for await (const f of busFrames(await openMdf4(path))) {
        if (f.kind !== 'data' || f.bus !== 'CAN') continue;
        frames.push({ timeNs: f.timeNs, channel: f.channel, id: f.id, extended: f.extended, data: f.data });
      }
      const got: TransportMessage[] = [];
      for (const f of frames) {
        const res = stage.push(f.channel, f.timeNs, f.id, f.extended, f.data);
        if (typeof res === 'object') got.push(res);
        else if (res === TAKEN) continue;
      }
      stage.finish();
      const expected = simple(c.protocol, frames, new Set(plan.isotp.map((e) => e.id)), new Set(plan.fastPacketPgns));
      const mine = got.map((m) => ({ channel: m.stream, id: m.id, timeNs: m.timeNs, data: hex(m.data) }));
      assert.ok(expected.length > 0, 'the log holds multi-frame messages');
      // J1939 PDU1 ids carry the destination in PS here; the simple one keeps PS 0 as CANedge does
      const norm = (o: Out) => `${o.channel} ${c.protocol === 'j1939' ? j1939Pgn(o.id) : o.id} ${o.timeNs} ${o.data}`;
      assert.deepEqual(mine.map(norm), expected.map(norm));

      // decode: every reassembled message the DBC describes decodes
      let decoded = 0;
      const ranged = new Map<string, number[]>();
      // J1939 and NMEA 2000 messages are matched by PGN: senders differ (tp_j1939.dbc's EC1 is 0x18FEE3FE,
      // VFrameFormat ExtendedCAN, not J1939PG: sender 0xFE; the log's engine is 0x00), and J1939 ids are rebuilt.
      const byPgn = (id: number) => db.messages.find((m) => m.extended && j1939Pgn(m.id) === j1939Pgn(id));
      for (const m of got) {
        const dm = m.extended ? byPgn(m.id) : db.lookup(m.id, m.extended);
        if (!dm) continue;
        const r = db.decodeMessage(dm, m.data, { truncated: true });
        assert.ok(r.ok, `${r.ok || r.detail} at ${m.timeNs}`);
        decoded++;
        // every value within the range its DBC gives (the decode reads the right bytes)
        for (const sig of dm.signals) {
          const v = r.phys[sig.name];
          if (typeof v !== 'number') continue;
          ranged.set(sig.name, [...(ranged.get(sig.name) ?? []), v]);
          if (sig.maximum > sig.minimum)
            assert.ok(v >= sig.minimum && v <= sig.maximum, `${dm.name}.${sig.name} = ${v} at ${m.timeNs}`);
        }
      }
      assert.ok(decoded > 0, 'some reassembled messages decode with the DBC');
      const s = stage.stats()[0].stats;
      for (const [name, [lo, hi]] of Object.entries(c.ranges)) {
        const vs = ranged.get(name) ?? [];
        assert.ok(vs.length > 0, `${name} decoded`);
        assert.ok(
          Math.min(...vs) >= lo && Math.max(...vs) <= hi,
          `${name} in ${lo}…${hi}: ${Math.min(...vs)} … ${Math.max(...vs)}`,
        );
      }
      for (const [name, vs] of ranged)
        t.diagnostic(`${name}: ${vs.length} values, ${Math.min(...vs)} … ${Math.max(...vs)}`);
      t.diagnostic(
        `${got.length} messages (${s.frames} frames), ${decoded} decoded; dropped ${JSON.stringify(s.dropped)}, stray ${s.strayFrames}`,
      );
    });
  }
});
