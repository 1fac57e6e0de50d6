/**
 * How a message's bytes arrive: hex, base64, or a LoRa gateway's JSON envelope `{"data": "<base64>", "snr": 7.5}`.
 * Strict: a character outside the alphabet, a wrong length or padding, malformed JSON or an envelope without a
 * `data` string is an error naming what is wrong (SF_ERR_PACKETS_DECODE) — never bytes guessed from garbage.
 */
import { SigflowError } from '../../errors/index.js';

export type PayloadFormat = 'auto' | 'hex' | 'base64' | 'envelope';

export interface Payload {
  readonly bytes: Uint8Array;
  /** The envelope's other values (snr …), numbers and strings as given. */
  readonly meta?: Readonly<Record<string, unknown>>;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function bad(message: string): SigflowError {
  return new SigflowError('SF_ERR_PACKETS_DECODE', message);
}

export function fromHex(text: string): Uint8Array {
  const t = text.replace(/\s+/g, '');
  if (!HEX.test(t)) throw bad(`not hex: ${t.length % 2 ? 'an odd number of digits' : 'a character outside 0-9 a-f'}`);
  return Uint8Array.from(Buffer.from(t, 'hex'));
}

export function fromBase64(text: string): Uint8Array {
  const t = text.trim();
  if (!BASE64.test(t))
    throw bad(
      `not base64: ${t.length % 4 ? `length ${t.length} is not a multiple of 4` : 'a character outside A-Z a-z 0-9 + / or misplaced ='}`,
    );
  return Uint8Array.from(Buffer.from(t, 'base64'));
}

/** `{"data": "<base64>", …}`: the bytes and the rest of the object. */
export function fromEnvelope(text: string | Uint8Array): Payload {
  let obj: unknown;
  try {
    obj = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch (err) {
    throw bad(`not JSON: ${(err as Error).message}`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw bad('the envelope is not a JSON object');
  const { data, ...meta } = obj as Record<string, unknown>;
  if (typeof data !== 'string') throw bad('the envelope has no "data" string');
  try {
    return { bytes: fromBase64(data), meta };
  } catch (err) {
    throw bad(`"data": ${(err as Error).message}`);
  }
}

/** One line of text in the given format; `auto`: `{` or `[` → JSON envelope, hex digits only → hex, else base64. */
export function parsePayload(line: string, format: PayloadFormat = 'auto'): Payload {
  const t = line.trim();
  if (t.length === 0) throw bad('an empty line');
  const f =
    format === 'auto'
      ? t.startsWith('{') || t.startsWith('[')
        ? 'envelope'
        : /^[0-9a-fA-F\s]+$/.test(t)
          ? 'hex'
          : 'base64'
      : format;
  if (f === 'envelope') return fromEnvelope(t);
  return { bytes: f === 'hex' ? fromHex(t) : fromBase64(t) };
}
