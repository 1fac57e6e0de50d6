/**
 * CANedge log containers: plain MDF4 (`MDF     ` / `UnFinMF `) and the "Generic File" wrappers
 * (see README.md for the byte layouts and the MFM interpretation):
 *
 *   MFC  Generic File type 0x22 subtype 0x01: heatshrink-compressed MDF       (28-byte header)
 *   MFE  Generic File type 0x11 subtype 0x01: AES-256-GCM encrypted MDF        (52-byte header + 16-byte tag at end)
 *   MFM  an MFE whose plaintext is an MFC: decrypt, then decompress
 *
 * `openLog` returns a random-access source over the MDF bytes: plain MDF files stay streaming from their source;
 * containers are decoded into memory (device splits are a few MB; limits apply). Which wrapper a file is comes from
 * its bytes, not its extension.
 */
import { createCipheriv, createDecipheriv, createHash, pbkdf2, randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SigflowError } from '../../errors/index.js';
import { BufferSource, type ByteSource, FileSource, readExact, writeError } from '../../io/index.js';
import { CanedgeError } from './errors.js';
import {
  checkHeatshrinkParams,
  DEFAULT_MAX_OUTPUT,
  HeatshrinkDecoder,
  HeatshrinkError,
  type HeatshrinkParams,
  heatshrinkDecode,
  heatshrinkEncode,
} from './heatshrink.js';
import type { PasswordBook } from './passwords.js';

const pbkdf2Async = promisify(pbkdf2);

export const GENERIC_MAGIC = Buffer.from('Generic File', 'latin1');
export const MDF_MAGIC_FINALIZED = 'MDF     ';
export const MDF_MAGIC_UNFINALIZED = 'UnFinMF ';

export const TYPE_COMPRESSED = 0x22;
export const SUBTYPE_HEATSHRINK = 0x01;
export const TYPE_ENCRYPTED = 0x11;
export const SUBTYPE_AES256_GCM = 0x01;

/** Bytes common to every Generic File header: magic, version, type, subtype, device id. */
export const GENERIC_COMMON_SIZE = 20;
export const COMPRESSED_HEADER_SIZE = 28;
export const ENCRYPTED_HEADER_SIZE = 52;
export const GCM_TAG_SIZE = 16;

/** PBKDF2 iteration counts above this are refused (a corrupt header must not stall the reader for minutes). */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

export type ContainerKind = 'mdf' | 'mfc' | 'mfe' | 'mfm';

export interface GenericHeader {
  versionMajor: number;
  versionMinor: number;
  type: number;
  subtype: number;
  /** Serial number of the logger, 8 upper-case hex digits (big-endian u32 at bytes 16–19). */
  deviceId: string;
}

export interface CompressedHeader extends GenericHeader {
  windowBits: number;
  lookaheadBits: number;
}

export interface EncryptedHeader extends GenericHeader {
  iv: Buffer;
  iterations: number;
  salt: Buffer;
}

export type Layer = { kind: 'heatshrink'; header: CompressedHeader } | { kind: 'aes-256-gcm'; header: EncryptedHeader };

export interface OpenedLog {
  /** The file, as named by its source. */
  name: string;
  kind: ContainerKind;
  /** Outermost first. Empty for plain MDF. */
  layers: Layer[];
  /** Device id from the outermost container header; null for plain MDF (read it from the MDF header). */
  deviceId: string | null;
  /** Whether the MDF ID block says finalised (`MDF     `) or not (`UnFinMF `). */
  finalized: boolean;
  /** Size of the file as stored. */
  storedSize: number;
  /** The MDF bytes: the original source for plain MDF, an in-memory source for containers. */
  source: ByteSource;
}

export interface OpenLogOptions {
  passwords?: PasswordBook;
  /** Largest container read into memory (default 1 GiB). */
  maxContainerSize?: number;
  /** Largest decoded MDF (default 1 GiB). */
  maxDecodedSize?: number;
  /**
   * `openLog`: a decompressed MDF larger than this (default 32 MiB) is written to a temporary file in `spillDir`
   * (default the OS temp folder; unlinked as soon as it is open) instead of being held in memory, so memory per
   * file — and across files decoded at once — stays bounded whatever a container decodes to.
   */
  maxInMemory?: number;
  spillDir?: string;
}

/** Default `maxInMemory`: decoded MDF above this goes to a temporary file. */
export const DEFAULT_MAX_IN_MEMORY = 32 << 20;

