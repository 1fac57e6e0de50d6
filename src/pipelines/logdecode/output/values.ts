/**
 * Decoded values of a batch as NDJSON lines or long CSV rows (`sigflow decode`). Hot loop: the per-signal JSON and
 * CSV prefixes are built once per DBC (dbcset.ts); each value is one template string.
 */
import type { DecodedBatch } from '../../../codecs/dbc/index.js';
import type { DecoderConfig } from '../dbcset.js';
import { type BatchView, forEachValue } from '../pipeline.js';
import type { ByteWriter } from './byte-writer.js';
import { csvField, csvNumber, jsonNumber } from './format.js';

/** The header of the long CSV. */
export function longCsvHeader(choices: boolean): string {
  return `t,device,bus,chn,message,signal,value${choices ? ',label' : ''}\n`;
}

/** The device of the file being read, pre-formatted for each text format. */
export interface DeviceText {
  json: string;
  csv: string;
}

export function deviceText(device: string): DeviceText {
  return { json: JSON.stringify(device), csv: csvField(device) };
}

/** Formats the values of one batch as NDJSON (`csv` false) or long CSV into `w`. */
export function formatValues(
  view: BatchView,
  config: DecoderConfig,
  w: ByteWriter,
  csv: boolean,
  choices: boolean,
  device: DeviceText,
): void {
  const b = view.frames;
  const off = b.offsetNs;
  const chn = b.channel;
  const ids = b.id;
  const time = view.time;
  const decoded = view.decoded as DecodedBatch[];
  const dbs = config.databases;
  const deviceJson = device.json;
  const deviceCsv = device.csv;
  let lastI = -1;
  let head = '';
  forEachValue(view, (i, d, k) => {
    const out = decoded[d];
    const db = dbs[d];
    const gi = out.signal[k];
    if (i !== lastI) {
      lastI = i;
      const t = time.format(off[i]);
      head = csv
        ? `${t},${deviceCsv},CAN,${chn[i]},`
        : `{"t":"${t}","device":${deviceJson},"bus":"CAN","chn":${chn[i]},`;
    }
    const wide = db.wide[gi];
    const wv = wide ? out.widePhys[k] : undefined;
    let label = '';
    if (choices && db.hasChoices[gi]) {
      const c = out.choice[k];
      if (c >= 0) label = db.db.labels[c];
    }
    if (csv) {
      const value = wv !== undefined ? String(wv) : csvNumber(out.phys[k]);
      w.push(`${head}${db.csvPrefix[gi]}${value}${choices ? `,${label ? csvField(label) : ''}` : ''}\n`);
    } else {
      const value = wv !== undefined ? `"${wv}"` : jsonNumber(out.phys[k]);
      const m = out.message[i];
      const sa = db.messageJ1939[m] ? `,"sa":${ids[i] & 0xff}` : '';
      w.push(`${head}${db.jsonPrefix[gi]}${value}${sa}${label ? `,"label":${JSON.stringify(label)}` : ''}}\n`);
    }
  });
}
