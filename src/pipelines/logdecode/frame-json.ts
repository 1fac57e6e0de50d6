/**
 * The frame line: one CAN/LIN frame as one JSON object per line — what `sigflow frames` writes (output/frames.ts)
 * and `sigflow dbc decode` reads (`decodeFrameLines`), so `sigflow frames LOG | sigflow dbc decode --dbc x.dbc`
 * decodes the values `sigflow decode LOG --dbc x.dbc` does.
 *
 *   {"t":"1641469577108050000","device":"2F6913DB","bus":"CAN","chn":1,"id":291,"ext":false,"dir":0,"dlc":8,
 *    "len":8,"edl":false,"brs":false,"data":"0a1b…"}      (remote and error events add "kind" before "data")
 *
 * Read: `id` (integer 0…0x1FFFFFFF) and `data` (hex, at most 64 bytes) are required; `ext` (default false; the
 * older name `extended` is accepted too) — a standard id is 11 bits, so an id above 0x7FF without `"ext":true`
 * is an input error; `t` (decimal ns string or integer), `device` (string), `bus` ("CAN" | "LIN") and `chn`
 * (integer) are optional and passed through to the output line. LIN frames and remote/error events are not
 * decoded (an output line says so). Other keys are ignored.
 *
 * Decoding is line by line, with exactly one output line per input line (blank and bad lines included), in
 * bounded memory: a line longer than `maxLineBytes` is skipped as it streams (an error line naming its number).
 *
 * Multi-frame messages (ISO-TP, J1939 TP, NMEA 2000 fast packet; on when a DBC message is longer than its frame,
 * `transport` option): a frame taken into a message is answered `"transport":"part"`; the frame that completes
 * one is answered with the decoded message — its id, `"transport":{"protocol","frames","t_first","length"}` and
 * the values. Messages are kept apart per `device` and `chn`; `t` times out incomplete ones (src/transport).
 */
import type { Readable, Writable } from 'node:stream';
import type { Database, DecodedValue, FrameResult } from '../../codecs/dbc/index.js';
import { SigflowError } from '../../errors/index.js';
import {
  NOT_TRANSPORT,
  planTransport,
  TAKEN,
  type TransportProtocol,
  TransportStage,
  type TransportStats,
} from '../../transport/index.js';
import { ByteWriter } from './output/byte-writer.js';
import type { TransportChoice } from './transport.js';

