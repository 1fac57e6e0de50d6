/**
 * The raw bus events of a batch as NDJSON lines or CSV rows (`sigflow frames`). Hot loop: bytes written straight
 * into the output buffer, no string or object per frame. The NDJSON line is the frame line schema that
 * `sigflow dbc decode` reads back (frame-json.ts documents both sides).
 */
import {
  BUS_LIN,
  EV_CAN_DATA,
  EV_LIN_FRAME,
  FLAG_BRS,
  FLAG_EDL,
  FLAG_TX,
  kindOf,
} from '../../../formats/mdf4/index.js';
import type { BatchView } from '../pipeline.js';
import { type ByteWriter, utf8 } from './byte-writer.js';
import { csvField } from './format.js';

export type FramesFormat = 'ndjson' | 'csv';

export const FRAMES_CSV_HEADER = 't,device,bus,chn,id,ext,dir,dlc,len,edl,brs,data,kind\n';

const enc = (t: string): Buffer => Buffer.from(t, 'latin1');
const J_T = enc('{"t":"');
const C_KIND = [enc(',data\n'), enc(',remote\n'), enc(',error\n')];

/** Two lowercase hex digits per byte value. */
const HEX = (() => {
  const t = Buffer.alloc(512);
  const d = '0123456789abcdef';
  for (let i = 0; i < 256; i++) {
    t[2 * i] = d.charCodeAt(i >> 4);
    t[2 * i + 1] = d.charCodeAt(i & 15);
  }
  return t;
})();

/** Copies `b` into `buf` at `p`; returns the position after it. */
function put(buf: Buffer, p: number, b: Buffer): number {
  for (let i = 0; i < b.length; i++) buf[p++] = b[i];
  return p;
}

/** The fixed part of a line after the time (device … `"data":"`), per event shape, built once and copied whole. */
interface Template {
  shape: number;
  bytes: Buffer;
}

/** Templates of the device and format last written, by bus, channel and id (cleared when large). */
const templates = { device: '', csv: false, map: new Map<number, Template>() };

function templateOf(
  key: number,
  shape: number,
  device: string,
  csv: boolean,
  busName: string,
  chn: number,
  id: number,
  f: number,
  dlc: number,
  len: number,
  kind: number,
): Buffer {
  const map = templates.map;
  if (map.size > 65_536) map.clear();
  const text = csv
    ? `,${device},${busName},${chn},${id},${f & 1 ? 1 : 0},${f & FLAG_TX ? 1 : 0},${dlc},${len},${f & FLAG_EDL ? 1 : 0},${f & FLAG_BRS ? 1 : 0},`
    : `","device":${device},"bus":"${busName}","chn":${chn},"id":${id},"ext":${(f & 1) === 1},"dir":${f & FLAG_TX ? 1 : 0},"dlc":${dlc},"len":${len},"edl":${(f & FLAG_EDL) !== 0},"brs":${(f & FLAG_BRS) !== 0}${KIND_JSON[kind]},"data":"`;
  const bytes = utf8(text);
  map.set(key, { shape, bytes });
  return bytes;
}

const KIND_JSON = ['', ',"kind":"remote"', ',"kind":"error"'];
const SHAPE_FLAGS = 1 | FLAG_TX | FLAG_EDL | FLAG_BRS;

/**
 * Formats the events of one batch into `w`, bytes straight into its buffer: per event `{"t":"`, the time's digits,
 * the template of its shape (one native copy), the data's hex from a table, the line end.
 */
export function formatFrames(view: BatchView, w: ByteWriter, csv: boolean): void {
  const b = view.frames;
  const n = b.count;
  const time = view.time;
  const off = b.offsetNs;
  const src = b.data;
  const { bus, channel, id, flags, dlc, length, dataStart, type } = b;
  const device = csv ? csvField(view.file.device) : JSON.stringify(view.file.device);
  if (templates.device !== device || templates.csv !== csv) {
    templates.device = device;
    templates.csv = csv;
    templates.map.clear();
  }
  const map = templates.map;
  for (let i = 0; i < n; i++) {
    const f = flags[i];
    const ty = type[i];
    const d0 = dataStart[i];
    const d1 = dataStart[i + 1];
    const kind = ty === EV_CAN_DATA || ty === EV_LIN_FRAME ? 0 : kindOf(ty) === 'remote' ? 1 : 2;
    const lin = bus[i] === BUS_LIN;
    const key = (lin ? 256 + channel[i] : channel[i]) * 536_870_912 + id[i];
    const shape = (f & SHAPE_FLAGS) + dlc[i] * 256 + length[i] * 65_536 + kind * 4_294_967_296;
    const t = map.get(key);
    const tpl =
      t !== undefined && t.shape === shape
        ? t.bytes
        : templateOf(key, shape, device, csv, lin ? 'LIN' : 'CAN', channel[i], id[i], f, dlc[i], length[i], kind);
    if (!csv) w.bytes(J_T);
    w.time(time, off[i]);
    w.reserve(tpl.length + 2 * (d1 - d0) + 16);
    const buf = w.buf;
    let p = w.pos;
    buf.set(tpl, p);
    p += tpl.length;
    for (let k = d0; k < d1; k++) {
      const x = src[k] << 1;
      buf[p++] = HEX[x];
      buf[p++] = HEX[x + 1];
    }
    if (csv) p = put(buf, p, C_KIND[kind]);
    else {
      buf[p++] = 34; // "
      buf[p++] = 125; // }
      buf[p++] = 10;
    }
    w.pos = p;
  }
}
