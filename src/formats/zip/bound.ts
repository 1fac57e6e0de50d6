/**
 * How large a zip archive is once inflated — measured, not believed: a zip bomb (an .xlsx of 1.6 MB whose sheets
 * inflate to 1.6 GB) would otherwise be inflated in memory by the library that reads it. Each entry named by the
 * central directory is inflated (raw deflate, or stored) as a stream whose output is only counted, and stopped as
 * soon as the total over all entries passes the bound: memory stays at one chunk. Nothing is kept: the caller
 * hands the file to its reader afterwards.
 */
import { createInflateRaw } from 'node:zlib';
import { SigflowError } from '../../errors/index.js';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export interface ZipBound {
  /** Bytes all entries may inflate to, together. */
  readonly maxBytes: number;
  /** Entries at most. */
  readonly maxEntries: number;
}

/**
 * Checks that `zip` (a whole archive in memory) inflates to at most `bound.maxBytes` over at most
 * `bound.maxEntries` entries; returns the inflated total. SF_ERR_ZIP_BOUND naming `name` and the entry otherwise,
 * SF_ERR_ZIP_FORMAT when the archive's directory cannot be read.
 */
export async function zipInflatedSize(zip: Uint8Array, name: string, bound: ZipBound): Promise<number> {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const bad = (why: string) => new SigflowError('SF_ERR_ZIP_FORMAT', `${name}: ${why}`, { where: name });
  // the end-of-central-directory record: in the last 64 KiB + 22 bytes (a comment may follow it)
  let eocd = -1;
  for (let p = zip.length - 22; p >= Math.max(0, zip.length - 22 - 65_535); p--) {
    if (v.getUint32(p, true) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw bad('not a zip archive (no end of central directory)');
  const entries = v.getUint16(eocd + 10, true);
  const cdSize = v.getUint32(eocd + 12, true);
  const cdAt = v.getUint32(eocd + 16, true);
  if (entries === 0xffff || cdAt === 0xffffffff) throw bad('a ZIP64 archive (larger than any workbook should be)');
  if (entries > bound.maxEntries)
    throw new SigflowError('SF_ERR_ZIP_BOUND', `${name}: ${entries} entries (at most ${bound.maxEntries})`, {
      where: name,
    });
  // readers differ in what they trust (JSZip reads records while their signature matches, whatever the count,
  // and shifts offsets for bytes before the archive): only an archive every reader reads the same way is measured
  // — its directory right before the end record, holding exactly the records it counts
  if (cdAt + cdSize !== eocd) throw bad('its central directory does not end where the end record begins');
  let total = 0;
  let p = cdAt;
  for (let i = 0; p < eocd || i < entries; i++) {
    if (i >= entries || p + 46 > eocd || v.getUint32(p, true) !== CENTRAL)
      throw bad(`its central directory does not hold the ${entries} entries it counts`);
    const method = v.getUint16(p + 10, true);
    const compressed = v.getUint32(p + 20, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const local = v.getUint32(p + 42, true);
    const entry = Buffer.from(zip.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (p > eocd) throw bad(`central directory entry ${entry} runs into the end record`);
    if (local + 30 > zip.length || v.getUint32(local, true) !== LOCAL) throw bad(`entry ${entry} has no local header`);
    const dataAt = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (dataAt + compressed > zip.length) throw bad(`entry ${entry} runs past the end of the file`);
    const data = zip.subarray(dataAt, dataAt + compressed);
    const left = bound.maxBytes - total;
    const tooBig = () =>
      new SigflowError(
        'SF_ERR_ZIP_BOUND',
        `${name}: entry ${entry} inflates beyond what is left of the limit of ${bound.maxBytes} bytes for the whole archive (a zip bomb?)`,
        { where: name },
      );
    if (method === 0) {
      if (compressed > left) throw tooBig();
      total += compressed;
    } else if (method === 8) {
      const n = await inflatedLength(data, left);
      if (n === null) throw tooBig();
      if (typeof n === 'string') throw bad(`entry ${entry} does not inflate (${n})`);
      total += n;
    } else throw bad(`entry ${entry} uses compression method ${method} (only stored and deflate are read)`);
  }
  return total;
}

/** The length `data` (raw deflate) inflates to, counted as it streams; null beyond `max`; a string: why it failed. */
function inflatedLength(data: Uint8Array, max: number): Promise<number | null | string> {
  return new Promise((resolve) => {
    const z = createInflateRaw();
    let n = 0;
    z.on('data', (chunk: Buffer) => {
      n += chunk.length;
      if (n > max) {
        z.destroy();
        resolve(null);
      }
    });
    z.on('error', (e) => resolve(e.message));
    z.on('end', () => resolve(n));
    z.end(data);
  });
}