/** One frame as read from a frame line. */
export interface FrameLine {
  id: number;
  ext: boolean;
  data: Buffer;
  /** The pass-through keys, as JSON text (`"t":"…","device":"…"`), in schema order; '' when none. */
  head: string;
  /** Why it is not decoded (a LIN frame, a remote or error event), or null. */
  skip: string | null;
  /** Time (ns), device and channel when given: they key and time transport-protocol reassembly. */
  t: bigint | null;
  device: string;
  chn: number;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Parses one frame line: the frame, or the problem with it (without the line number). */
export function parseFrameLine(text: string): FrameLine | { problem: string } {
  if (text.trim() === '') return { problem: 'blank line (one frame object per line)' };
  let f: Record<string, unknown>;
  try {
    f = JSON.parse(text);
  } catch (e) {
    return { problem: `not JSON (${(e as Error).message})` };
  }
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return { problem: 'not a JSON object' };
  const { id, data, t, device, bus, chn, kind } = f;
  if (f.ext !== undefined && f.extended !== undefined && f.ext !== f.extended)
    return { problem: '"ext" and "extended" disagree' };
  const ext = f.ext ?? f.extended ?? false;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x1fffffff)
    return { problem: 'id must be an integer 0..0x1FFFFFFF' };
  if (typeof ext !== 'boolean') return { problem: 'ext must be true or false' };
  if (!ext && id > 0x7ff)
    return {
      problem: `id 0x${id.toString(16).toUpperCase()} is above 0x7FF, but "ext" is ${f.ext === undefined && f.extended === undefined ? 'missing' : 'false'}: a standard id has 11 bits (give "ext":true for a 29-bit id)`,
    };
  if (typeof data !== 'string' || !HEX.test(data) || data.length > 128)
    return { problem: 'data must be hex, at most 64 bytes' };
  if (t !== undefined && !(typeof t === 'string' ? /^-?\d{1,20}$/.test(t) : Number.isSafeInteger(t)))
    return { problem: 't must be integer ns since the epoch (a decimal string or an integer)' };
  if (device !== undefined && typeof device !== 'string') return { problem: 'device must be a string' };
  if (bus !== undefined && bus !== 'CAN' && bus !== 'LIN') return { problem: 'bus must be "CAN" or "LIN"' };
  if (chn !== undefined && (typeof chn !== 'number' || !Number.isInteger(chn) || chn < 0 || chn > 255))
    return { problem: 'chn must be an integer 0..255' };
  let head = '';
  if (t !== undefined) head += `"t":"${t}",`;
  if (device !== undefined) head += `"device":${JSON.stringify(device)},`;
  if (bus !== undefined) head += `"bus":"${bus}",`;
  if (chn !== undefined) head += `"chn":${chn},`;
  const skip =
    bus === 'LIN'
      ? 'a LIN frame (only CAN data frames are decoded)'
      : kind === 'remote' || kind === 'error'
        ? `a CAN ${kind} frame (only CAN data frames are decoded)`
        : null;
  return {
    id,
    ext,
    data: Buffer.from(data, 'hex'),
    head,
    skip,
    t: t === undefined ? null : BigInt(t as string | number),
    device: (device as string | undefined) ?? '',
    chn: (chn as number | undefined) ?? 0,
  };
}

/** A line of the input: its text, or how long it was when it exceeded the limit (its bytes were not kept). */
export type InputLine = { text: string } | { tooLong: number };

/**
 * Splits a byte stream into lines (LF; a CR before it is dropped) in bounded memory: a line longer than
 * `maxLineBytes` is not collected but counted and reported as `{ tooLong }`. Yields the lines of each chunk.
 */
export async function* splitLines(
  input: AsyncIterable<Buffer | string>,
  maxLineBytes: number,
): AsyncGenerator<InputLine[]> {
  let parts: Buffer[] = [];
  let size = 0;
  let dropping = false;
  const finish = (): InputLine => {
    const line: InputLine = dropping
      ? { tooLong: size }
      : { text: Buffer.concat(parts, size).toString('utf8').replace(/\r$/, '') };
    parts = [];
    size = 0;
    dropping = false;
    return line;
  };
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    const lines: InputLine[] = [];
    let from = 0;
    while (from <= chunk.length) {
      const nl = chunk.indexOf(10, from);
      const end = nl < 0 ? chunk.length : nl;
      const piece = end - from;
      if (!dropping && size + piece > maxLineBytes) {
        dropping = true;
        parts = [];
      }
      if (!dropping && piece > 0) parts.push(chunk.subarray(from, end));
      size += piece;
      if (nl < 0) break;
      lines.push(finish());
      from = nl + 1;
    }
    // keep only this line's bytes, not the whole chunk they share
    if (parts.length > 0) parts = [Buffer.concat(parts, size)];
    yield lines;
  }
  if (size > 0 || dropping) yield [finish()];
}

/** What `decodeFrameLines` counted. */
export interface FrameDecodeStats {
  lines: number;
  decoded: number;
  truncated: number;
  unknown_id: number;
  short: number;
  mux: number;
  /** LIN frames and remote/error events (one output line each, not decoded). */
  skipped: number;
  /** Lines that are not a valid frame (blank, not JSON, bad fields, too long). */
  bad_input: number;
  /** Frames taken into multi-frame messages (each answered with a `"transport":"part"` line). */
  transport_parts: number;
  /** Messages reassembled (each answered on the line of the frame that completed it). */
  transport_messages: number;
  /** Reassembly counters per protocol in use. */
  transport: { protocol: TransportProtocol; stats: TransportStats }[];
  /** Why reassembly is on: one line per DBC message longer than its frame. */
  transportNotes: string[];
  /** The first bad line's problem (`line N: …`), or null. */
  firstProblem: string | null;
}

