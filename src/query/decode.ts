/**
 * One log file → the columns of the signals a query wants: for each wanted signal, the times (epoch ms, as
 * Grafana takes them) and physical values of every frame that carried it, in time order. Only frames of the
 * requested interface and channel whose id belongs to a wanted message are decoded (J1939: matched by PGN when
 * the DBC is J1939); everything else is skipped after one id lookup (memoised per id). The file's bus events are
 * read with the MDF4 reader in batches; between batches the event loop gets a turn (other requests are served)
 * and the AbortSignal is checked (a cancelled query stops decoding within one batch).
 */
import { setImmediate as turn } from 'node:timers/promises';
import { type Database, DecodedBatch, type FrameColumns, type Signal } from '../codecs/dbc/index.js';
import { openLogMdf4, type PasswordBook } from '../formats/canedge/index.js';
import { EV_CAN_DATA, EV_LIN_FRAME, FLAG_EXT, type Mdf4Warning, readBusFrames } from '../formats/mdf4/index.js';
import type { ByteSource } from '../io/index.js';
import { NOT_TRANSPORT, planTransport, TAKEN, type TransportMessage, TransportStage } from '../transport/index.js';
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
  // multi-frame messages (ISO-TP/UDS, J1939 TP, NMEA 2000 fast packets) among the wanted ones: their frames are
  // reassembled (src/transport) and the whole message decoded; a message split across two files is not joined
  const plan = isLin ? null : planTransport(db.messages.filter((m) => wantMsg[m.index] === 1));
  const stage =
    plan && (plan.isotp.length > 0 || plan.j1939 || plan.fastPacketPgns.length > 0) ? new TransportStage(plan) : null;
  const { mdf } = await openLogMdf4(src, { passwords: opts.passwords, onWarning: opts.onWarning });
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
    const keep = (channel: number, id: number, ext: boolean) =>
      channel === req.channel && (wanted(id, !isLin && ext) || stage?.wants(id, ext) === true);
    const messages: TransportMessage[] = [];
    // everyChunk: control comes back per chunk walked even when nothing was kept (a rare signal in a big file)
    for await (const b of readBusFrames(mdf, { types, batchSize: opts.batchSize ?? 16384, keep, everyChunk: true })) {
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
      const { id, flags, dataStart, length } = b;
      let m = 0;
      // the reader emitted only frames of this interface and channel that `keep` accepted: wanted ones, and
      // (with a transport stage) the frames of multi-frame messages
      for (let i = 0; i < n; i++) {
        const ext = !isLin && (flags[i] & FLAG_EXT) !== 0;
        if (stage?.wants(id[i], ext)) {
          const timeNs = b.startNs + BigInt(Math.round(b.offsetNs[i]));
          const r = stage.push(0, timeNs, id[i], ext, b.data.subarray(dataStart[i], dataStart[i] + length[i]));
          if (r === TAKEN) continue;
          if (r !== NOT_TRANSPORT) {
            messages.push(r);
            continue;
          }
          if (!wanted(id[i], ext)) continue; // not a transport frame after all, and not a wanted message
        }
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
      if (messages.length > 0) decoded += decodeMessages(messages.splice(0), db, wantSig, out);
      await turn();
    }
    stage?.finish();
  } finally {
    await mdf.close();
  }
  const columns = new Map<number, SignalColumn>();
  for (const [s, g] of out) columns.set(s, g.done());
  return { columns, events, decoded };
}

/**
 * Decodes reassembled messages (PGN matching among all extended messages for the 29-bit ones, signals that fit: a
 * multiplexed UDS message's DBC length is its longest variant) into the wanted signals' columns, at each message's
 * first-frame time. Returns the messages decoded.
 */
function decodeMessages(
  msgs: TransportMessage[],
  db: Database,
  wantSig: Uint8Array,
  out: Map<number, Growing>,
): number {
  let total = 0;
  for (const m of msgs) total += m.data.length;
  const data = new Uint8Array(total);
  const cols: FrameColumns = {
    count: msgs.length,
    id: new Uint32Array(msgs.length),
    ext: new Uint8Array(msgs.length),
    data,
    offset: new Uint32Array(msgs.length),
    length: new Uint32Array(msgs.length),
  };
  let at = 0;
  msgs.forEach((m, i) => {
    cols.id[i] = m.id;
    cols.ext[i] = m.extended ? 1 : 0;
    cols.offset[i] = at;
    cols.length[i] = m.data.length;
    data.set(m.data, at);
    at += m.data.length;
  });
  const d = new DecodedBatch();
  db.decodeBatch(cols, d, { choices: false, anyPgn: true, truncated: true });
  let n = 0;
  for (let j = 0; j < msgs.length; j++) {
    if (d.message[j] < 0) continue;
    n++;
    const t = nsToMs(msgs[j].timeNs);
    for (let k = d.start[j], e = d.start[j + 1]; k < e; k++) {
      const s = d.signal[k];
      if (wantSig[s] !== 1) continue;
      (out.get(s) as Growing).push(t, db.wide[s] ? Number(d.widePhys[k]) : d.phys[k]);
    }
  }
  return n;
}
