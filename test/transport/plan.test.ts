/** Which protocol a DBC message longer than its frame needs, and the stage built from the plan. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Database } from '../../src/codecs/dbc/index.js';
import { NOT_TRANSPORT, planTransport, protocolFor, segmentJ1939, TransportStage } from '../../src/transport/index.js';

const msg = (id: number, extended: boolean, length: number, isFd = false) => ({
  id,
  extended,
  length,
  isFd,
  name: 'm',
});

test('protocol by id: standard and PF 0xDA/0xDB ids are ISO-TP, the NMEA 2000 PGN range fast packet, other 29-bit J1939', () => {
  assert.equal(protocolFor(msg(0x7ec, false, 8)), null);
  assert.equal(protocolFor(msg(0x7ec, false, 62)), 'isotp');
  assert.equal(protocolFor(msg(0x7ec, false, 48, true)), null, 'a CAN FD message up to 64 bytes fits one frame');
  assert.equal(protocolFor(msg(0x18daf110, true, 20)), 'isotp');
  assert.equal(protocolFor(msg(0x19f805fe, true, 51)), 'nmea2000');
  assert.equal(protocolFor(msg(0x18fee3fe, true, 40)), 'j1939');
  assert.equal(protocolFor(msg(0x18fecafe, true, 8)), null);
});

test('a plan from a DBC: notes name each message, only the chosen protocols are on', () => {
  const db = Database.fromText(`VERSION ""
BO_ 2028 Battery: 62 Vector__XXX
 SG_ service : 15|8@0+ (1,0) [0|0] "" Vector__XXX
BO_ 2566841342 EC1: 40 Vector__XXX
 SG_ speed : 96|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
BO_ 2583168510 gnssPositionData: 51 Vector__XXX
 SG_ sid : 0|8@1+ (1,0) [0|255] "" Vector__XXX
BO_ 100 Short: 8 Vector__XXX
 SG_ a : 0|8@1+ (1,0) [0|255] "" Vector__XXX
`);
  const plan = planTransport(db.messages);
  assert.deepEqual(plan.isotp, [{ id: 2028, extended: false, wholeLength: 62 }]);
  assert.equal(plan.j1939, true);
  assert.deepEqual(plan.fastPacketPgns, [129029]);
  assert.equal(plan.notes.length, 3);
  assert.match(plan.notes[0], /Battery \(0x7EC\) is 62 bytes: ISO-TP/);
  const only = planTransport(db.messages, new Set(['j1939'] as const));
  assert.deepEqual([only.isotp.length, only.j1939, only.fastPacketPgns.length], [0, true, 0]);
  const stage = new TransportStage(only);
  assert.equal(stage.push(0, 0n, 2028, false, new Uint8Array(8)), NOT_TRANSPORT);
  assert.equal(stage.wants(2028, false), false);
  assert.equal(stage.wants(0x1cecff00, true), true);
  const frames = segmentJ1939(new Uint8Array(28).fill(7), { pgn: 0xfee3, sa: 0 });
  const got = frames.map((f, i) => stage.push(0, BigInt(i), f.id, true, f.data));
  const last = got.at(-1);
  assert.ok(typeof last === 'object' && last.data.length === 28);
  assert.equal(stage.stats()[0].stats.messages, 1);
  assert.ok(new TransportStage(planTransport([])).empty);
});