export interface FrameDecodeOptions {
  /** Decode the signals that fit in short frames instead of reporting "short". */
  truncated?: boolean;
  /** Look up VAL_ labels. */
  choices?: boolean;
  /** PGN matching of J1939 messages; default: on when the database has any J1939 message (as `decode`). */
  j1939?: boolean;
  /** Longest input line kept, in bytes (default 1 MiB; longer lines are input errors). */
  maxLineBytes?: number;
  /** Transport-protocol reassembly (default auto: when a DBC message is longer than its frame). */
  transport?: TransportChoice;
}

function jsonValue(v: DecodedValue, wide: boolean): string {
  if (typeof v === 'bigint') return `"${v}"`;
  if (Number.isNaN(v)) return '"NaN"';
  if (v === Number.POSITIVE_INFINITY) return '"Infinity"';
  if (v === Number.NEGATIVE_INFINITY) return '"-Infinity"';
  if (wide && Number.isInteger(v)) return `"${BigInt(v)}"`;
  if (Object.is(v, -0)) return '-0.0';
  return JSON.stringify(v);
}

/**
 * The output line of a frame: the pass-through keys, id, ext, then the result (keys: Database.signalKey).
 * `extra`: keys put after ext (a reassembled message's "transport").
 */
function resultLine(
  db: Database,
  f: Pick<FrameLine, 'head' | 'id' | 'ext'>,
  r: FrameResult,
  truncated: boolean,
  extra = '',
): string {
  const head = `{${f.head}"id":${f.id},"ext":${f.ext}${extra}`;
  if (!r.ok) return `${head},"error":"${r.error}","detail":${JSON.stringify(r.detail)}}`;
  let phys = '';
  let raw = '';
  let choices = '';
  for (const s of r.message.signals) {
    const name = db.signalKey[s.globalIndex];
    if (!Object.hasOwn(r.phys, name)) continue;
    const key = JSON.stringify(name);
    const wide = db.wide[s.globalIndex];
    phys += `${phys ? ',' : ''}${key}:${jsonValue(r.phys[name], wide)}`;
    raw += `${raw ? ',' : ''}${key}:${jsonValue(r.raw[name], wide)}`;
    const c = r.choices[name];
    if (c !== undefined) choices += `${choices ? ',' : ''}${key}:${JSON.stringify(c)}`;
  }
  const name = db.messageKey[r.message.index];
  return `${head},"message":${JSON.stringify(name)},"phys":{${phys}},"raw":{${raw}},"choices":{${choices}}${truncated ? ',"truncated":true' : ''}}`;
}

/**
 * Decodes frame lines from `input` to `output`, one output line per input line (see the module comment);
 * returns the counts. Throws only when the output fails.
 */
