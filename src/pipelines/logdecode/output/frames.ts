/**
 * The raw bus events of a batch as NDJSON lines or CSV rows (`sigflow frames`). Hot loop: one template string per
 * event, no object per frame. The NDJSON line is the frame line schema that `sigflow dbc decode` reads back
 * (frame-json.ts documents both sides).
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
import type { ByteWriter } from './byte-writer.js';
import { csvField } from './format.js';

export type FramesFormat = 'ndjson' | 'csv';

export const FRAMES_CSV_HEADER = 't,device,bus,chn,id,ext,dir,dlc,len,edl,brs,data,kind\n';

const KIND_JSON = ['', ',"kind":"remote"', ',"kind":"error"'];

/** Formats the events of one batch into `w`. */
export function formatFrames(view: BatchView, w: ByteWriter, csv: boolean): void {
  const b = view.frames;
  const n = b.count;
  const time = view.time;
  const off = b.offsetNs;
  const hexSrc = Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  const { bus, channel, id, flags, dlc, length, dataStart, type } = b;
  const device = csv ? csvField(view.file.device) : JSON.stringify(view.file.device);
  for (let i = 0; i < n; i++) {
    const f = flags[i];
    const ty = type[i];
    const data = hexSrc.toString('hex', dataStart[i], dataStart[i + 1]);
    const busName = bus[i] === BUS_LIN ? 'LIN' : 'CAN';
    const kind = ty === EV_CAN_DATA || ty === EV_LIN_FRAME ? 0 : kindOf(ty) === 'remote' ? 1 : 2;
    if (csv) {
      w.push(
        `${time.format(off[i])},${device},${busName},${channel[i]},${id[i]},${f & 1 ? 1 : 0},${f & FLAG_TX ? 1 : 0},${dlc[i]},${length[i]},${f & FLAG_EDL ? 1 : 0},${f & FLAG_BRS ? 1 : 0},${data},${kind === 0 ? 'data' : kind === 1 ? 'remote' : 'error'}\n`,
      );
    } else {
      w.push(
        `{"t":"${time.format(off[i])}","device":${device},"bus":"${busName}","chn":${channel[i]},"id":${id[i]},"ext":${(f & 1) === 1},"dir":${f & FLAG_TX ? 1 : 0},"dlc":${dlc[i]},"len":${length[i]},"edl":${(f & FLAG_EDL) !== 0},"brs":${(f & FLAG_BRS) !== 0}${KIND_JSON[kind]},"data":"${data}"}\n`,
      );
    }
  }
}
