import { ParquetFileWriter, TimestampNsColumn, StringColumn, Int32Column, DoubleColumn, Int64Column } from '../../dist/src/formats/parquet/index.js';
const N = 3_000_000;
const sigs = Array.from({length: 300}, (_, i) => `Signal_${i}`);
const msgs = Array.from({length: 30}, (_, i) => `Message_${i}`);
const w = await ParquetFileWriter.open('/tmp/pq.parquet');
const t = new TimestampNsColumn('t', false), dev = new StringColumn('device', false, {dictionary: true}), bus = new StringColumn('bus', false, {dictionary:true, statistics:false});
const chn = new Int32Column('chn', false, {statistics:false}), msg = new StringColumn('message', false, {dictionary:true, statistics:false}), sig = new StringColumn('signal', false, {dictionary:true, statistics:false});
const val = new DoubleColumn('value', false, {statistics:false}), vi = new Int64Column('value_int', true, {statistics:false}), sa = new Int32Column('sa', true, {statistics:false});
w.begin([t, dev, bus, chn, msg, sig, val, vi, sa]);
const phases = { push: 0, encode: 0 };
let tt = 1700000000000000000n;
const t0 = performance.now();
let enc = 0;
for (let i = 0; i < N; i++) {
  if (i % 5 === 0) tt += 1000000n;
  t.push(tt); dev.push('dev1'); bus.push('CAN'); chn.push(1 + (i % 2)); msg.push(msgs[(i / 5 | 0) % 30]); sig.push(sigs[i % 300]);
  val.push((i % 97) * 0.5); vi.push(null); sa.push(i % 3 === 0 ? null : 0x21);
  w.endRow();
  if (w.hasPending) await w.drain();
}
const e0 = performance.now(); await w.close(); enc += performance.now() - e0;
const total = performance.now() - t0;
console.log(`total ${total.toFixed(0)} ms, encode+write ${enc.toFixed(0)} ms, pushes ${(total - enc).toFixed(0)} ms → ${(N / total * 1000 / 1e6).toFixed(2)} M rows/s`);
