/**
 * Transport-protocol reassembly inside the log pipeline (src/transport does the protocols).
 *
 * Per batch of bus events: every CAN data frame a reassembler wants is offered to it (a cheap id check first, so
 * other frames cost one Map or Set lookup) and marked as taken, so it is not decoded as a frame of its own; the
 * messages completed in the batch come back as a batch of their own — CAN data events whose payloads are the
 * reassembled bytes (longer than a frame: `lengths` holds their true lengths, `frames.length` is capped at 255) at
 * the time of each message's first frame — which the pipeline decodes and hands on like any other batch.
 *
 * Messages are kept apart per device and channel, and reassembly carries on across the files of a run (a message
 * split between two files of one session is joined); the run's end drops what is still incomplete.
 */
import { SigflowError } from '../../errors/index.js';
import { BUS_CAN, EV_CAN_DATA, FLAG_EXT, type FrameBatch } from '../../formats/mdf4/index.js';
import {
  addStats,
  emptyStats,
  planTransport,
  type TransportMessage,
  type TransportPlan,
  type TransportProtocol,
  TransportStage,
  type TransportStats,
} from '../../transport/index.js';
import type { DecoderConfig } from './dbcset.js';

/** `auto`: the protocols the DBCs need; `off`; or an explicit list (still only for DBC messages that need it). */
export type TransportChoice = 'auto' | 'off' | readonly TransportProtocol[];

/** The choice for every channel, and per channel where one was given. */
export interface TransportChoices {
  global: TransportChoice;
  perChannel: Map<number, TransportChoice>;
}

const PROTOCOLS: readonly TransportProtocol[] = ['isotp', 'j1939', 'nmea2000'];

/**
 * Parses `--transport` values: `auto`, `off`, `isotp,j1939,nmea2000` (any of them), each optionally for one
 * channel (`CAN2=off`). Later values win. SF_ERR_LOGDECODE_TRANSPORT naming the value when it is none of these.
 */
export function parseTransportChoices(values: readonly string[]): TransportChoices {
  const out: TransportChoices = { global: 'auto', perChannel: new Map() };
  for (const v of values) {
    const bad = (why: string) =>
      new SigflowError('SF_ERR_LOGDECODE_TRANSPORT', `--transport "${v}": ${why}`, { where: '--transport' });
    const m = /^(?:CAN(\d{1,3})=)?(.+)$/i.exec(v.trim());
    if (!m) throw bad('expected auto, off or a list of isotp, j1939, nmea2000');
    const body = m[2].toLowerCase();
    let choice: TransportChoice;
    if (body === 'auto' || body === 'off') choice = body;
    else {
      const list = body.split(',').map((x) => x.trim());
      for (const p of list)
        if (!PROTOCOLS.includes(p as TransportProtocol)) throw bad(`unknown protocol "${p}" (isotp, j1939, nmea2000)`);
      choice = list as TransportProtocol[];
    }
    if (m[1] === undefined) out.global = choice;
    else {
      const ch = Number(m[1]);
      if (ch < 1 || ch > 255) throw bad('channel must be 1…255');
      out.perChannel.set(ch, choice);
    }
  }
  return out;
}

/** A batch of reassembled messages; `lengths[i]` is message i's byte count. */
export interface ReassembledBatch {
  frames: FrameBatch;
  lengths: Uint32Array;
}

interface Done {
  msg: TransportMessage;
  channel: number;
  group: number;
  recordPos: number;
}

export class BatchReassembly {
  /** Stage per CAN channel (0…255), null where nothing is reassembled. */
  private readonly stages: (TransportStage | null)[];
  /** Per device: stream number of each channel (-1: none yet). */
  private readonly streams = new Map<string, Int32Array>();
  private nextStream = 0;
  private readonly done: Done[] = [];

  private constructor(
    stages: (TransportStage | null)[],
    /** One line per DBC message that needs reassembly (deduplicated across channels). */
    readonly notes: string[],
  ) {
    this.stages = stages;
  }

  /** The reassembly a decoder config needs (null when none: then nothing is checked per frame). */
  static forConfig(
    config: Pick<DecoderConfig, 'databases' | 'global' | 'perChannel' | 'transport'>,
  ): BatchReassembly | null {
    const byDbs = new Map<string, TransportStage | null>();
    const notes = new Set<string>();
    const stages: (TransportStage | null)[] = [];
    for (let c = 0; c < 256; c++) {
      const dbs = config.perChannel.get(c) ?? config.global;
      const choice = config.transport.perChannel.get(c) ?? config.transport.global;
      const key = `${dbs.join(',')} ${choice}`;
      let stage = byDbs.get(key);
      if (stage === undefined) {
        const plan: TransportPlan = planTransport(
          choice === 'off' ? [] : dbs.flatMap((d) => config.databases[d].db.messages),
          choice === 'auto' || choice === 'off' ? undefined : new Set(choice),
        );
        stage = new TransportStage(plan);
        if (stage.empty) stage = null;
        for (const n of plan.notes) notes.add(n);
        byDbs.set(key, stage);
      }
      stages.push(stage);
    }
    return stages.some((s) => s !== null) ? new BatchReassembly(stages, [...notes]) : null;
  }

