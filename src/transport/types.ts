/**
 * What the transport-protocol reassemblers take and give: frames of one bus in, whole messages out.
 *
 * A reassembler is pure and streaming: `push()` one frame at a time, in time order per stream, and it answers at
 * once whether the frame is not a transport-protocol frame (the caller decodes it as usual), was taken into a
 * message in progress, or completed a message. Partial messages that cannot complete are dropped with a counted
 * reason; a reassembler never joins bytes of two different messages.
 */

/** The frame passes through: it is not a transport-protocol frame of this reassembler. */
export const NOT_TRANSPORT = 0;
/** The frame was taken by the reassembler (part of a message in progress, flow control, or a dropped fragment). */
export const TAKEN = 1;

/** One reassembled message, ready to be decoded like a (long) frame. */
export interface TransportMessage {
  /** The protocol that carried it. */
  protocol: 'isotp' | 'j1939' | 'nmea2000';
  /** Time of the message's first frame, ns since the Unix epoch (the convention of CANedge's tools). */
  timeNs: bigint;
  /** Time of the frame that completed the message. */
  lastTimeNs: bigint;
  /** The stream the frames came from (the caller's key for device, bus and channel). */
  stream: number;
  /** The CAN id to decode the payload with (see each protocol's README section). */
  id: number;
  extended: boolean;
  /** The reassembled bytes, in the layout the protocol's DBCs expect (see README.md). */
  data: Uint8Array;
  /** How many bus frames carried it. */
  frames: number;
}

export type PushResult = TransportMessage | typeof NOT_TRANSPORT | typeof TAKEN;

/** Why a partial message was dropped, or a frame could not be used. */
export type DropReason =
  /** No next frame within the timeout. */
  | 'timeout'
  /** A frame arrived out of sequence (lost, repeated or reordered frame). */
  | 'sequence'
  /** A new message started on the same address while one was in progress. */
  | 'interrupted'
  /** The announced length is impossible for the protocol, or above the configured maximum. */
  | 'length'
  /** The sender or receiver aborted the transfer (J1939 connection abort). */
  | 'aborted'
  /** The input ended (finish()) with the message incomplete. */
  | 'incomplete';

export const DROP_REASONS: readonly DropReason[] = [
  'timeout',
  'sequence',
  'interrupted',
  'length',
  'aborted',
  'incomplete',
];

/** Counters of one reassembler (or of all of them: see addStats). */
export interface TransportStats {
  /** Messages completed. */
  messages: number;
  /** Frames that went into completed messages. */
  frames: number;
  /** Partial messages dropped, by reason. */
  dropped: Record<DropReason, number>;
  /** Frames that belonged to no message: a continuation without its start, or an unknown control code. */
  strayFrames: number;
}

export function emptyStats(): TransportStats {
  return {
    messages: 0,
    frames: 0,
    dropped: { timeout: 0, sequence: 0, interrupted: 0, length: 0, aborted: 0, incomplete: 0 },
    strayFrames: 0,
  };
}

const PROTOCOL_NAMES: Record<string, string> = {
  isotp: 'ISO-TP',
  j1939: 'J1939 TP',
  nmea2000: 'NMEA 2000 fast packet',
};

/** One line for a person: "ISO-TP: 270 messages from 1980 frames; dropped 29 (29 timeout); 0 stray frames". */
export function describeStats(protocol: string, s: TransportStats): string {
  const drops = DROP_REASONS.filter((r) => s.dropped[r] > 0);
  const dropped = drops.reduce((a, r) => a + s.dropped[r], 0);
  return (
    `${PROTOCOL_NAMES[protocol] ?? protocol}: ${s.messages} messages from ${s.frames} frames` +
    (dropped > 0 ? `; dropped ${dropped} (${drops.map((r) => `${s.dropped[r]} ${r}`).join(', ')})` : '') +
    (s.strayFrames > 0 ? `; ${s.strayFrames} frames without their first frame` : '')
  );
}

export function addStats(into: TransportStats, from: TransportStats): TransportStats {
  into.messages += from.messages;
  into.frames += from.frames;
  into.strayFrames += from.strayFrames;
  for (const r of DROP_REASONS) into.dropped[r] += from.dropped[r];
  return into;
}

