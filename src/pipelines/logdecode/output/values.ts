/**
 * Decoded values of a batch as NDJSON lines or long CSV rows (`sigflow decode`). Hot loop: the per-signal JSON and
 * CSV prefixes are built once per DBC (dbcset.ts) and encoded once; each value is written as bytes straight into the
 * output buffer (the frame's head copied, the number's digits written), no string per value.
 */
import { BUS_CAN, EV_CAN_DATA } from '../../../formats/mdf4/index.js';
import type { DecodeDb, DecoderConfig } from '../dbcset.js';
import type { BatchView } from '../pipeline.js';
import { type ByteWriter, utf8, writeFinite, writeUint } from './byte-writer.js';
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

/** The per-signal prefixes and per-label fragments of one database as bytes, built on first use. */
interface DbBytes {
  json: Buffer[];
  csv: Buffer[];
  /** Per label index: `,"label":"…"` (NDJSON) and `,…` (CSV). */
  labelJson: (Uint8Array | undefined)[];
  labelCsv: (Uint8Array | undefined)[];
  /**
   * Per signal and format: a buffer holding the prefix then the text of the last value written (`lastValue`,
   * `lastLength` bytes in all), copied whole (its spare room too, overwritten afterwards) with one native copy:
   * signals repeat their values.
   */
  jsonValue: Buffer[];
  csvValue: Buffer[];
  /** Indexed by gi for NDJSON, by signal count + gi for CSV. */
  lastValue: Float64Array;
  lastLength: Int32Array;
}

const dbBytes = new WeakMap<DecodeDb, DbBytes>();

function bytesOf(db: DecodeDb): DbBytes {
  let b = dbBytes.get(db);
  if (!b) {
    b = {
      json: db.jsonPrefix.map(utf8),
      csv: db.csvPrefix.map(utf8),
      labelJson: [],
      labelCsv: [],
      jsonValue: [],
      csvValue: [],
      lastValue: new Float64Array(2 * db.jsonPrefix.length).fill(Number.NaN),
      lastLength: new Int32Array(2 * db.jsonPrefix.length),
    };
    dbBytes.set(db, b);
  }
  return b;
}

const J_T = utf8('{"t":"');
const J_SA = utf8(',"sa":');
/** Room after a prefix for a double's text (`-1.7976931348623157e+308`: 24 characters; `"-Infinity"`: 11). */
const VALUE_ROOM = 32;
/** The NDJSON line end `,"sa":<n>}\n` per J1939 source address, in buffers of one size (copied whole). */
const SA_END = Array.from({ length: 256 }, (_, sa) => {
  const b = Buffer.alloc(12);
  b.write(`,"sa":${sa}}\n`, 'latin1');
  return b;
});
const SA_END_LENGTH = SA_END.map((_, sa) => `,"sa":${sa}}\n`.length);
const C_NO_LABEL = utf8(',\n');

/**
 * Formats the values of one batch as NDJSON (`csv` false) or long CSV into `w`, bytes straight into its buffer. The
 * loop is forEachValue's (pipeline.ts: the same values in the same order), written out here so that the per-value
 * work stays in one optimised function.
 */
