/**
 * Bit-field packet specs: a declarative language for binary messages (README.md), compiled into a straight-line
 * decoder; the IoF protocol built in.
 */
import { readFileSync } from 'node:fs';
import { SigflowError } from '../../errors/index.js';
import { PacketDecoder } from './decoder.js';
import type { PacketSpecInput } from './spec.js';
import { IOF_SPEC } from './specs/iof.js';

/** The specs sigflow ships, by name. */
export const BUILTIN_SPECS: Readonly<Record<string, PacketSpecInput>> = { iof: IOF_SPEC };

/** A built-in spec by name, or a YAML/JSON spec file by path. */
export function loadPacketSpec(nameOrPath: string): PacketDecoder {
  const builtin = BUILTIN_SPECS[nameOrPath];
  if (builtin) return new PacketDecoder(builtin, nameOrPath);
  let text: string;
  try {
    text = readFileSync(nameOrPath, 'utf8');
  } catch (err) {
    throw new SigflowError(
      'SF_ERR_PACKETS_SPEC',
      `${nameOrPath}: neither a built-in spec (${Object.keys(BUILTIN_SPECS).join(', ')}) nor a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { where: nameOrPath },
    );
  }
  return new PacketDecoder(text, nameOrPath);
}

export type { Column, PacketError, RowKind } from './compile.js';
export { type DecodeResult, PacketDecoder, type PacketRow, type RowValues } from './decoder.js';
export { fromBase64, fromEnvelope, fromHex, type Payload, type PayloadFormat, parsePayload } from './payload.js';
export { type FieldSpec, type PacketSpec, type PacketSpecInput, parseSpec, specSchema } from './spec.js';
export {
  IOF_FIX,
  IOF_FREQUENCIES,
  IOF_PROTOCOL_NAMES,
  IOF_PROTOCOLS,
  IOF_SPEC,
  type IofProtocolName,
} from './specs/iof.js';