/** A transport-protocol reassembler (ISO-TP, J1939-21, NMEA 2000 fast packet). */
export interface Reassembler {
  readonly protocol: 'isotp' | 'j1939' | 'nmea2000';
  readonly stats: TransportStats;
  /** Cheap pre-check: could a frame with this id be a frame of this protocol (push() would not pass it)? */
  wants(id: number, extended: boolean): boolean;
  /**
   * Offers one frame. `stream` keys device, bus and channel (frames of different streams never mix); `data` is
   * read during the call only (it may be a view into a reused buffer).
   */
  push(stream: number, timeNs: bigint, id: number, extended: boolean, data: Uint8Array): PushResult;
  /** Drops every partial message whose last frame is older than the timeout at `nowNs` (live sources). */
  expire(nowNs: bigint): void;
  /** The input ended: drops every partial message as 'incomplete'. */
  finish(): void;
}

/** Options every reassembler takes. */
export interface ReassemblerOptions {
  /** Longest gap between two frames of one message, ms (default: the protocol's own timeout, see README.md). */
  timeoutMs?: number;
}

/** One message in progress, shared shape of the three protocols. */
export interface Partial {
  timeNs: bigint;
  lastNs: bigint;
  id: number;
  extended: boolean;
  buf: Uint8Array;
  /** Bytes filled in buf. */
  filled: number;
  /** The next sequence number expected. */
  next: number;
  frames: number;
}

/** The bookkeeping the three reassemblers share: partial messages by key, timeouts and drop counting. */
export class PartialTable {
  readonly stats = emptyStats();
  /** Messages in progress by key (a number each protocol makes of stream and address). */
  private readonly open = new Map<number, Partial>();
  private readonly timeoutNs: bigint;

  constructor(
    private readonly protocol: TransportMessage['protocol'],
    timeoutMs: number,
  ) {
    this.timeoutNs = BigInt(Math.round(timeoutMs * 1e6));
  }

  /** The partial message under `key`, if any and not timed out at `timeNs` (a timed-out one is dropped). */
  get(key: number, timeNs: bigint): Partial | undefined {
    const p = this.open.get(key);
    if (p !== undefined && timeNs - p.lastNs > this.timeoutNs) {
      this.drop(key, 'timeout');
      return undefined;
    }
    return p;
  }

  /**
   * Starts a message under `key`, dropping one already in progress there as 'interrupted'. When the interrupted
   * message waits for the same sequence number as the new one (it got no continuation yet), a late continuation
   * of the old message could not be told from one of the new: the new one is dropped too, and false returned.
   */
  start(key: number, p: Partial): boolean {
    const old = this.get(key, p.timeNs); // a timed-out one is dropped as such, not as interrupted
    if (old !== undefined) {
      this.drop(key, 'interrupted');
      if (old.next === p.next) {
        this.stats.dropped.interrupted++;
        return false;
      }
    }
    this.open.set(key, p);
    return true;
  }

  /** Drops the message in progress under `key`, if any, as 'interrupted' (a message that ends it began). */
  interrupt(key: number, timeNs: bigint): void {
    if (this.get(key, timeNs) !== undefined) this.drop(key, 'interrupted');
  }

  drop(key: number, reason: DropReason): void {
    if (this.open.delete(key)) this.stats.dropped[reason]++;
  }

  /** Counts a drop of a message that never got a table entry (an impossible announcement). */
  refuse(reason: DropReason): void {
    this.stats.dropped[reason]++;
  }

  stray(): void {
    this.stats.strayFrames++;
  }

  /** Removes a completed message and returns it as a TransportMessage. */
  complete(key: number, p: Partial, stream: number, length: number): TransportMessage {
    this.open.delete(key);
    this.stats.messages++;
    this.stats.frames += p.frames;
    return {
      protocol: this.protocol,
      timeNs: p.timeNs,
      lastTimeNs: p.lastNs,
      stream,
      id: p.id,
      extended: p.extended,
      data: length === p.buf.length ? p.buf : p.buf.subarray(0, length),
      frames: p.frames,
    };
  }

  expire(nowNs: bigint): void {
    for (const [key, p] of this.open) if (nowNs - p.lastNs > this.timeoutNs) this.drop(key, 'timeout');
  }

  finish(): void {
    for (const key of [...this.open.keys()]) this.drop(key, 'incomplete');
  }
}
