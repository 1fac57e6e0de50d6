/**
 * `npm run bench -- packets [--json] [--messages N] [--runs N]`
 *
 * IoF messages (random valid ones: header, a GPS block in half, 1–7 tag/TBR packets — LoRa-sized, 6–60 bytes) decoded
 * per second on one core by the compiled `iof` spec — through the column callback (what the IoF sink uses) and
 * as row objects — beside a straightforward reference decoder written here (DataView, field by field, an object
 * per row), in the same process on the same messages. Target (issue 12): ≥ 1M messages/s.
 * Positions per second: the TDOA decision (src/geo locateInCage) on synthetic fish triplets beside the
 * straightforward reference (test/geo/reference.ts), and a whole database positioned (`sigflow iof position --all`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { positionAll } from '../src/apps/iof/index.js';
import { loadPacketSpec } from '../src/codecs/bitfield/index.js';
import { cageOf, locateInCage } from '../src/geo/index.js';
import { exitWhenWritten } from '../src/io/index.js';
import type { TelemetryRecord } from '../src/records/index.js';
import { createSink } from '../src/sinks/index.js';
import { type IofSink, loadProject, saveProject } from '../src/sinks/iof/index.js';
import { PacketPayloads } from '../src/sources/mqtt/packets.js';
import { envelope, fishProject, messages, STATION_DEPTH, transmissions } from '../test/apps/iof/fish.js';
import { encodeIof, prng, randomMessage } from '../test/codecs/bitfield/iof-encoder.js';
import { refLocate } from '../test/geo/reference.js';
import { arg, fmtRate, median, note, peakRssMb, report, timeRuns } from './_harness.js';

const count = Number(arg('messages', '200000'));
const runs = Number(arg('runs', '7'));

const PROTOCOLS = ['R256', 'R04K', 'R64K', 'S256', 'R01M', 'S64K', 'HS256', 'DS256'];
const ID_BYTES = [1, 2, 2, 1, 3, 2, 1, 1];
const DATA_BYTES = [[], [], [], [1], [], [1], [2], [1, 1]];
const FIX = ['no fix', 'dead reckoning only', '2D-fix', '3D-fix', 'GNSS + dead reckoning combined', 'time only fix'];

/** The reference: what one writes by hand with a DataView — an object per row. */
function referenceDecode(bytes: Uint8Array): Record<string, unknown>[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rows: Record<string, unknown>[] = [];
  const h = dv.getUint16(0);
  const tbr = h >> 2;
  const ref = dv.getUint32(2);
  let p = 6;
  if ((h & 3) === 1) {
    const hi = dv.getUint32(p);
    const lo = dv.getUint8(p + 4);
    let lon = ((hi & 0x3ffff) * 256 + lo) | 0;
    if (lon & 0x2000000) lon -= 0x4000000;
    const w = dv.getUint32(p + 5);
    let lat = w & 0x1ffffff;
    if (lat & 0x1000000) lat -= 0x2000000;
    const f = dv.getUint8(p + 9);
    rows.push({
      kind: 'gps',
      tbr_serial_id: tbr,
      timestamp: ref,
      slim_status: hi >>> 18,
      longitude: lon / 1e5,
      pdop: (w >>> 25) / 10,
      latitude: lat / 1e5,
      fix: FIX[f >> 5],
      num_sat_tracked: f & 31,
    });
    p += 10;
  }
  while (p < bytes.length) {
    const off = dv.getUint8(p);
    const code = dv.getUint8(p + 1);
    const timestamp = off > 250 ? ref - (255 - off) : ref + off;
    if (code === 0xff) {
      const t = dv.getUint16(p + 2);
      rows.push({
        kind: 'tbr',
        tbr_serial_id: tbr,
        timestamp,
        temperature: (t - 50) / 10,
        temperature_data_raw: t,
        noise_avg: dv.getUint8(p + 4),
        noise_peak: dv.getUint8(p + 5),
        frequency: dv.getUint8(p + 6),
      });
      p += 7;
      continue;
    }
    const k = code >> 4;
    const pi = code & 7;
    if (code & 8 || k > 14) throw new Error(`unknown comm_code ${code}`);
    let q = p + 2;
    let id = 0;
    for (let i = 0; i < ID_BYTES[pi]; i++) id = id * 256 + dv.getUint8(q++);
    const row: Record<string, unknown> = {
      kind: 'tag',
      tbr_serial_id: tbr,
      timestamp,
      comm_protocol: PROTOCOLS[pi],
      frequency: k <= 8 ? 69 + k : 54 + k,
      tag_id: id,
    };
    const data = DATA_BYTES[pi];
    if (data.length) {
      row.tag_data = data[0] === 2 ? dv.getUint16(q) : dv.getUint8(q);
      q += data[0];
      if (data.length > 1) row.tag_data_2 = dv.getUint8(q++);
    }
    const sm = dv.getUint16(q);
    row.snr = sm >> 10;
    row.millisecond = sm & 1023;
    rows.push(row);
    p = q + 2;
  }
  return rows;
}