function log2Exact(v: number): number | null {
  if (v < 1 || (v & (v - 1)) !== 0) return null;
  return 31 - Math.clz32(v);
}

function hex8(v: number): string {
  return v.toString(16).toUpperCase().padStart(8, '0');
}

/** What the first bytes say: 'mdf', 'generic' (a Generic File container) or 'unknown'. */
export function sniff(head: Uint8Array): 'mdf' | 'generic' | 'unknown' {
  const s = Buffer.from(head.buffer, head.byteOffset, Math.min(head.length, 12)).toString('latin1');
  if (s.startsWith(MDF_MAGIC_FINALIZED) || s.startsWith(MDF_MAGIC_UNFINALIZED)) return 'mdf';
  if (s === GENERIC_MAGIC.toString('latin1')) return 'generic';
  return 'unknown';
}

function describeStart(head: Uint8Array): string {
  const b = Buffer.from(head.buffer, head.byteOffset, Math.min(head.length, 12));
  const printable = /^[\x20-\x7e]*$/.test(b.toString('latin1'));
  return printable ? JSON.stringify(b.toString('latin1')) : `0x${b.toString('hex')}`;
}

/** Parses the 20 bytes every Generic File header starts with. */
export function parseGenericHeader(bytes: Uint8Array, name: string): GenericHeader {
  if (bytes.length < GENERIC_COMMON_SIZE) {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_TRUNCATED',
      name,
      `Generic File header needs ${GENERIC_COMMON_SIZE} bytes, file has ${bytes.length}`,
    );
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (!b.subarray(0, 12).equals(GENERIC_MAGIC)) {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_NOT_A_LOG',
      name,
      `not a Generic File container (starts with ${describeStart(b)})`,
    );
  }
  return {
    versionMajor: b[12],
    versionMinor: b[13],
    type: b[14],
    subtype: b[15],
    deviceId: hex8(b.readUInt32BE(16)),
  };
}

function typeName(h: GenericHeader): string {
  return `type 0x${h.type.toString(16).padStart(2, '0')} subtype 0x${h.subtype.toString(16).padStart(2, '0')}`;
}

