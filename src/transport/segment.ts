/**
 * The sending side of the three transport protocols: a payload cut into the frames a sender puts on the bus.
 * Used to test the reassemblers (random payloads, segmented, then damaged) and by anything that sends.
 */

export interface SegmentedFrame {
  id: number;
  extended: boolean;
  data: Uint8Array;
}

const PAD = 0xaa;

/**
 * ISO-TP frames for `payload` (normal or extended addressing). Classic CAN: 8-byte frames, SF up to 7 (6) bytes;
 * `frameLength` 12…64 gives CAN FD frames (SF with the escape byte, FF with the 32-bit length above 4095).
 */
export function segmentIsoTp(
  payload: Uint8Array,
  opts: { id: number; extended?: boolean; addressByte?: number; frameLength?: number },
): SegmentedFrame[] {
  const fl = opts.frameLength ?? 8;
  const ext = opts.extended ?? false;
  const pre = opts.addressByte === undefined ? [] : [opts.addressByte];
  const room = fl - pre.length;
  const frame = (bytes: number[]): SegmentedFrame => {
    const d = new Uint8Array(fl).fill(PAD);
    d.set([...pre, ...bytes].slice(0, fl));
    return { id: opts.id, extended: ext, data: d };
  };
  const n = payload.length;
  if (n <= room - 1 && n <= 7 - pre.length) return [frame([n, ...payload])];
  if (fl > 8 && n <= room - 2) return [frame([0, n, ...payload])];
  const out: SegmentedFrame[] = [];
  let head: number[];
  if (n <= 0xfff) head = [0x10 | (n >> 8), n & 0xff];
  else head = [0x10, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  let pos = Math.min(n, room - head.length);
  out.push(frame([...head, ...payload.subarray(0, pos)]));
  let sn = 1;
  while (pos < n) {
    const take = Math.min(room - 1, n - pos);
    out.push(frame([0x20 | sn, ...payload.subarray(pos, pos + take)]));
    pos += take;
    sn = (sn + 1) & 0x0f;
  }
  return out;
}

/**
 * J1939-21 frames for `payload` (9…1785 bytes) of `pgn` from `sa`: a BAM (da 0xFF) or an RTS to `da` followed
 * by the TP.DT packets (the CTS/EoMA answers of the receiver are not generated).
 */
export function segmentJ1939(payload: Uint8Array, opts: { pgn: number; sa: number; da?: number }): SegmentedFrame[] {
  const da = opts.da ?? 0xff;
  const n = payload.length;
  const packets = Math.ceil(n / 7);
  const cmId = ((7 << 26) | (0xec << 16) | (da << 8) | opts.sa) >>> 0;
  const dtId = ((7 << 26) | (0xeb << 16) | (da << 8) | opts.sa) >>> 0;
  const code = da === 0xff ? 32 : 16;
  const cm = Uint8Array.of(
    code,
    n & 0xff,
    n >> 8,
    packets,
    code === 32 ? 0xff : packets,
    opts.pgn & 0xff,
    (opts.pgn >> 8) & 0xff,
    (opts.pgn >> 16) & 0xff,
  );
  const out: SegmentedFrame[] = [{ id: cmId, extended: true, data: cm }];
  for (let k = 0; k < packets; k++) {
    const d = new Uint8Array(8).fill(0xff);
    d[0] = k + 1;
    d.set(payload.subarray(k * 7, k * 7 + 7), 1);
    out.push({ id: dtId, extended: true, data: d });
  }
  return out;
}

/** NMEA 2000 fast-packet frames for `payload` (1…223 bytes) under the 29-bit `id`, with sequence counter `seq`. */
export function segmentFastPacket(payload: Uint8Array, opts: { id: number; seq: number }): SegmentedFrame[] {
  const out: SegmentedFrame[] = [];
  const s = (opts.seq & 7) << 5;
  const first = new Uint8Array(8).fill(0xff);
  first[0] = s;
  first[1] = payload.length;
  first.set(payload.subarray(0, 6), 2);
  out.push({ id: opts.id, extended: true, data: first });
  for (let pos = 6, k = 1; pos < payload.length; pos += 7, k++) {
    const d = new Uint8Array(8).fill(0xff);
    d[0] = s | k;
    d.set(payload.subarray(pos, pos + 7), 1);
    out.push({ id: opts.id, extended: true, data: d });
  }
  return out;
}
