/**
 * Transport-protocol reassembly as a property: random payloads are cut into frames by the segmenters, damaged
 * (frames lost, repeated, swapped with the next one), interleaved across addresses and streams, and fed to the
 * reassemblers. Every message that comes out must be one that was sent, whole, no more often than sent; every
 * message none of whose frames was touched must come out; and a message that did not come out although its first
 * frame arrived must be counted as dropped. Plus the protocols' own rules, case by case.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  FastPacketReassembler,
  IsoTpReassembler,
  J1939Reassembler,
  NOT_TRANSPORT,
  type Reassembler,
  type SegmentedFrame,
  segmentFastPacket,
  segmentIsoTp,
  segmentJ1939,
  TAKEN,
  type TransportMessage,
} from '../../src/transport/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** One address's traffic: the messages sent and their frames, each frame tagged with the message it carries. */
interface Lane {
  stream: number;
  /** What a correct reassembler hands on for message k (protocol layout). */
  expected: string[];
  frames: { f: SegmentedFrame; msg: number; first: boolean }[];
}

type Damage = { kind: 'drop' | 'dup' | 'swap'; at: number };

/**
 * Applies the damages to a lane. Each damage hits one frame (a swap: it and the next one) and is skipped when it
 * would touch a message next to one already damaged: with two faults in neighbouring messages (the end of one and
 * the start of the next lost) ISO-TP and J1939 frames cannot be told apart by any listener — see README.md.
 */
function damage(
  lane: Lane,
  damages: Damage[],
): { frames: Lane['frames']; touched: Set<number>; firstLost: Set<number>; dups: Map<number, number> } {
  const frames = lane.frames.slice();
  const touched = new Set<number>();
  const firstLost = new Set<number>();
  const dups = new Map<number, number>();
  const free = (m: number) => !touched.has(m - 1) && !touched.has(m) && !touched.has(m + 1);
  for (const d of damages) {
    if (frames.length < 2) break;
    const i = d.at % (frames.length - 1);
    const fr = frames[i];
    if (d.kind === 'swap') {
      const [a, b] = [fr.msg, frames[i + 1].msg];
      if (!free(a) || !free(b)) continue;
      [frames[i], frames[i + 1]] = [frames[i + 1], frames[i]];
      touched.add(a).add(b);
      continue;
    }
    if (!free(fr.msg)) continue;
    touched.add(fr.msg);
    if (d.kind === 'drop') {
      frames.splice(i, 1);
      if (fr.first) firstLost.add(fr.msg);
    } else {
      frames.splice(i, 0, fr);
      dups.set(fr.msg, (dups.get(fr.msg) ?? 0) + 1);
    }
  }
  return { frames, touched, firstLost, dups };
}