/** Parses a container header of a known type (compressed or encrypted); unknown type/subtype → error. */
export function parseContainerHeader(
  bytes: Uint8Array,
  name: string,
  /** Size of the whole file when `bytes` is only its start. */
  totalSize = bytes.length,
): CompressedHeader | EncryptedHeader {
  const g = parseGenericHeader(bytes, name);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (g.type === TYPE_COMPRESSED && g.subtype === SUBTYPE_HEATSHRINK) {
    if (b.length < COMPRESSED_HEADER_SIZE) {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_TRUNCATED',
        name,
        `compressed container header needs ${COMPRESSED_HEADER_SIZE} bytes, file has ${totalSize}`,
      );
    }
    const lookaheadField = b.readUInt32BE(20);
    const windowField = b.readUInt32BE(24);
    // Real files store the window as a byte count (1024 = 2^10) and the lookahead as bits (4). A window field of
    // 4…15 is read as bits too (the two ranges cannot be confused).
    const windowBits = windowField >= 4 && windowField <= 15 ? windowField : log2Exact(windowField);
    const h: CompressedHeader = { ...g, lookaheadBits: lookaheadField, windowBits: windowBits ?? -1 };
    try {
      checkHeatshrinkParams(h, `${name}: heatshrink header`);
    } catch (err) {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_CORRUPT',
        name,
        `invalid heatshrink parameters: window field ${windowField} (want 16…32768 bytes, a power of two), ` +
          `lookahead field ${lookaheadField} (want 3…window bits-1)`,
        { cause: err },
      );
    }
    return h;
  }
  if (g.type === TYPE_ENCRYPTED && g.subtype === SUBTYPE_AES256_GCM) {
    if (b.length < ENCRYPTED_HEADER_SIZE || totalSize < ENCRYPTED_HEADER_SIZE + GCM_TAG_SIZE) {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_TRUNCATED',
        name,
        `encrypted container needs at least ${ENCRYPTED_HEADER_SIZE + GCM_TAG_SIZE} bytes (52-byte header + 16-byte tag), file has ${totalSize}`,
      );
    }
    const iterations = b.readUInt32BE(32);
    if (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_CORRUPT',
        name,
        `PBKDF2 iteration count ${iterations} out of range 1…${MAX_PBKDF2_ITERATIONS}`,
      );
    }
    return { ...g, iv: Buffer.from(b.subarray(20, 32)), iterations, salt: Buffer.from(b.subarray(36, 52)) };
  }
  const known = g.type === TYPE_COMPRESSED || g.type === TYPE_ENCRYPTED ? ' (known type, unknown subtype)' : '';
  throw new CanedgeError(
    'SF_ERR_CANEDGE_UNKNOWN_CONTAINER',
    name,
    `unknown Generic File container ${typeName(g)}${known}, version ${g.versionMajor}.${g.versionMinor}, device ${g.deviceId}; ` +
      'known: 0x22/0x01 heatshrink (MFC), 0x11/0x01 AES-256-GCM (MFE/MFM)',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Keys

const keyCache = new Map<string, Buffer>();
const KEY_CACHE_MAX = 64;

/** PBKDF2-SHA256(password, salt, iterations) → 32-byte key; memoised (a session's files often share salt). */
export async function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  const id = createHash('sha256').update(password).update('\0').update(salt).update(`\0${iterations}`).digest('hex');
  const hit = keyCache.get(id);
  if (hit) {
    keyCache.delete(id);
    keyCache.set(id, hit);
    return hit;
  }
  const key = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  keyCache.set(id, key);
  if (keyCache.size > KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string);
  return key;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

function decryptLayer(bytes: Buffer, h: EncryptedHeader, key: Buffer, name: string): Buffer {
  const aad = bytes.subarray(0, ENCRYPTED_HEADER_SIZE);
  const ct = bytes.subarray(ENCRYPTED_HEADER_SIZE, bytes.length - GCM_TAG_SIZE);
  const tag = bytes.subarray(bytes.length - GCM_TAG_SIZE);
  const d = createDecipheriv('aes-256-gcm', key, h.iv, { authTagLength: GCM_TAG_SIZE });
  d.setAAD(aad);
  d.setAuthTag(tag);
  const first = d.update(ct);
  try {
    const last = d.final();
    return last.length ? Buffer.concat([first, last]) : first;
  } catch (err) {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_WRONG_PASSWORD',
      name,
      `AES-256-GCM authentication failed for device ${h.deviceId}: wrong password (or the file is truncated or corrupt)`,
      { cause: err },
    );
  }
}

function kindOf(layers: Layer[]): ContainerKind | null {
  const sig = layers.map((l) => l.kind).join('>');
  switch (sig) {
    case '':
      return 'mdf';
    case 'heatshrink':
      return 'mfc';
    case 'aes-256-gcm':
      return 'mfe';
    case 'aes-256-gcm>heatshrink':
      return 'mfm';
    default:
      return null;
  }
}

/**
 * Decodes a whole container held in memory down to MDF bytes. Peels Generic File layers (at most two: encryption
 * outside, compression inside) and checks the result starts with an MDF ID block.
 */
export async function decodeContainer(
  bytes: Uint8Array,
  name: string,
  opts: OpenLogOptions = {},
): Promise<{ mdf: Buffer; layers: Layer[]; kind: ContainerKind }> {
  const r = await decodeLayers(bytes, name, opts, false);
  return { ...r, mdf: r.mdf as Buffer };
}

