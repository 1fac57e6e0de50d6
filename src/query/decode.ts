/**
 * One log file → the columns of the signals a query wants: for each wanted signal, the times (epoch ms, as
 * Grafana takes them) and physical values of every frame that carried it, in time order. Only frames of the
 * requested interface and channel whose id belongs to a wanted message are decoded (J1939: matched by PGN when
 * the DBC is J1939); everything else is skipped after one id lookup (memoised per id). The file's bus events are
 * read with the MDF4 reader in batches; between batches the event loop gets a turn (other requests are served)
 * and the AbortSignal is checked (a cancelled query stops decoding within one batch).
 */
import { setImmediate as turn } from 'node:timers/promises';
import { DecodedBatch, type FrameColumns, type Signal } from '../codecs/dbc/index.js';
import { openLog, type PasswordBook } from '../formats/canedge/index.js';
import {
  BUS_CAN,
  BUS_LIN,
  EV_CAN_DATA,
  EV_LIN_FRAME,
  FLAG_EXT,
  type Mdf4Warning,
  openMdf4,
  readBusFrames,
} from '../formats/mdf4/index.js';
import type { ByteSource } from '../io/index.js';
import type { Sized } from './cache.js';
import type { LoadedDbc } from './dbcs.js';
import { nsToMs } from './time.js';

export type Interface = 'CAN' | 'LIN';

/** One signal's samples in one file. */
export interface SignalColumn extends Sized {
  /** Epoch milliseconds (fractional: µs resolution kept), ascending. */
  t: Float64Array;
  v: Float64Array;
}

export interface ColumnRequest {
  itf: Interface;
  channel: number;
  dbc: LoadedDbc;
  signals: readonly Signal[];
}

export interface DecodeFileOptions {
  passwords?: PasswordBook;
  signal?: AbortSignal;
  /** Events per batch (default 16384: a turn of the event loop every few milliseconds of decoding). */
  batchSize?: number;
  onWarning?: (w: Mdf4Warning) => void;
}

export interface DecodedFile {
  columns: Map<number, SignalColumn>;
  /** Bus events read (all kinds) and frames decoded. */
  events: number;
  decoded: number;
}

class Growing {
  t = new Float64Array(256);
  v = new Float64Array(256);
  n = 0;
  push(t: number, v: number): void {
    if (this.n === this.t.length) {
      const t2 = new Float64Array(this.n * 2);
      t2.set(this.t);
      this.t = t2;
      const v2 = new Float64Array(this.n * 2);
      v2.set(this.v);
      this.v = v2;
    }
    this.t[this.n] = t;
    this.v[this.n] = v;
    this.n++;
  }
  done(): SignalColumn {
    let t = this.t.slice(0, this.n);
    let v = this.v.slice(0, this.n);
    for (let i = 1; i < t.length; i++) {
      if (t[i] < t[i - 1]) {
        ({ t, v } = sortByTime(t, v));
        break;
      }
    }
    return { t, v, bytes: t.byteLength + v.byteLength + 64 };
  }
}

function sortByTime(t: Float64Array, v: Float64Array): { t: Float64Array<ArrayBuffer>; v: Float64Array<ArrayBuffer> } {
  const order = Array.from({ length: t.length }, (_, i) => i).sort((a, b) => t[a] - t[b] || a - b);
  const t2 = new Float64Array(t.length);
  const v2 = new Float64Array(t.length);
  order.forEach((j, i) => {
    t2[i] = t[j];
    v2[i] = v[j];
  });
  return { t: t2, v: v2 };
}

/**
 * Decodes the wanted signals of one log (any CANedge container; `src` is closed at the end). Throws the container
 * or MDF4 reader's error (naming the file) when the file cannot be read, and the signal's reason when aborted.
 */
