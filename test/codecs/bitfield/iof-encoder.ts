/**
 * An IoF message encoder written from the protocol description (../shared/docs/iof-protocol.md), independently of
 * the spec decoder: a BigInt bit writer, the table of protocols written out by hand, and the rows the message
 * must decode to computed from the message itself. Used by the tests, the e2e fish and the benchmark.
 */
export const PROTOCOLS = ['R256', 'R04K', 'R64K', 'S256', 'R01M', 'S64K', 'HS256', 'DS256'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** id bits, data bits (each data value 8 bits except HS256's 16), by protocol. */
const LAYOUT: Record<Protocol, { id: number; data: number[] }> = {
  R256: { id: 8, data: [] },
  R04K: { id: 16, data: [] },
  R64K: { id: 16, data: [] },
  S256: { id: 8, data: [8] },
  R01M: { id: 24, data: [] },
  S64K: { id: 16, data: [8] },
  HS256: { id: 8, data: [16] },
  DS256: { id: 8, data: [8, 8] },
};

export function idBits(p: Protocol): number {
  return LAYOUT[p].id;
}
export function dataBits(p: Protocol): readonly number[] {
  return LAYOUT[p].data;
}

/** kHz for k = comm_code >> 4. */
export function frequencyOf(k: number): number {
  if (k < 0 || k > 14) throw new RangeError(`k ${k}`);
  return k <= 8 ? 69 + k : 63 + (k - 9);
}

export interface GpsBlock {
  slimStatus: number; // 14 bits
  latitude: number; // degrees, 5 decimals, signed
  longitude: number;
  pdop: number; // 0..12.7, one decimal
  fix: number; // 0..7
  sats: number; // 0..31
}
export interface TagPacket {
  type: 'tag';
  offset: number; // 0..255
  protocol: Protocol;
  k: number; // 0..14
  tagId: number;
  data: number[]; // as many as the protocol has
  snr: number; // 0..63
  millisecond: number; // 0..999 (10 bits)
}
export interface TbrPacket {
  type: 'tbr';
  offset: number;
  temperatureRaw: number; // 16 bits
  noiseAvg: number;
  noisePeak: number;
  frequency: number;
}
export interface IofMessage {
  tbr: number; // 14 bits
  refTimestamp: number; // u32
  gps?: GpsBlock;
  packets: (TagPacket | TbrPacket)[];
}

class BitWriter {
  private v = 0n;
  private n = 0;
  put(value: number, bits: number): this {
    const mask = (1n << BigInt(bits)) - 1n;
    this.v = (this.v << BigInt(bits)) | (BigInt(Math.trunc(value)) & mask);
    this.n += bits;
    return this;
  }
  bytes(): Uint8Array {
    if (this.n % 8) throw new Error(`${this.n} bits`);
    const out = new Uint8Array(this.n / 8);
    let v = this.v;
    for (let i = out.length - 1; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  }
}

export function encodeIof(m: IofMessage): Uint8Array {
  const w = new BitWriter();
  w.put(m.tbr, 14)
    .put(m.gps ? 1 : 0, 2)
    .put(m.refTimestamp, 32);
  if (m.gps) {
    const g = m.gps;
    w.put(g.slimStatus, 14).put(Math.round(g.longitude * 1e5), 26);
    w.put(Math.round(g.pdop * 10), 7).put(Math.round(g.latitude * 1e5), 25);
    w.put(g.fix, 3).put(g.sats, 5);
  }
  for (const p of m.packets) {
    w.put(p.offset, 8);
    if (p.type === 'tbr') {
      w.put(0xff, 8).put(p.temperatureRaw, 16).put(p.noiseAvg, 8).put(p.noisePeak, 8).put(p.frequency, 8);
    } else {
      w.put(p.k, 4).put(0, 1).put(PROTOCOLS.indexOf(p.protocol), 3);
      const l = LAYOUT[p.protocol];
      w.put(p.tagId, l.id);
      for (let i = 0; i < l.data.length; i++) w.put(p.data[i], l.data[i]);
      w.put(p.snr, 6).put(p.millisecond, 10);
    }
  }
  return w.bytes();
}

const FIX = ['no fix', 'dead reckoning only', '2D-fix', '3D-fix', 'GNSS + dead reckoning combined', 'time only fix'];

export interface ExpectedRow {
  kind: 'gps' | 'tag' | 'tbr';
  timeMs: number;
  values: Record<string, number | string>;
}

function packetTime(ref: number, offset: number): number {
  return offset > 250 ? ref - (255 - offset) : ref + offset;
}

/** The rows the message must give, from the message itself. */
export function expectedRows(m: IofMessage): ExpectedRow[] {
  const out: ExpectedRow[] = [];
  if (m.gps) {
    const g = m.gps;
    const values: Record<string, number | string> = {
      tbr_serial_id: m.tbr,
      timestamp: m.refTimestamp,
      slim_status: g.slimStatus,
      longitude: Math.round(g.longitude * 1e5) / 1e5,
      pdop: Math.round(g.pdop * 10) / 10,
      latitude: Math.round(g.latitude * 1e5) / 1e5,
      fix_code: g.fix,
      num_sat_tracked: g.sats,
    };
    if (g.fix < FIX.length) values.fix = FIX[g.fix];
    out.push({ kind: 'gps', timeMs: m.refTimestamp * 1000, values });
  }
  for (const p of m.packets) {
    const t = packetTime(m.refTimestamp, p.offset);
    if (p.type === 'tbr') {
      out.push({
        kind: 'tbr',
        timeMs: t * 1000,
        values: {
          tbr_serial_id: m.tbr,
          timestamp: t,
          temperature_data_raw: p.temperatureRaw,
          temperature: (p.temperatureRaw - 50) / 10,
          noise_avg: p.noiseAvg,
          noise_peak: p.noisePeak,
          frequency: p.frequency,
        },
      });
    } else {
      const values: Record<string, number | string> = {
        tbr_serial_id: m.tbr,
        timestamp: t,
        comm_protocol: p.protocol,
        frequency: frequencyOf(p.k),
        tag_id: p.tagId,
        snr: p.snr,
        millisecond: p.millisecond,
      };
      if (p.data.length > 0) values.tag_data = p.data[0];
      if (p.data.length > 1) values.tag_data_2 = p.data[1];
      out.push({ kind: 'tag', timeMs: t * 1000 + p.millisecond, values });
    }
  }
  return out;
}

export { prng } from '../../harness/prng.js';

/** A random valid message (`packets` packets, GPS block half the time). */
export function randomMessage(rnd: () => number, packets = 5): IofMessage {
  const int = (n: number) => Math.floor(rnd() * n);
  const m: IofMessage = { tbr: int(1 << 14), refTimestamp: 1_500_000_000 + int(200_000_000), packets: [] };
  if (rnd() < 0.5)
    m.gps = {
      slimStatus: int(1 << 14),
      latitude: (int(18_000_001) - 9_000_000) / 1e5,
      longitude: (int(36_000_001) - 18_000_000) / 1e5,
      pdop: int(128) / 10,
      fix: int(8),
      sats: int(32),
    };
  for (let i = 0; i < packets; i++) {
    if (rnd() < 0.15) {
      m.packets.push({
        type: 'tbr',
        offset: int(256),
        temperatureRaw: int(65536),
        noiseAvg: int(256),
        noisePeak: int(256),
        frequency: int(256),
      });
    } else {
      const protocol = PROTOCOLS[int(8)];
      const l = LAYOUT[protocol];
      m.packets.push({
        type: 'tag',
        offset: int(256),
        protocol,
        k: int(15),
        tagId: int(2 ** l.id),
        data: l.data.map((b) => int(2 ** b)),
        snr: int(64),
        millisecond: int(1000),
      });
    }
  }
  return m;
}
