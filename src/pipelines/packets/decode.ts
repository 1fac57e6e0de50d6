/**
 * `sigflow packets decode`: messages, one per line (hex, base64 or the gateway envelope) or one whole binary file
 * each (`raw`), through a compiled packet spec → NDJSON rows. A line that cannot be read or a message that stops
 * early is reported with its file and line (the rows before the stop are written) and counted; the job goes on.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { type PacketDecoder, type PayloadFormat, parsePayload } from '../../codecs/bitfield/index.js';
import { SigflowError } from '../../errors/index.js';
import { systemReason, writeChunk } from '../../io/index.js';

export interface PacketDecodeOptions {
  readonly decoder: PacketDecoder;
  /** Per line (auto, hex, base64, envelope), or `raw`: each input is one binary message. */
  readonly format: PayloadFormat | 'raw';
  /** Files, or `-` for stdin. */
  readonly inputs: readonly string[];
  /** A problem with one message: `file:line: message`. */
  readonly onProblem?: (where: string, message: string) => void;
}

export interface PacketDecodeStats {
  messages: number;
  rows: number;
  /** Messages that could not be read or stopped before their end. */
  problems: number;
}

/** The NDJSON line of a row: kind, time (RFC 3339, ms), where it came from, then its values. */
function rowLine(kind: string, timeMs: number | undefined, source: string, line: number, values: object): string {
  const time = timeMs === undefined || !Number.isFinite(timeMs) ? undefined : new Date(timeMs).toISOString();
  return `${JSON.stringify({ kind, ...(time === undefined ? {} : { time }), source, line, ...values })}\n`;
}

export async function runPacketDecode(
  o: PacketDecodeOptions,
  out: Writable,
  stdin: Readable = process.stdin,
): Promise<PacketDecodeStats> {
  const stats: PacketDecodeStats = { messages: 0, rows: 0, problems: 0 };
  const d = o.decoder;
  let buf = '';
  const flush = async () => {
    if (buf.length) await writeChunk(out, buf);
    buf = '';
  };
  const decodeOne = async (
    bytes: Uint8Array,
    source: string,
    line: number,
    meta?: Readonly<Record<string, unknown>>,
  ) => {
    stats.messages++;
    const r = d.decode(bytes, (k) => {
      const row = d.row(k);
      buf += rowLine(row.kind, row.timeMs, source, line, meta ? { envelope: meta, ...row.values } : row.values);
      stats.rows++;
    });
    if (r.error) {
      stats.problems++;
      o.onProblem?.(`${source}:${line}`, r.error.message);
    }
    if (buf.length > 1 << 16) await flush();
  };
  for (const input of o.inputs) {
    const name = input === '-' ? 'stdin' : input;
    if (o.format === 'raw') {
      let bytes: Uint8Array;
      try {
        bytes = input === '-' ? await readStream(stdin) : readFileSync(input);
      } catch (err) {
        throw new SigflowError('SF_ERR_USAGE', `cannot read ${name}: ${systemReason(err)}`, { where: name });
      }
      await decodeOne(bytes, name, 1);
      continue;
    }
    const stream = input === '-' ? stdin : createReadStream(input);
    const opened = new Promise<void>((resolve, reject) => {
      if (input === '-') resolve();
      else stream.once('open', () => resolve()).once('error', reject);
    });
    try {
      await opened;
    } catch (err) {
      throw new SigflowError('SF_ERR_USAGE', `cannot read ${name}: ${systemReason(err)}`, { where: name });
    }
    let line = 0;
    for await (const text of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
      line++;
      if (text.trim() === '') continue;
      let payload: ReturnType<typeof parsePayload>;
      try {
        payload = parsePayload(text, o.format);
      } catch (err) {
        stats.messages++;
        stats.problems++;
        o.onProblem?.(`${name}:${line}`, (err as Error).message);
        continue;
      }
      await decodeOne(payload.bytes, name, line, payload.meta);
    }
  }
  await flush();
  return stats;
}

async function readStream(s: Readable): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(parts);
}
