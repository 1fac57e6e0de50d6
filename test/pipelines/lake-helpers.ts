/**
 * Synthetic CANedge logs for the lake tests: device AABBCCDD, a multiplexed message (Mode, id 256: Mux 1 → Temp,
 * Mux 2 → Volt, Common always) and J1939 EEC1 from two source addresses (00 every third frame, AB the others).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { type WriteFrame, writeBusLog } from '../../src/formats/mdf4/writer.js';

export const MIDNIGHT = BigInt(Date.UTC(2026, 5, 15)) * 1_000_000n; // ns
export const DBC = (extra = '') => `VERSION ""
BO_ 256 Mode: 8 Vector__XXX
 SG_ Mux M : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ Common : 8|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ Temp m1 : 16|16@1+ (0.1,0) [0|6553.5] "C" Vector__XXX
 SG_ Volt m2 : 16|16@1+ (0.01,0) [0|655.35] "V" Vector__XXX
BO_ 2364540158 EEC1: 8 Vector__XXX
 SG_ EngineSpeed : 24|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
${extra}
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_ "VFrameFormat" BO_ 2364540158 3;
`;

/**
 * One log of device AABBCCDD (header serial): `n` frames of each kind every 10 ms from `startNs`, in the device
 * folder `folder` (default the serial; another: a log copied under another device's folder). `first`: the value
 * of the first frame's counter byte (other data, same size).
 */
export function syntheticLog(
  root: string,
  session: number,
  split: number,
  startNs: bigint,
  n: number,
  opts: { folder?: string; first?: number } = {},
): string {
  const frames: WriteFrame[] = [];
  for (let k = 0; k < n; k++) {
    const t = startNs + BigInt(k) * 10_000_000n;
    const mux = (k % 2) + 1;
    frames.push({
      timeNs: t,
      channel: 1,
      id: 256,
      dlc: 8,
      data: Uint8Array.from([mux, (k + (opts.first ?? 0)) & 0xff, k & 0xff, 0, 0, 0, 0, 0]),
    });
    const sa = k % 3 === 0 ? 0x00 : 0xab;
    frames.push({
      timeNs: t + 1_000_000n,
      channel: 1,
      id: (0x0cf004 << 8) | sa,
      extended: true,
      dlc: 8,
      data: Uint8Array.from([0, 0, 0, k & 0xff, 0x10, 0, 0, 0]),
    });
  }
  const dir = join(root, opts.folder ?? 'AABBCCDD', String(session).padStart(8, '0'));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${String(split).padStart(8, '0')}.MF4`);
  writeBusLog(path, frames, { layout: 'canedge-v2', startTimeNs: startNs, device: { serial: 'AABBCCDD' } });
  return path;
}

/** One SQL statement on a fresh in-memory DuckDB: rows as plain objects. */
export async function duck(sql: string): Promise<Record<string, unknown>[]> {
  const i = await DuckDBInstance.create(':memory:');
  const c = await i.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    i.closeSync();
  }
}
