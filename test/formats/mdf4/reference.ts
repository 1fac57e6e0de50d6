/**
 * Summaries of a bus log in the shape of the shared reference fixtures (asammdf oracle): counts per
 * (bus, chn, kind, fd, ext), first/last 25 data frames of the time-sorted stream, and the sha256 digest.
 */
import { createHash } from 'node:crypto';
import type { Mdf4File } from '../../../src/formats/mdf4/index.js';
import {
  BUS_LIN,
  FLAG_BRS,
  FLAG_EDL,
  FLAG_ESI,
  FLAG_EXT,
  FLAG_TX,
  kindOf,
  readBusFrames,
} from '../../../src/formats/mdf4/index.js';

export interface RefFrame {
  t_ns: string;
  bus: string;
  chn: number;
  id: number;
  ext: boolean;
  dir: number;
  dlc: number;
  len: number;
  edl: boolean;
  brs: boolean;
  esi: boolean;
  data: string;
}

export interface Summary {
  counts: { bus: string; chn: number; kind: string; fd: boolean; ext: boolean; n: number }[];
  n_frames: number;
  frames_first: RefFrame[];
  frames_last: RefFrame[];
  digest: string;
  lines: number;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export async function summarize(mdf: Mdf4File, batchSize?: number): Promise<Summary> {
  const counts = new Map<string, number>();
  const first: RefFrame[] = [];
  const last: RefFrame[] = [];
  const lines: { t: bigint; bus: string; chn: number; id: number; data: string; ext: number; line: string }[] = [];
  let n = 0;
  for await (const b of readBusFrames(mdf, { batchSize })) {
    for (let i = 0; i < b.count; i++) {
      const bus = b.bus[i] === BUS_LIN ? 'LIN' : 'CAN';
      const f = b.flags[i];
      const kind = kindOf(b.type[i]);
      const key = JSON.stringify([bus, b.channel[i], kind, (f & FLAG_EDL) !== 0, (f & FLAG_EXT) !== 0]);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (kind !== 'data') continue;
      n++;
      const t = b.startNs + BigInt(b.offsetNs[i]);
      const data = hex(b.data.subarray(b.dataStart[i], b.dataStart[i + 1]));
      const fr: RefFrame = {
        t_ns: t.toString(),
        bus,
        chn: b.channel[i],
        id: b.id[i],
        ext: (f & FLAG_EXT) !== 0,
        dir: f & FLAG_TX ? 1 : 0,
        dlc: b.dlc[i],
        len: b.length[i],
        edl: (f & FLAG_EDL) !== 0,
        brs: (f & FLAG_BRS) !== 0,
        esi: (f & FLAG_ESI) !== 0,
        data,
      };
      if (first.length < 25) first.push(fr);
      last.push(fr);
      if (last.length > 25) last.shift();
      const ext = (f & FLAG_EXT) !== 0 ? 1 : 0;
      lines.push({
        t,
        bus,
        chn: b.channel[i],
        id: b.id[i],
        data,
        ext,
        line: `${t},${bus},${b.channel[i]},${b.id[i]},${ext},${data}\n`,
      });
    }
  }
  lines.sort((a, b) =>
    a.t !== b.t
      ? a.t < b.t
        ? -1
        : 1
      : a.bus !== b.bus
        ? a.bus < b.bus
          ? -1
          : 1
        : a.chn !== b.chn
          ? a.chn - b.chn
          : a.id !== b.id
            ? a.id - b.id
            : a.data !== b.data
              ? a.data < b.data
                ? -1
                : 1
              : a.ext - b.ext,
  );
  const h = createHash('sha256');
  for (const l of lines) h.update(l.line);
  return {
    counts: [...counts].map(([k, v]) => {
      const [bus, chn, kind, fd, ext] = JSON.parse(k);
      return { bus, chn, kind, fd, ext, n: v };
    }),
    n_frames: n,
    frames_first: first,
    frames_last: last,
    digest: h.digest('hex'),
    lines: lines.length,
  };
}

export function sortCounts<T extends { bus: string; chn: number; kind: string; fd: boolean; ext: boolean }>(
  c: T[],
): T[] {
  return [...c].sort((a, b) =>
    JSON.stringify([a.bus, a.chn, a.kind, a.fd, a.ext]).localeCompare(
      JSON.stringify([b.bus, b.chn, b.kind, b.fd, b.ext]),
    ),
  );
}