export function formatValues(
  view: BatchView,
  config: DecoderConfig,
  w: ByteWriter,
  csv: boolean,
  choices: boolean,
  device: DeviceText,
): void {
  const { frames: b, decoded, dbsOfChannel: table } = view;
  if (!decoded || !table) return;
  const n = b.count;
  const type = b.type;
  const busOf = b.bus;
  const off = b.offsetNs;
  const chn = b.channel;
  const ids = b.id;
  const time = view.time;
  const dbs = config.databases;
  const bytes = dbs.map(bytesOf);
  // the fragment between the time and the channel number
  const mid = csv ? utf8(`,${device.csv},CAN,`) : utf8(`","device":${device.json},"bus":"CAN","chn":`);
  const headRoom = J_T.length + 32 + mid.length + 17;
  for (let i = 0; i < n; i++) {
    if (type[i] !== EV_CAN_DATA || busOf[i] !== BUS_CAN) continue;
    const set = table[chn[i]];
    // the head of the frame's lines (time … channel), written once and copied for its other values
    let head: Buffer | null = null;
    let headStart = 0;
    let headEnd = 0;
    for (let s = 0; s < set.length; s++) {
      const d = set[s];
      const out = decoded[d];
      if (out.message[i] < 0) continue;
      const db = dbs[d];
      const by = bytes[d];
      const inc = db.include;
      const sig = out.signal;
      const phys = out.phys;
      const prefixes = csv ? by.csv : by.json;
      const values = csv ? by.csvValue : by.jsonValue;
      const lastBase = csv ? prefixes.length : 0;
      const j1939 = db.messageJ1939[out.message[i]];
      for (let k = out.start[i], e = out.start[i + 1]; k < e; k++) {
        const gi = sig[k];
        if (inc[gi] !== 1) continue;
        if (head === null) {
          // room for the whole head, so that it lies in one buffer
          w.reserve(headRoom);
          head = w.buf;
          headStart = w.pos;
          if (!csv) w.bytes(J_T);
          w.time(time, off[i]);
          w.bytes(mid);
          w.uint(chn[i]);
          w.buf[w.pos++] = 44;
          headEnd = w.pos;
        } else {
          const len = headEnd - headStart;
          w.reserve(len);
          const buf = w.buf;
          if (buf === head) buf.copyWithin(w.pos, headStart, headEnd);
          else buf.set(head.subarray(headStart, headEnd), w.pos);
          w.pos += len;
        }
        let buf: Buffer;
        let p: number;
        const wv = db.wide[gi] ? out.widePhys[k] : undefined;
        if (wv !== undefined) {
          w.bytes(prefixes[gi]);
          w.ascii(csv ? String(wv) : `"${wv}"`);
          w.reserve(16);
          buf = w.buf;
          p = w.pos;
        } else {
          const v = phys[k];
          let cached = values[gi];
          if (cached === undefined) cached = valueBuffer(by, gi, csv);
          // a changed value (NaN never equals: written each time) is formatted into the signal's buffer first
          const li = gi + lastBase;
          if (by.lastValue[li] !== v || by.lastLength[li] === 0) {
            by.lastValue[li] = v;
            by.lastLength[li] = writeNumber(cached, prefixes[gi].length, v, !csv);
          }
          // the value buffer (copied whole), `,"sa":255}\n`
          w.reserve(cached.length + 16);
          buf = w.buf;
          buf.set(cached, w.pos);
          p = w.pos + by.lastLength[li];
        }
        const c = choices && db.hasChoices[gi] ? out.choice[k] : -1;
        if (csv) {
          if (!choices) {
            buf[p++] = 10;
            w.pos = p;
          } else {
            w.pos = p;
            w.bytes(c >= 0 ? labelCsv(by, db, c) : C_NO_LABEL);
          }
        } else {
          if (c >= 0) {
            if (j1939) {
              for (let q = 0; q < J_SA.length; q++) buf[p++] = J_SA[q];
              p = writeUint(buf, p, ids[i] & 0xff);
            }
            w.pos = p;
            w.bytes(labelJson(by, db, c));
            w.reserve(2);
            buf = w.buf;
            p = w.pos;
            buf[p++] = 125; // }
            buf[p++] = 10;
          } else if (j1939) {
            const sa = ids[i] & 0xff;
            buf.set(SA_END[sa], p);
            p += SA_END_LENGTH[sa];
          } else {
            buf[p++] = 125; // }
            buf[p++] = 10;
          }
          w.pos = p;
        }
      }
    }
  }
}

/** The value buffer of signal `gi`: its prefix and room for a value (DbBytes). */
function valueBuffer(by: DbBytes, gi: number, csv: boolean): Buffer {
  const prefix = csv ? by.csv[gi] : by.json[gi];
  const b = Buffer.alloc(prefix.length + VALUE_ROOM);
  b.set(prefix, 0);
  (csv ? by.csvValue : by.jsonValue)[gi] = b;
  by.lastLength[csv ? by.csv.length + gi : gi] = 0;
  return b;
}

/**
 * Writes `v` at `p` of `buf` exactly as ByteWriter.number (String(v); -0 as 0; NaN/±Infinity spelled out, quoted
 * in JSON); returns the position after it. `buf` has room for VALUE_ROOM bytes.
 */
function writeNumber(buf: Buffer, p: number, v: number, json: boolean): number {
  if (Number.isFinite(v)) return writeFinite(buf, p, v);
  const t = json ? jsonNumber(v) : csvNumber(v);
  for (let q = 0; q < t.length; q++) buf[p++] = t.charCodeAt(q);
  return p;
}

function labelJson(by: DbBytes, db: DecodeDb, c: number): Uint8Array {
  let b = by.labelJson[c];
  if (!b) {
    const label = db.db.labels[c];
    b = by.labelJson[c] = utf8(label ? `,"label":${JSON.stringify(label)}` : '');
  }
  return b;
}

function labelCsv(by: DbBytes, db: DecodeDb, c: number): Uint8Array {
  let b = by.labelCsv[c];
  if (!b) {
    const label = db.db.labels[c];
    b = by.labelCsv[c] = utf8(`,${label ? csvField(label) : ''}\n`);
  }
  return b;
}