export async function decodeFrameLines(
  db: Database,
  input: Readable | AsyncIterable<Buffer | string>,
  output: Writable,
  opts: FrameDecodeOptions = {},
): Promise<FrameDecodeStats> {
  const stats: FrameDecodeStats = {
    lines: 0,
    decoded: 0,
    truncated: 0,
    unknown_id: 0,
    short: 0,
    mux: 0,
    skipped: 0,
    bad_input: 0,
    transport_parts: 0,
    transport_messages: 0,
    transport: [],
    transportNotes: [],
    firstProblem: null,
  };
  const choice = opts.transport ?? 'auto';
  const stage =
    choice === 'off'
      ? null
      : new TransportStage(planTransport(db.messages, choice === 'auto' ? undefined : new Set(choice)));
  stats.transportNotes = stage?.plan.notes ?? [];
  const streams = new Map<string, number>();
  const streamOf = (f: FrameLine) => {
    const key = `${f.device}\u0000${f.chn}`;
    let n = streams.get(key);
    if (n === undefined) streams.set(key, (n = streams.size));
    return n;
  };
  const choices = opts.choices ?? true;
  const j1939 = opts.j1939 ?? db.messages.some((m) => m.isJ1939);
  const maxLineBytes = opts.maxLineBytes ?? 1 << 20;
  const out = new ByteWriter(output);
  const bad = (problem: string) => {
    stats.bad_input++;
    const detail = `line ${stats.lines}: ${problem}`;
    stats.firstProblem ??= detail;
    out.push(`{"error":"input","detail":${JSON.stringify(detail)}}\n`);
  };
  try {
    for await (const lines of splitLines(input as AsyncIterable<Buffer | string>, maxLineBytes)) {
      for (const line of lines) {
        stats.lines++;
        if ('tooLong' in line) {
          bad(`longer than ${maxLineBytes} bytes (${line.tooLong} bytes; skipped)`);
          continue;
        }
        const f = parseFrameLine(line.text);
        if ('problem' in f) {
          bad(f.problem);
          continue;
        }
        if (f.skip) {
          stats.skipped++;
          out.push(`{${f.head}"id":${f.id},"ext":${f.ext},"error":"not_decoded","detail":${JSON.stringify(f.skip)}}\n`);
          continue;
        }
        if (stage && !stage.empty && stage.wants(f.id, f.ext)) {
          // without "t" there are no timeouts: the frames are taken as they come
          const res = stage.push(streamOf(f), f.t ?? 0n, f.id, f.ext, f.data);
          if (res === TAKEN) {
            stats.transport_parts++;
            out.push(`{${f.head}"id":${f.id},"ext":${f.ext},"transport":"part"}\n`);
            continue;
          }
          if (res !== NOT_TRANSPORT) {
            stats.transport_messages++;
            const r = db.decodeFrame(res.id, res.extended, res.data, { choices, anyPgn: true, truncated: true });
            if (r.ok) stats.decoded++;
            else stats[r.error]++;
            const extra = `,"transport":{"protocol":"${res.protocol}","frames":${res.frames},"t_first":"${res.timeNs}","length":${res.data.length}}`;
            out.push(`${resultLine(db, { head: f.head, id: res.id, ext: res.extended }, r, false, extra)}\n`);
            continue;
          }
        }
        let r = db.decodeFrame(f.id, f.ext, f.data, { choices, j1939 });
        let wasTruncated = false;
        if (!r.ok && r.error === 'short' && opts.truncated && r.message) {
          r = db.decodeMessage(r.message, f.data, { choices, truncated: true });
          wasTruncated = r.ok;
        }
        if (r.ok) stats[wasTruncated ? 'truncated' : 'decoded']++;
        else stats[r.error]++;
        out.push(`${resultLine(db, f, r, wasTruncated)}\n`);
      }
      if (out.full) await out.flush();
    }
  } finally {
    await out.flush();
  }
  if (stage) {
    stage.finish();
    stats.transport = stage.stats();
  }
  return stats;
}

/**
 * The error of a frame-decoding run in which no line decoded and at least one line was bad input (exit 1), or
 * null. Every line was still answered on the output.
 */
export function noFrameDecoded(stats: FrameDecodeStats): SigflowError | null {
  if (stats.decoded + stats.truncated > 0 || stats.bad_input === 0) return null;
  return new SigflowError(
    'SF_ERR_LOGDECODE_NO_FRAME_DECODED',
    `no frame decoded: ${stats.bad_input} of ${stats.lines} input line(s) are not valid frame lines (first: ${stats.firstProblem}; the output has a line for each)`,
  );
}