/** decodeContainer; with `spill`, a large decompressed MDF comes back as a FileSource over a temporary file. */
async function decodeLayers(
  bytes: Uint8Array,
  name: string,
  opts: OpenLogOptions,
  spill: boolean,
): Promise<{ mdf: Buffer | FileSource; layers: Layer[]; kind: ContainerKind }> {
  const maxDecoded = opts.maxDecodedSize ?? DEFAULT_MAX_OUTPUT;
  let cur = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let spilled: FileSource | null = null;
  const layers: Layer[] = [];
  for (;;) {
    const what = sniff(cur.subarray(0, 12));
    if (what === 'mdf') break;
    if (what === 'unknown') {
      if (layers.length === 0) {
        throw new CanedgeError(
          cur.length < 12 ? 'SF_ERR_CANEDGE_TRUNCATED' : 'SF_ERR_CANEDGE_NOT_A_LOG',
          name,
          cur.length < 12
            ? `only ${cur.length} bytes: too short for an MDF ID block or a Generic File header`
            : `neither MDF4 nor a CANedge Generic File container (starts with ${describeStart(cur)})`,
        );
      }
      const last = layers[layers.length - 1].kind;
      throw new CanedgeError(
        'SF_ERR_CANEDGE_CORRUPT',
        name,
        `after the ${last} layer the content is neither MDF4 nor a Generic File container (starts with ${describeStart(cur)})`,
      );
    }
    if (layers.length >= 2) {
      throw new CanedgeError('SF_ERR_CANEDGE_UNKNOWN_CONTAINER', name, 'more than two nested Generic File layers');
    }
    const h = parseContainerHeader(cur, name);
    if ('iv' in h) {
      if (layers.length > 0) {
        throw new CanedgeError(
          'SF_ERR_CANEDGE_UNKNOWN_CONTAINER',
          name,
          'an encrypted layer inside a compressed one is not a known container',
        );
      }
      const book = opts.passwords;
      const password = book?.lookup(h.deviceId);
      if (password === undefined) {
        throw new CanedgeError(
          'SF_ERR_CANEDGE_MISSING_PASSWORD',
          name,
          `encrypted (device ${h.deviceId}) but ${book ? `${book.source} has no entry for ${h.deviceId} and no "default"` : 'no passwords were given'}`,
        );
      }
      const key = await deriveKey(password, h.salt, h.iterations);
      if (cur.length - ENCRYPTED_HEADER_SIZE - GCM_TAG_SIZE > maxDecoded) {
        throw new CanedgeError(
          'SF_ERR_CANEDGE_TOO_LARGE',
          name,
          `encrypted payload exceeds the limit of ${maxDecoded} bytes`,
        );
      }
      cur = decryptLayer(cur, h, key, name);
      layers.push({ kind: 'aes-256-gcm', header: h });
    } else {
      try {
        const out = decodeHeatshrinkLayer(cur.subarray(COMPRESSED_HEADER_SIZE), h, name, opts, spill);
        if (out instanceof FileSource) spilled = out;
        else cur = out;
      } catch (err) {
        if (err instanceof HeatshrinkError) {
          throw new CanedgeError(
            err.code,
            name,
            err.message.startsWith(name) ? err.message.slice(name.length + 2) : err.message,
            { cause: err },
          );
        }
        throw err;
      }
      layers.push({ kind: 'heatshrink', header: h });
      if (spilled) {
        // the innermost layer (compression) is decoded: what is left must be MDF (see the checks above)
        const head = await spilled.read(0, 12);
        if (sniff(head) !== 'mdf') {
          spilled.close();
          throw new CanedgeError(
            sniff(head) === 'generic' ? 'SF_ERR_CANEDGE_UNKNOWN_CONTAINER' : 'SF_ERR_CANEDGE_CORRUPT',
            name,
            `after the heatshrink layer the content is ${sniff(head) === 'generic' ? 'another Generic File container, which is not a known container' : `neither MDF4 nor a Generic File container (starts with ${describeStart(head)})`}`,
          );
        }
        break;
      }
    }
  }
  const kind = kindOf(layers);
  if (!kind)
    throw new CanedgeError(
      'SF_ERR_CANEDGE_UNKNOWN_CONTAINER',
      name,
      `unsupported layer order ${layers.map((l) => l.kind).join(' > ')}`,
    );
  return { mdf: spilled ?? cur, layers, kind };
}

/**
 * One heatshrink layer. In memory up to `maxInMemory` (the fast path: one growing buffer); beyond it (only with
 * `spill`) the stream is decoded again, chunk by chunk, into a temporary file that is unlinked once open — memory
 * stays at the window plus one chunk whatever the output, and the disk holds at most `maxDecodedSize`.
 */