/** Feeds the lanes interleaved (order within a lane kept) and checks the three properties. */
function check(
  r: Reassembler,
  lanes: Lane[],
  damages: Damage[][],
  interleave: number[],
  keyOf: (m: TransportMessage) => number,
) {
  const damaged = lanes.map((l, i) => damage(l, damages[i] ?? []));
  const pos = lanes.map(() => 0);
  const out: TransportMessage[] = [];
  let t = 1_000_000_000n;
  let k = 0;
  for (;;) {
    const live = damaged.map((d, i) => (pos[i] < d.frames.length ? i : -1)).filter((i) => i >= 0);
    if (live.length === 0) break;
    const li = live[interleave[k++ % interleave.length] % live.length];
    const { f } = damaged[li].frames[pos[li]++];
    t += 1_000_000n; // 1 ms apart: no timeouts in this property
    assert.ok(r.wants(f.id, f.extended), 'wants() agrees with push()');
    const res = r.push(lanes[li].stream, t, f.id, f.extended, f.data);
    assert.notEqual(res, NOT_TRANSPORT, 'a transport frame was passed through');
    if (res !== TAKEN) out.push(res as TransportMessage);
  }
  r.finish();
  const emitted = lanes.map(() => [] as string[]);
  for (const m of out) emitted[keyOf(m)].push(hex(m.data));
  let mustBeDropped = 0;
  lanes.forEach((lane, li) => {
    // 1. only whole messages that were sent, each at most as often as it was sent (plus repeats of its frames)
    const budget = new Map<string, number>();
    lane.expected.forEach((e, m) => {
      budget.set(e, (budget.get(e) ?? 0) + 1 + (damaged[li].dups.get(m) ?? 0));
    });
    for (const e of emitted[li]) {
      const left = budget.get(e);
      assert.ok(left !== undefined, `lane ${li}: emitted ${e.slice(0, 40)}… was never sent (glued or torn)`);
      assert.ok(left > 0, `lane ${li}: ${e.slice(0, 40)}… emitted more often than sent`);
      budget.set(e, left - 1);
    }
    const got = new Set(emitted[li]);
    lane.expected.forEach((e, m) => {
      // 2. untouched messages come out, unless the one before was damaged (it may end this one: see start())
      const touched = damaged[li].touched;
      if (!touched.has(m) && !touched.has(m - 1)) assert.ok(got.has(e), `lane ${li}: untouched message ${m} was lost`);
      else if (!got.has(e) && !damaged[li].firstLost.has(m)) mustBeDropped++;
    });
  });
  // 3. lost messages whose start arrived are counted as dropped
  const dropped = Object.values(r.stats.dropped).reduce((a, b) => a + b, 0);
  assert.ok(dropped >= mustBeDropped, `${mustBeDropped} messages lost but only ${dropped} drops counted`);
  assert.equal(r.stats.messages, out.length);
}

const damages = fc.array(
  fc.array(fc.record({ kind: fc.constantFrom('drop', 'dup', 'swap'), at: fc.nat(10_000) }) as fc.Arbitrary<Damage>, {
    maxLength: 4,
  }),
  { maxLength: 6 },
);
const interleave = fc.array(fc.nat(20), { minLength: 1, maxLength: 50 });

