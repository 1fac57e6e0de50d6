/**
 * Which transport protocols a set of DBC messages needs, and the reassemblers for them.
 *
 * A DBC message longer than its bus frame (more than 8 bytes, or more than 64 for a CAN FD message) can only
 * arrive in pieces. Its id tells the protocol:
 * - a standard (11-bit) id, or a 29-bit id with PF 0xDA/0xDB (ISO 15765-2 normal fixed addressing): ISO-TP on
 *   that id (UDS and OBD-II responses);
 * - a 29-bit id whose PGN is in the NMEA 2000 range (0x1F000–0x1FFFF, or 0x1EF00): NMEA 2000 fast packet;
 * - any other 29-bit id: J1939-21 transport protocol (BAM or RTS/CTS), matched by PGN.
 * Explicit choices (flags, config) override the guess per protocol.
 */
import { j1939Pgn, type Message } from '../codecs/dbc/index.js';
import { IsoTpReassembler } from './isotp.js';
import { J1939Reassembler } from './j1939.js';
import { FastPacketReassembler } from './nmea2000.js';
import { NOT_TRANSPORT, type PushResult, type Reassembler, type TransportStats } from './types.js';

export type TransportProtocol = 'isotp' | 'j1939' | 'nmea2000';

export interface TransportPlan {
  /** ISO-TP response ids, with the DBC message's length (a CAN FD frame that long is the message whole). */
  isotp: { id: number; extended: boolean; wholeLength: number }[];
  /** J1939 transport protocol on. */
  j1939: boolean;
  /** NMEA 2000 fast-packet PGNs. */
  fastPacketPgns: number[];
  /** One line per message that needs reassembly, saying why and how ("… is 62 bytes: ISO-TP on 0x7EC"). */
  notes: string[];
}

/** The protocol a message longer than its frame needs, or null when it fits in one frame. */
export function protocolFor(m: Pick<Message, 'id' | 'extended' | 'length' | 'isFd'>): TransportProtocol | null {
  if (m.length <= (m.isFd ? 64 : 8)) return null;
  if (!m.extended) return 'isotp';
  const pf = (m.id >>> 16) & 0xff;
  if (pf === 0xda || pf === 0xdb) return 'isotp';
  const pgn = j1939Pgn(m.id);
  if ((pgn >= 0x1f000 && pgn <= 0x1ffff) || pgn === 0x1ef00) return 'nmea2000';
  return 'j1939';
}

const hex = (id: number, extended: boolean) =>
  `0x${id
    .toString(16)
    .toUpperCase()
    .padStart(extended ? 8 : 3, '0')}`;

/** The plan for a set of messages (only `only` protocols when given: the others stay off). */
export function planTransport(
  messages: Iterable<Pick<Message, 'id' | 'extended' | 'length' | 'isFd' | 'name'>>,
  only?: ReadonlySet<TransportProtocol>,
): TransportPlan {
  const plan: TransportPlan = { isotp: [], j1939: false, fastPacketPgns: [], notes: [] };
  const isotpSeen = new Set<string>();
  const pgnSeen = new Set<number>();
  for (const m of messages) {
    const p = protocolFor(m);
    if (p === null || (only && !only.has(p))) continue;
    const what = `${m.name} (${hex(m.id, m.extended)}) is ${m.length} bytes`;
    if (p === 'isotp') {
      const k = `${m.extended}:${m.id}`;
      if (!isotpSeen.has(k)) plan.isotp.push({ id: m.id, extended: m.extended, wholeLength: m.length });
      isotpSeen.add(k);
      plan.notes.push(`${what}: ISO-TP reassembly on ${hex(m.id, m.extended)}`);
    } else if (p === 'nmea2000') {
      const pgn = j1939Pgn(m.id);
      if (!pgnSeen.has(pgn)) plan.fastPacketPgns.push(pgn);
      pgnSeen.add(pgn);
      plan.notes.push(`${what}: NMEA 2000 fast-packet reassembly of PGN ${pgn}`);
    } else {
      plan.j1939 = true;
      plan.notes.push(`${what}: J1939 transport-protocol reassembly of PGN ${j1939Pgn(m.id)}`);
    }
  }
  return plan;
}

/**
 * The reassemblers a plan needs, behind one push(): a frame goes to the first reassembler that takes it; one no
 * reassembler takes is NOT_TRANSPORT (decode it as a frame).
 */
export class TransportStage {
  readonly reassemblers: Reassembler[] = [];
  /**
   * Could a frame with this id be a transport frame of the plan? One function made for the plan (no loop over
   * the reassemblers): it runs for every frame of a log, the reassemblers only for the frames it lets through.
   */
  readonly wants: (id: number, extended: boolean) => boolean;

  constructor(readonly plan: TransportPlan) {
    if (plan.isotp.length > 0) this.reassemblers.push(new IsoTpReassembler({ ids: plan.isotp }));
    if (plan.j1939) this.reassemblers.push(new J1939Reassembler());
    if (plan.fastPacketPgns.length > 0)
      this.reassemblers.push(new FastPacketReassembler({ pgns: plan.fastPacketPgns }));
    // lookup tables, not Sets: this runs for every frame of a log
    const std = new Uint8Array(2048);
    for (const e of plan.isotp) if (!e.extended && e.id < 2048) std[e.id] = 1;
    const ext = new Set(plan.isotp.filter((e) => e.extended).map((e) => e.id));
    // 256 KB: only when there are fast-packet PGNs to look up (a stage is made per log by the lake writer)
    const pgns = new Uint8Array(plan.fastPacketPgns.length > 0 ? 1 << 18 : 0);
    for (const p of plan.fastPacketPgns) pgns[p] = 1;
    const fastPackets = plan.fastPacketPgns.length > 0;
    const extIsotp = ext.size > 0;
    const j1939 = plan.j1939;
    this.wants = (id, extended) => {
      if (!extended) return id < 2048 && std[id] === 1;
      const pf = (id >>> 16) & 0xff;
      return (
        (j1939 && (pf === 0xec || pf === 0xeb)) ||
        (fastPackets && pgns[j1939Pgn(id)] === 1) ||
        (extIsotp && ext.has(id))
      );
    };
  }

  get empty(): boolean {
    return this.reassemblers.length === 0;
  }

  push(stream: number, timeNs: bigint, id: number, extended: boolean, data: Uint8Array): PushResult {
    for (const r of this.reassemblers) {
      const res = r.push(stream, timeNs, id, extended, data);
      if (res !== NOT_TRANSPORT) return res;
    }
    return NOT_TRANSPORT;
  }

  expire(nowNs: bigint): void {
    for (const r of this.reassemblers) r.expire(nowNs);
  }

  finish(): void {
    for (const r of this.reassemblers) r.finish();
  }

  /** Counters per protocol in use. */
  stats(): { protocol: TransportProtocol; stats: TransportStats }[] {
    return this.reassemblers.map((r) => ({ protocol: r.protocol, stats: r.stats }));
  }
}