function decodeHeatshrinkLayer(
  stream: Uint8Array,
  params: HeatshrinkParams,
  name: string,
  opts: OpenLogOptions,
  spill: boolean,
): Buffer | FileSource {
  const maxDecoded = opts.maxDecodedSize ?? DEFAULT_MAX_OUTPUT;
  const inMemory = spill ? Math.min(opts.maxInMemory ?? DEFAULT_MAX_IN_MEMORY, maxDecoded) : maxDecoded;
  try {
    return heatshrinkDecode(stream, params, { maxOutput: inMemory, name });
  } catch (err) {
    if (!(err instanceof HeatshrinkError && err.code === 'SF_ERR_CANEDGE_TOO_LARGE') || inMemory >= maxDecoded)
      throw err;
  }
  const tmp = join(opts.spillDir ?? tmpdir(), `sigflow-mfc-${process.pid}-${randomBytes(6).toString('hex')}.mdf`);
  let fd: number | null = openSyncOrThrow(tmp, name);
  try {
    const dec = new HeatshrinkDecoder(params, { maxOutput: maxDecoded, name, chunkSize: 1 << 20 });
    const emit = (chunk: Buffer) => {
      try {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd as number, chunk, at, chunk.length - at);
      } catch (e) {
        throw writeError(`${tmp} (the decompressed ${name})`, e);
      }
    };
    dec.push(stream, emit);
    dec.finish(emit);
    closeSync(fd);
    fd = null;
    const src = new FileSource(tmp, name);
    return src;
  } finally {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp); // open (or failed): the name goes now, the bytes when the source is closed
    } catch {
      // already gone
    }
  }
}

function openSyncOrThrow(path: string, name: string): number {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (e) {
    throw writeError(`${path} (the decompressed ${name})`, e);
  }
}

/**
 * Opens a log file of any kind and returns a random-access source over its MDF bytes. Plain MDF passes through
 * (the caller keeps ownership of `src`; closing the result closes it). Containers are read whole (bounded by
 * `maxContainerSize`) and decoded in memory; `src` is closed once read. On any error `src` is closed.
 */
export async function openLog(src: ByteSource, opts: OpenLogOptions = {}): Promise<OpenedLog> {
  const name = src.name;
  const headLen = Math.min(src.size, 64);
  let head: Uint8Array;
  let what: ReturnType<typeof sniff>;
  try {
    head = await src.read(0, headLen);
    what = sniff(head);
  } catch (err) {
    try {
      await src.close?.();
    } catch {
      // the read error is the one to report
    }
    throw err;
  }
  if (what === 'mdf') {
    const finalized = Buffer.from(head.buffer, head.byteOffset, 8).toString('latin1') === MDF_MAGIC_FINALIZED;
    return { name, kind: 'mdf', layers: [], deviceId: null, finalized, storedSize: src.size, source: src };
  }
  if (what === 'unknown') {
    await src.close?.();
    throw new CanedgeError(
      headLen < 12 ? 'SF_ERR_CANEDGE_TRUNCATED' : 'SF_ERR_CANEDGE_NOT_A_LOG',
      name,
      headLen < 12
        ? `only ${headLen} bytes: too short for an MDF ID block or a Generic File header`
        : `neither MDF4 nor a CANedge Generic File container (starts with ${describeStart(head)})`,
    );
  }
  try {
    // Validate the header before reading the whole file (clear errors for unknown types without the I/O).
    parseContainerHeader(head, name, src.size);
    const maxContainer = opts.maxContainerSize ?? 1 << 30;
    if (src.size > maxContainer) {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_TOO_LARGE',
        name,
        `container of ${src.size} bytes exceeds the limit of ${maxContainer} bytes`,
      );
    }
    const bytes = await readExact(src, 0, src.size);
    const { mdf, layers, kind } = await decodeLayers(bytes, name, opts, true);
    const magic = mdf instanceof FileSource ? Buffer.from(await mdf.read(0, 8)) : mdf.subarray(0, 8);
    const finalized = magic.toString('latin1') === MDF_MAGIC_FINALIZED;
    const outer = layers[0].header;
    return {
      name,
      kind,
      layers,
      deviceId: outer.deviceId,
      finalized,
      storedSize: src.size,
      source: mdf instanceof FileSource ? mdf : new BufferSource(mdf, name),
    };
  } finally {
    await src.close?.();
  }
}

/**
 * Reads only the container header (a few bytes): kind as far as the outer header tells it, and the device id.
 * For MFE/MFM the inner layer is only known after decrypting, so both report 'encrypted'.
 */
export async function peekContainer(
  src: ByteSource,
): Promise<{ outer: 'mdf' | 'compressed' | 'encrypted'; deviceId: string | null; header: GenericHeader | null }> {
  const head = await src.read(0, Math.min(src.size, 64));
  const what = sniff(head);
  if (what === 'mdf') return { outer: 'mdf', deviceId: null, header: null };
  if (what === 'unknown') {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_NOT_A_LOG',
      src.name,
      `neither MDF4 nor a CANedge Generic File container (starts with ${describeStart(head)})`,
    );
  }
  const h = parseContainerHeader(head, src.name, src.size);
  return { outer: 'iv' in h ? 'encrypted' : 'compressed', deviceId: h.deviceId, header: h };
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding (tests build MFE/MFM files with these; sigflow may write containers later)

