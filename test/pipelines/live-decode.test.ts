/**
 * LiveDecoder: live frames → records. A frame whose time is no usable number (a damaged timestamp read with the
 * framer's checks off: NaN, ±Infinity, beyond the int64 ns range) is counted and skipped — the frames around it
 * still become records (it once threw from BigInt(NaN) and the unit crashed, losing the batch). With
 * use_now_time the frame's own time is not used: such a frame is counted and kept (without can_timestamp).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Database } from '../../src/codecs/dbc/index.js';
import { CanFrameBatch } from '../../src/framers/index.js';
import { LiveDecoder } from '../../src/pipelines/live/index.js';
import type { TelemetryRecord } from '../../src/records/index.js';

const DBC = `VERSION ""
BU_: ECU
BO_ 291 Speed: 2 ECU
 SG_ kmh : 0|16@1+ (0.1,0) [0|6553.5] "km/h" Vector__XXX
`;

for (const mapping of ['message', 'seed'] as const) {
  for (const useNowTime of [false, true]) {
    test(`a frame with an unusable time is counted, and skipped unless use_now_time; its neighbours kept (${mapping}, use_now_time ${useNowTime})`, () => {
      const dec = new LiveDecoder({ db: Database.fromText(DBC, 'speed.dbc'), mapping, device: 'd', useNowTime });
      const batch = new CanFrameBatch();
      const data = new Uint8Array([0x10, 0x27]); // 1000.0 km/h
      const t0 = Date.UTC(2024, 0, 1) * 1000;
      const times = [t0, Number.NaN, t0 + 1, Number.POSITIVE_INFINITY, t0 + 2, -1e300, 9.3e15, t0 + 3];
      for (const us of times) batch.push(us, 291, false, 0, 1, data, 0, 2);
      const out: TelemetryRecord[] = [];
      dec.decode(batch, t0 + 10_000, out);
      const kept = useNowTime ? 8 : 4;
      assert.equal(out.length, kept);
      assert.equal(dec.counters.bad_times, 4);
      assert.equal(dec.counters.records, kept);
      if (mapping === 'seed')
        assert.deepEqual(
          out.map((r) => r.fields.can_timestamp),
          useNowTime
            ? times.map((us) => (Math.abs(us) < 9e15 ? us / 1e6 : undefined))
            : [t0, t0 + 1, t0 + 2, t0 + 3].map((us) => us / 1e6),
        );
      if (!useNowTime)
        assert.deepEqual(
          out.map((r) => r.time),
          [0, 1, 2, 3].map((k) => BigInt(t0 + k) * 1000n),
        );
      for (const r of out) assert.equal(r.fields.kmh, 1000);
    });
  }
}