async function main(): Promise<void> {
  const rnd = prng(12);
  const messages = Array.from({ length: count }, () => encodeIof(randomMessage(rnd, 1 + Math.floor(rnd() * 7))));
  const bytes = messages.reduce((s, m) => s + m.length, 0);
  const iof = loadPacketSpec('iof');
  const v = iof.values;
  const tagKind = iof.kind('tag');
  const msSlot = tagKind?.columns.find((c) => c.name === 'millisecond')?.slot ?? 0;

  let rowsCols = 0;
  let check = 0;
  const onRow = (k: number) => {
    rowsCols++;
    check += v[msSlot] * k;
  };
  const columns = () => {
    rowsCols = 0;
    for (const m of messages) iof.decode(m, onRow);
  };
  let rowsObj = 0;
  const objects = () => {
    rowsObj = 0;
    for (const m of messages) rowsObj += iof.rows(m).rows.length;
  };
  let rowsRef = 0;
  const reference = () => {
    rowsRef = 0;
    for (const m of messages) rowsRef += referenceDecode(m).length;
  };
  // Alternate the three so drift on a shared machine hits them alike.
  const times: Record<string, number[]> = { columns: [], objects: [], reference: [] };
  for (let i = 0; i < runs; i++) {
    times.columns.push(...(await timeRuns(columns, 1, i === 0 ? 2 : 0, false)));
    times.objects.push(...(await timeRuns(objects, 1, i === 0 ? 2 : 0, false)));
    times.reference.push(...(await timeRuns(reference, 1, i === 0 ? 2 : 0, false)));
  }
  if (rowsCols !== rowsObj || rowsObj !== rowsRef || rowsCols === 0)
    throw new Error(`row counts differ: columns ${rowsCols}, objects ${rowsObj}, reference ${rowsRef}`);
  const rate = (name: string) => count / median(times[name]);
  const result = {
    bench: 'packets',
    messages: count,
    rows: rowsCols,
    mean_message_bytes: Number((bytes / count).toFixed(1)),
    sigflow_columns_msgs_per_s: Math.round(rate('columns')),
    sigflow_objects_msgs_per_s: Math.round(rate('objects')),
    reference_dataview_msgs_per_s: Math.round(rate('reference')),
    ratio_columns_vs_reference: Number((rate('columns') / rate('reference')).toFixed(2)),
    ratio_objects_vs_reference: Number((rate('objects') / rate('reference')).toFixed(2)),
    target_msgs_per_s: 1_000_000,
    peak_rss_mb: Math.round(peakRssMb()),
    checksum: check,
  };
  const pos = await positions();
  Object.assign(result, pos);
  report(
    result,
    [
      `packets: ${count} IoF messages (${result.mean_message_bytes} B mean, ${rowsCols} rows), medians of ${runs} runs, one core`,
      `  sigflow iof spec, columns  ${fmtRate(rate('columns'))} msgs/s  (${fmtRate((rate('columns') * rowsCols) / count)} rows/s)  ${(rate('columns') / rate('reference')).toFixed(2)}× reference`,
      `  sigflow iof spec, objects  ${fmtRate(rate('objects'))} msgs/s  ${(rate('objects') / rate('reference')).toFixed(2)}× reference`,
      `  reference DataView decoder ${fmtRate(rate('reference'))} msgs/s (objects, field by field)`,
      `  target ≥ 1M msgs/s; peak RSS ${result.peak_rss_mb} MB`,
      `positions: TDOA math ${fmtRate(pos.locate_per_s)} triplets/s (${(pos.locate_per_s / pos.reference_locate_per_s).toFixed(1)}× the straightforward reference, ${fmtRate(pos.reference_locate_per_s)}/s);`,
      `  whole database (sigflow iof position --all: triplet queries, stations, TDOA, rows) ${fmtRate(pos.positions_per_s)} positions/s over ${pos.positions} positions`,
    ].join('\n'),
  );
  note('');
}

/** Positions per second: the TDOA decision alone (beside the reference implementation) and a whole database. */
async function positions() {
  const txs = transmissions(Number(arg('fish', '3000')), 5);
  const located = txs.filter((x) => !('none' in x.expect));
  const cages = new Map(
    txs.map((x) => [x.site, cageOf(x.site.stations[0], x.site.stations[1], x.site.stations[2], STATION_DEPTH)]),
  );
  const out = new Float64Array(4);
  let ok = 0;
  const math = () => {
    ok = 0;
    for (const x of located) {
      const cage = cages.get(x.site);
      if (cage && locateInCage(cage, x.depthRaw * 0.2, x.exact[0], x.exact[1], x.exact[2], 1500, 1.1, out) === 'ok')
        ok++;
    }
  };
  let refOk = 0;
  const ref = () => {
    refOk = 0;
    for (const x of located) {
      const s = x.site.stations;
      if (!('reason' in refLocate(s[0], s[1], s[2], STATION_DEPTH, x.depthRaw * 0.2, x.exact))) refOk++;
    }
  };
  const tMath = median(await timeRuns(math, runs, 2, false));
  const tRef = median(await timeRuns(ref, runs, 1, false));
  if (ok !== refOk || ok === 0) throw new Error(`located ${ok} vs reference ${refOk}`);
  // a database of the fish's messages, then positioned whole (as `sigflow iof position --all`)
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-bench-iof-'));
  try {
    await saveProject(join(dir, 'iof.yaml'), fishProject());
    const sink = createSink({
      type: 'iof',
      project: join(dir, 'iof.yaml'),
      path: join(dir, 'iof.db'),
      positioning: false,
    }) as IofSink;
    const reader = new PacketPayloads({
      format: 'packets',
      spec: 'iof',
      envelope: true,
      measurement_prefix: 'iof_',
      tags: [],
    });
    const recs: TelemetryRecord[] = [];
    for (const m of messages(txs)) reader.toRecords('lora/x', Buffer.from(envelope(m)), 0n, recs);
    await sink.write(recs);
    const project = await loadProject(join(dir, 'iof.yaml'));
    let n = 0;
    const whole = () => {
      n = positionAll(sink.db, project).positions;
    };
    const tWhole = median(await timeRuns(whole, Math.min(runs, 3), 1, false));
    await sink.close();
    return {
      locate_per_s: Math.round(located.length / tMath),
      reference_locate_per_s: Math.round(located.length / tRef),
      positions: n,
      positions_per_s: Math.round(n / tWhole),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