function deviceIdBytes(deviceId: string | number): number {
  const v = typeof deviceId === 'number' ? deviceId : Number.parseInt(deviceId, 16);
  if (typeof deviceId === 'string' && !/^[0-9A-Fa-f]{1,8}$/.test(deviceId))
    throw new SigflowError('SF_ERR_CANEDGE_BUILD_OPTIONS', `device id ${deviceId} is not 1–8 hex digits`);
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new SigflowError('SF_ERR_CANEDGE_BUILD_OPTIONS', `device id ${deviceId} is not a u32`);
  return v;
}

function genericHeader(
  size: number,
  type: number,
  subtype: number,
  deviceId: string | number,
  version: [number, number],
): Buffer {
  const h = Buffer.alloc(size);
  GENERIC_MAGIC.copy(h, 0);
  h[12] = version[0];
  h[13] = version[1];
  h[14] = type;
  h[15] = subtype;
  h.writeUInt32BE(deviceIdBytes(deviceId), 16);
  return h;
}

export interface CompressOptions {
  deviceId: string | number;
  windowBits?: number;
  lookaheadBits?: number;
  version?: [number, number];
}

/**
 * Builds an MFC: 28-byte header (lookahead in bits at 20, window as a byte count 2^windowBits at 24, both u32 BE,
 * as the device writes them) + heatshrink stream.
 */
export function buildCompressedContainer(content: Uint8Array, opts: CompressOptions): Buffer {
  const params = { windowBits: opts.windowBits ?? 10, lookaheadBits: opts.lookaheadBits ?? 4 };
  const h = genericHeader(
    COMPRESSED_HEADER_SIZE,
    TYPE_COMPRESSED,
    SUBTYPE_HEATSHRINK,
    opts.deviceId,
    opts.version ?? [0, 0],
  );
  h.writeUInt32BE(params.lookaheadBits, 20);
  h.writeUInt32BE(2 ** params.windowBits, 24);
  return Buffer.concat([h, heatshrinkEncode(content, params)]);
}

export interface EncryptOptions {
  deviceId: string | number;
  password: string;
  iterations?: number;
  /** 16 bytes; random when omitted. */
  salt?: Uint8Array;
  /** 12 bytes; random when omitted. Never reuse an IV with the same key. */
  iv?: Uint8Array;
  version?: [number, number];
}

/**
 * Builds an MFE: 52-byte header (IV at 20–31, PBKDF2 iterations u32 BE at 32–35, salt at 36–51), AES-256-GCM
 * ciphertext with the whole header as additional authenticated data, 16-byte tag at the end.
 */
export async function buildEncryptedContainer(content: Uint8Array, opts: EncryptOptions): Promise<Buffer> {
  const iterations = opts.iterations ?? 100_000;
  const salt = Buffer.from(opts.salt ?? randomBytes(16));
  const iv = Buffer.from(opts.iv ?? randomBytes(12));
  const bad = (message: string) => new SigflowError('SF_ERR_CANEDGE_BUILD_OPTIONS', message);
  if (salt.length !== 16) throw bad('salt must be 16 bytes');
  if (iv.length !== 12) throw bad('iv must be 12 bytes');
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS)
    throw bad(`iterations ${iterations} out of range`);
  const h = genericHeader(
    ENCRYPTED_HEADER_SIZE,
    TYPE_ENCRYPTED,
    SUBTYPE_AES256_GCM,
    opts.deviceId,
    opts.version ?? [0, 0],
  );
  iv.copy(h, 20);
  h.writeUInt32BE(iterations, 32);
  salt.copy(h, 36);
  const key = await deriveKey(opts.password, salt, iterations);
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_SIZE });
  c.setAAD(h);
  const body = Buffer.concat([c.update(content), c.final()]);
  return Buffer.concat([h, body, c.getAuthTag()]);
}

/** Builds an MFM: an MFE whose plaintext is an MFC of `content` (see README.md for why this layout). */
export async function buildMfm(
  content: Uint8Array,
  opts: EncryptOptions & Omit<CompressOptions, 'deviceId'>,
): Promise<Buffer> {
  const mfc = buildCompressedContainer(content, opts);
  return buildEncryptedContainer(mfc, opts);
}