describe('ISO-TP', () => {
  // the third id uses extended (mixed) addressing: an address byte before the PCI
  const ids = [0x7e8, 0x7ec, 0x18daf110];
  test('random payloads, interleaved and damaged: whole, never glued (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            idx: fc.nat(ids.length - 1),
            stream: fc.nat(1),
            fd: fc.boolean(),
            msgs: fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 6 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        damages,
        interleave,
        (specs, dmg, il) => {
          // one lane per (stream, id): later specs for the same address are dropped
          const seen = new Set<string>();
          const lanes: (Lane & { id: number; addr: boolean })[] = [];
          for (const s of specs) {
            const k = `${s.stream}:${s.idx}`;
            if (seen.has(k)) continue;
            seen.add(k);
            const id = ids[s.idx];
            const ext = id > 0x7ff;
            const lane: Lane & { id: number; addr: boolean } = {
              stream: s.stream,
              id,
              addr: s.idx === 2,
              expected: [],
              frames: [],
            };
            s.msgs.forEach((p, m) => {
              const frames = segmentIsoTp(p, {
                id,
                extended: ext,
                addressByte: lane.addr ? 0xf1 : undefined,
                frameLength: s.fd ? 64 : 8,
              });
              // the byte kept before the payload: SF its PCI (or FD escape length) byte, FF its lowest length byte
              const f0 = frames[0].data.subarray(lane.addr ? 1 : 0);
              const pre = frames.length === 1 ? (f0[0] === 0 ? f0[1] : f0[0]) : p.length > 0xfff ? f0[5] : f0[1];
              lane.expected.push(hex(Uint8Array.of(pre, ...p)));
              frames.forEach((f, i) => {
                lane.frames.push({ f, msg: m, first: i === 0 });
              });
            });
            lanes.push(lane);
          }
          const r = new IsoTpReassembler({
            ids: lanes.map((l) => ({ id: l.id, extended: l.id > 0x7ff, addressing: l.addr ? 'extended' : 'normal' })),
          });
          check(r, lanes, dmg, il, (m) => lanes.findIndex((l) => l.id === m.id && l.stream === m.stream));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('the CANedge layout: SF keeps its PCI byte, FF its low length byte (tp_uds.dbc reads the SID at byte 1)', () => {
    const r = new IsoTpReassembler({ ids: [{ id: 0x7ec, extended: false }] });
    const sf = r.push(0, 1n, 0x7ec, false, Uint8Array.of(0x04, 0x62, 0x01, 0x01, 0x55, 0xaa, 0xaa, 0xaa));
    assert.equal(hex((sf as TransportMessage).data), '0462010155');
    // the first frames of the api-examples README sample (Hyundai Kona, 0x7EC, 62 bytes)
    const rows = [
      [16, 62, 98, 1, 1, 255, 247, 231],
      [33, 255, 100, 0, 0, 0, 0, 131],
      [34, 0, 3, 13, 244, 10, 9, 9],
      [35, 9, 9, 10, 0, 0, 10, 182],
      [36, 35, 182, 50, 0, 0, 146, 0],
      [37, 0, 1, 197, 0, 0, 4, 112],
      [38, 0, 0, 0, 155, 0, 0, 1],
      [39, 143, 0, 2, 157, 31, 9, 1],
      [40, 101, 0, 0, 0, 0, 11, 184],
    ];
    let msg: TransportMessage | undefined;
    rows.forEach((b, i) => {
      const res = r.push(0, BigInt(10 + i), 0x7ec, false, Uint8Array.from(b));
      if (res !== TAKEN) msg = res as TransportMessage;
    });
    assert.ok(msg, 'the 62-byte response completed');
    assert.equal(msg.data.length, 63);
    assert.deepEqual([...msg.data.subarray(0, 4)], [62, 98, 1, 1]);
    assert.deepEqual([...msg.data.subarray(-3)], [0, 11, 184]);
    assert.equal(msg.timeNs, 10n, 'time of the first frame');
    assert.equal(msg.lastTimeNs, 18n);
    assert.equal(msg.frames, 9);
  });

  test('a gap longer than the timeout drops the message; a consecutive frame without its start is stray', () => {
    const r = new IsoTpReassembler({ ids: [{ id: 0x7e8, extended: false }], timeoutMs: 1000 });
    const ms = 1_000_000n;
    assert.equal(r.push(0, 0n, 0x7e8, false, Uint8Array.of(0x10, 20, 1, 2, 3, 4, 5, 6)), TAKEN);
    assert.equal(r.push(0, 1001n * ms, 0x7e8, false, Uint8Array.of(0x21, 7, 8, 9, 10, 11, 12, 13)), TAKEN);
    assert.equal(r.stats.dropped.timeout, 1);
    assert.equal(r.stats.strayFrames, 1);
    assert.equal(r.push(0, 0n, 0x123, false, Uint8Array.of(0x10)), NOT_TRANSPORT);
  });

  test('sequence numbers wrap from 15 to 0', () => {
    const payload = Uint8Array.from({ length: 200 }, (_, i) => i);
    const frames = segmentIsoTp(payload, { id: 0x7e8 });
    assert.ok(frames.length > 17);
    assert.equal(frames[16].data[0], 0x20);
    const r = new IsoTpReassembler({ ids: [{ id: 0x7e8, extended: false }] });
    let msg: TransportMessage | undefined;
    frames.forEach((f, i) => {
      const res = r.push(0, BigInt(i), f.id, false, f.data);
      if (res !== TAKEN) msg = res as TransportMessage;
    });
    assert.deepEqual(msg?.data.subarray(1), payload);
  });

  test('a damaged first frame cannot allocate more than the maximum length', () => {
    const r = new IsoTpReassembler({ ids: [{ id: 0x7e8, extended: false }], maxLength: 4096 });
    assert.equal(r.push(0, 0n, 0x7e8, false, Uint8Array.of(0x10, 0, 0xff, 0xff, 0xff, 0xff, 0, 0)), TAKEN);
    assert.equal(r.stats.dropped.length, 1);
  });
});

describe('J1939 transport protocol', () => {
  const PGN_DM1 = 0xfeca;
  const PGN_PDU1 = 0xda00;
  test('random BAM and RTS/CTS transfers, interleaved and damaged: whole, never glued (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            sa: fc.nat(3),
            da: fc.constantFrom(0xff, 0x00, 0x21),
            stream: fc.nat(1),
            msgs: fc.array(fc.uint8Array({ minLength: 9, maxLength: 300 }), { minLength: 1, maxLength: 5 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        damages,
        interleave,
        (specs, dmg, il) => {
          const seen = new Set<string>();
          const lanes: (Lane & { sa: number; da: number })[] = [];
          for (const s of specs) {
            const k = `${s.stream}:${s.sa}:${s.da}`;
            if (seen.has(k)) continue;
            seen.add(k);
            const lane = {
              stream: s.stream,
              sa: s.sa,
              da: s.da,
              expected: [] as string[],
              frames: [] as Lane['frames'],
            };
            s.msgs.forEach((p, m) => {
              const pgn = s.da === 0xff ? PGN_DM1 : PGN_PDU1;
              segmentJ1939(p, { pgn, sa: s.sa, da: s.da }).forEach((f, i) => {
                lane.frames.push({ f, msg: m, first: i === 0 });
              });
              lane.expected.push(hex(p));
            });
            lanes.push(lane);
          }
          const r = new J1939Reassembler();
          // BAM lanes carry DM1 (PS = 0xCA); the others a PDU1 PGN whose PS is the destination
          const ps = (l: { da: number }) => (l.da === 0xff ? PGN_DM1 & 0xff : l.da);
          check(r, lanes, dmg, il, (m) =>
            lanes.findIndex((l) => l.stream === m.stream && l.sa === (m.id & 0xff) && ps(l) === ((m.id >>> 8) & 0xff)),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('the message id carries priority 6, the announced PGN and the sender; PDU1 gets the destination in PS', () => {
    const r = new J1939Reassembler();
    const payload = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
    let msg: TransportMessage | undefined;
    for (const f of segmentJ1939(payload, { pgn: PGN_DM1, sa: 0x00 })) {
      const res = r.push(0, 5n, f.id, true, f.data);
      if (res !== TAKEN) msg = res as TransportMessage;
    }
    assert.equal(msg?.id, 0x18feca00);
    assert.deepEqual(msg?.data, payload);
    msg = undefined;
    for (const f of segmentJ1939(payload, { pgn: PGN_PDU1, sa: 0x17, da: 0x21 })) {
      const res = r.push(0, 6n, f.id, true, f.data);
      if (res !== TAKEN) msg = res as TransportMessage;
    }
    assert.equal(msg?.id, 0x18da2117);
  });

  test('a connection abort from the receiver drops the transfer; packets a CTS asks for again are taken', () => {
    const payload = Uint8Array.from({ length: 30 }, (_, i) => i);
    const [cm, ...dt] = segmentJ1939(payload, { pgn: PGN_PDU1, sa: 0x10, da: 0x20 });
    const r = new J1939Reassembler();
    r.push(0, 0n, cm.id, true, cm.data);
    r.push(0, 1n, dt[0].id, true, dt[0].data);
    const abortFromReceiver = (7 << 26) | (0xec << 16) | (0x10 << 8) | 0x20;
    r.push(0, 2n, abortFromReceiver, true, Uint8Array.of(255, 1, 0xff, 0xff, 0xff, 0x00, 0xda, 0x00));
    assert.equal(r.stats.dropped.aborted, 1);
    // packets 2 and 3 sent again after the receiver's CTS asks for them from packet 2
    r.push(0, 3n, cm.id, true, cm.data);
    const cts = ((7 << 26) | (0xec << 16) | (0x10 << 8) | 0x20) >>> 0;
    let msg: TransportMessage | undefined;
    const send = (k: number) => {
      const res = r.push(0, 4n, dt[k].id, true, dt[k].data);
      if (res !== TAKEN) msg = res as TransportMessage;
    };
    [0, 1, 2].forEach(send);
    r.push(0, 4n, cts, true, Uint8Array.of(17, 2, 2, 0xff, 0xff, 0x00, 0xda, 0x00));
    [1, 2, 3, 4].forEach(send);
    assert.deepEqual(msg?.data, payload);
    // without a CTS, a repeated packet is a sequence error
    r.push(0, 5n, cm.id, true, cm.data);
    [0, 1, 0].forEach(send);
    assert.equal(r.stats.dropped.sequence, 1);
  });

  test('impossible announcements are refused, not allocated', () => {
    const r = new J1939Reassembler();
    const cmId = (7 << 26) | (0xec << 16) | (0xff << 8) | 1;
    r.push(0, 0n, cmId, true, Uint8Array.of(32, 0xff, 0xff, 0xff, 0xff, 0xca, 0xfe, 0x00));
    r.push(0, 0n, cmId, true, Uint8Array.of(32, 20, 0, 2, 0xff, 0xca, 0xfe, 0x00)); // 20 bytes need 3 packets
    assert.equal(r.stats.dropped.length, 2);
    assert.equal(r.push(0, 0n, 0x18fef100, true, new Uint8Array(8)), NOT_TRANSPORT);
    assert.equal(r.push(0, 0n, 0x7ec, false, new Uint8Array(8)), NOT_TRANSPORT);
  });
});

describe('NMEA 2000 fast packet', () => {
  const PGN_POS = 129029;
  const idOf = (sa: number) => ((3 << 26) | (PGN_POS << 8) | sa) >>> 0;
  test('random fast packets, interleaved and damaged: whole, never glued (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            sa: fc.nat(3),
            stream: fc.nat(1),
            msgs: fc.array(fc.uint8Array({ minLength: 1, maxLength: 223 }), { minLength: 1, maxLength: 6 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        damages,
        interleave,
        (specs, dmg, il) => {
          const seen = new Set<string>();
          const lanes: (Lane & { sa: number })[] = [];
          for (const s of specs) {
            const k = `${s.stream}:${s.sa}`;
            if (seen.has(k)) continue;
            seen.add(k);
            const lane = { stream: s.stream, sa: s.sa, expected: [] as string[], frames: [] as Lane['frames'] };
            s.msgs.forEach((p, m) => {
              segmentFastPacket(p, { id: idOf(s.sa), seq: m }).forEach((f, i) => {
                lane.frames.push({ f, msg: m, first: i === 0 });
              });
              lane.expected.push(hex(p));
            });
            lanes.push(lane);
          }
          const r = new FastPacketReassembler({ pgns: [PGN_POS] });
          check(r, lanes, dmg, il, (m) => lanes.findIndex((l) => l.stream === m.stream && l.sa === (m.id & 0xff)));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a frame of another sequence counter drops the message; length above 223 is refused', () => {
    const r = new FastPacketReassembler({ pgns: [PGN_POS] });
    const p = Uint8Array.from({ length: 43 }, (_, i) => i);
    const a = segmentFastPacket(p, { id: idOf(1), seq: 2 });
    const b = segmentFastPacket(p, { id: idOf(1), seq: 3 });
    r.push(0, 0n, a[0].id, true, a[0].data);
    r.push(0, 1n, b[1].id, true, b[1].data);
    assert.equal(r.stats.dropped.sequence, 1);
    r.push(0, 2n, a[0].id, true, Uint8Array.of(0x40, 224, 0, 0, 0, 0, 0, 0));
    assert.equal(r.stats.dropped.length, 1);
    assert.equal(r.push(0, 3n, 0x18fef100, true, new Uint8Array(8)), NOT_TRANSPORT);
  });
});