  /**
   * Offers the CAN data frames of `b` (from `device`) to the reassemblers; sets taken[i] = 1 for each frame taken
   * (and 0 for the others) and returns the messages completed in this batch, or null.
   */
  run(b: FrameBatch, device: string, taken: Uint8Array): ReassembledBatch | null {
    const { stages, done } = this;
    const n = b.count;
    const { type, bus, channel: chn, id: ids, flags } = b;
    taken.fill(0, 0, n);
    // pass 1, per frame: the id pre-check only (marks candidates in `taken` as 2)
    let candidates = 0;
    for (let i = 0; i < n; i++) {
      if (type[i] !== EV_CAN_DATA || bus[i] !== BUS_CAN) continue;
      const stage = stages[chn[i]];
      if (stage?.wants(ids[i], (flags[i] & FLAG_EXT) !== 0)) {
        taken[i] = 2;
        candidates++;
      }
    }
    // pass 2, per candidate: reassembly
    const streams = this.streamsOf(device);
    for (let i = 0; candidates > 0 && i < n; i++) {
      if (taken[i] !== 2) continue;
      candidates--;
      const channel = chn[i];
      const stage = stages[channel] as TransportStage;
      if (streams[channel] < 0) streams[channel] = this.nextStream++;
      const res = stage.push(
        streams[channel],
        b.startNs + BigInt(b.offsetNs[i]),
        ids[i],
        (flags[i] & FLAG_EXT) !== 0,
        b.data.subarray(b.dataStart[i], b.dataStart[i + 1]),
      );
      taken[i] = res === 0 ? 0 : 1; // 0: NOT_TRANSPORT (the pre-check let it through)
      if (typeof res === 'object') done.push({ msg: res, channel, group: b.group[i], recordPos: b.recordPos[i] });
    }
    if (done.length === 0) return null;
    const out = toBatch(done);
    done.length = 0;
    return out;
  }

  /** The input ended: drops what is incomplete. */
  finish(): void {
    for (const s of new Set(this.stages)) s?.finish();
  }

  /** Counters per protocol, summed over the channels. */
  stats(): { protocol: TransportProtocol; stats: TransportStats }[] {
    const by = new Map<TransportProtocol, TransportStats>();
    for (const s of new Set(this.stages)) {
      for (const { protocol, stats } of s?.stats() ?? []) {
        let sum = by.get(protocol);
        if (sum === undefined) by.set(protocol, (sum = emptyStats()));
        addStats(sum, stats);
      }
    }
    return [...by].map(([protocol, stats]) => ({ protocol, stats }));
  }

  private streamsOf(device: string): Int32Array {
    let s = this.streams.get(device);
    if (s === undefined) this.streams.set(device, (s = new Int32Array(256).fill(-1)));
    return s;
  }
}

/** Builds the batch of completed messages (CAN data events; times relative to the earliest first frame). */
function toBatch(done: Done[]): ReassembledBatch {
  const n = done.length;
  let startNs = done[0].msg.timeNs;
  let bytes = 0;
  for (const d of done) {
    if (d.msg.timeNs < startNs) startNs = d.msg.timeNs;
    bytes += d.msg.data.length;
  }
  const frames: FrameBatch = {
    count: n,
    startNs,
    offsetNs: new Float64Array(n),
    bus: new Uint8Array(n).fill(BUS_CAN),
    type: new Uint8Array(n).fill(EV_CAN_DATA),
    channel: new Uint8Array(n),
    id: new Uint32Array(n),
    flags: new Uint8Array(n),
    dlc: new Uint8Array(n),
    length: new Uint8Array(n),
    errorType: new Uint8Array(n),
    dataStart: new Uint32Array(n + 1),
    data: new Uint8Array(bytes),
    group: new Uint16Array(n),
    recordPos: new Float64Array(n),
  };
  const lengths = new Uint32Array(n);
  let at = 0;
  done.forEach((d, i) => {
    const m = d.msg;
    frames.offsetNs[i] = Number(m.timeNs - startNs);
    frames.channel[i] = d.channel;
    frames.id[i] = m.id;
    frames.flags[i] = m.extended ? FLAG_EXT : 0;
    frames.length[i] = Math.min(255, m.data.length);
    frames.dlc[i] = Math.min(15, m.data.length);
    frames.dataStart[i] = at;
    frames.data.set(m.data, at);
    at += m.data.length;
    frames.group[i] = d.group;
    frames.recordPos[i] = d.recordPos;
    lengths[i] = m.data.length;
  });
  frames.dataStart[n] = at;
  return { frames, lengths };
}