export async function decodeFileColumns(
  src: ByteSource,
  req: ColumnRequest,
  opts: DecodeFileOptions = {},
): Promise<DecodedFile> {
  const abort = opts.signal;
  abort?.throwIfAborted();
  const { db } = req.dbc;
  const wantSig = new Uint8Array(db.signals.length);
  const wantMsg = new Uint8Array(db.messages.length);
  const out = new Map<number, Growing>();
  for (const s of req.signals) {
    wantSig[s.globalIndex] = 1;
    wantMsg[db.signalMessage[s.globalIndex].index] = 1;
    out.set(s.globalIndex, new Growing());
  }
  const isLin = req.itf === 'LIN';
  const bus = isLin ? BUS_LIN : BUS_CAN;
  const j1939 = req.dbc.j1939;
  const known = new Map<number, boolean>();
  const wanted = (id: number, ext: boolean): boolean => {
    const key = ext ? id + 0x100000000 : id;
    let w = known.get(key);
    if (w === undefined) {
      const m = db.lookup(id, ext, j1939);
      w = m !== undefined && wantMsg[m.index] === 1;
      known.set(key, w);
    }
    return w;
  };
  const opened = await openLog(src, { passwords: opts.passwords });
  let mdf: Awaited<ReturnType<typeof openMdf4>>;
  try {
    mdf = await openMdf4(opened.source, { onWarning: opts.onWarning });
  } catch (e) {
    await opened.source.close?.();
    throw e;
  }
  const decodedBatch = new DecodedBatch();
  let sel = new Uint32Array(0);
  const cols: FrameColumns = {
    count: 0,
    id: new Uint32Array(0),
    ext: new Uint8Array(0),
    data: new Uint8Array(0),
    offset: new Uint32Array(0),
    length: new Uint8Array(0),
  };
  let events = 0;
  let decoded = 0;
  try {
    const types = [isLin ? EV_LIN_FRAME : EV_CAN_DATA];
    // the reader skips frames of other channels and unwanted ids itself (no payload copied for them)
    const keep = (channel: number, id: number, ext: boolean) => channel === req.channel && wanted(id, !isLin && ext);
    for await (const b of readBusFrames(mdf, { types, batchSize: opts.batchSize ?? 16384, keep })) {
      abort?.throwIfAborted();
      const n = b.count;
      events += n;
      if (sel.length < n) {
        sel = new Uint32Array(n);
        cols.id = new Uint32Array(n);
        cols.ext = new Uint8Array(n);
        cols.offset = new Uint32Array(n);
        cols.length = new Uint8Array(n);
      }
      const { id, flags, channel, dataStart, length, type } = b;
      const ev = types[0];
      let m = 0;
      for (let i = 0; i < n; i++) {
        if (type[i] !== ev || b.bus[i] !== bus || channel[i] !== req.channel) continue;
        const ext = !isLin && (flags[i] & FLAG_EXT) !== 0;
        if (!wanted(id[i], ext)) continue;
        sel[m] = i;
        cols.id[m] = id[i];
        cols.ext[m] = ext ? 1 : 0;
        cols.offset[m] = dataStart[i];
        (cols.length as Uint8Array)[m] = length[i];
        m++;
      }
      if (m > 0) {
        cols.count = m;
        cols.data = b.data;
        db.decodeBatch(cols, decodedBatch, { choices: false, j1939 });
        const base = nsToMs(b.startNs);
        const { message, start, signal, phys, widePhys } = decodedBatch;
        const wide = db.wide;
        for (let j = 0; j < m; j++) {
          if (message[j] < 0) continue;
          decoded++;
          const t = base + b.offsetNs[sel[j]] / 1e6;
          for (let k = start[j], e = start[j + 1]; k < e; k++) {
            const s = signal[k];
            if (wantSig[s] !== 1) continue;
            (out.get(s) as Growing).push(t, wide[s] ? Number(widePhys[k]) : phys[k]);
          }
        }
      }
      await turn();
    }
  } finally {
    await mdf.close();
  }
  const columns = new Map<number, SignalColumn>();
  for (const [s, g] of out) columns.set(s, g.done());
  return { columns, events, decoded };
}
