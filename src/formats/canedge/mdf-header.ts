/**
 * The few MDF4 header facts a log index needs, read with three small reads: the ID block (finalised or not,
 * version, program), the HD block (session start time, time zone) and the HD comment (CANedge device and file
 * information). The full MDF4 reader lives in src/formats/mdf4; this exists so indexing a tree does not parse
 * channel groups just to learn who wrote a file and when the session started.
 *
 * The HD comment (CANedge `Device Information` / `File Information` trees, both Device Information trees of
 * FW 01.03.01 merged) is parsed by the MDF4 reader's `parseHeaderComment`, so metadata has one shape in sigflow.
 */
import { type ByteSource, readExact } from '../../io/index.js';
import { type HeaderMetadata, parseHeaderComment } from '../mdf4/index.js';
import { CanedgeError } from './errors.js';

/** Device and file information from the CANedge HD comment (the MDF4 reader's shape, snake_case as in the reference JSON). */
export type CanedgeMetadata = HeaderMetadata;

export interface MdfHeaderInfo {
  fileId: string;
  version: string;
  program: string;
  finalized: boolean;
  unfinalizedFlags: number;
  /** HD start time, ns since the Unix epoch. */
  startNs: bigint;
  tzOffsetMin: number;
  dstOffsetMin: number;
  timeFlags: number;
  metadata: CanedgeMetadata;
  /** Raw comment fields keyed by tree name, then entry name (values as written, space padding included). */
  commentFields: Record<string, Record<string, string>>;
}

const MAX_COMMENT = 1 << 20;

function u64At(b: Buffer, at: number, name: string, what: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CanedgeError('SF_ERR_CANEDGE_CORRUPT', name, `${what} ${v} at byte ${at} is not a valid offset`);
  return Number(v);
}

/** Reads ID, HD and the HD comment. Errors name the file and byte offset. */
export async function readMdfHeader(src: ByteSource): Promise<MdfHeaderInfo> {
  const name = src.name;
  if (src.size < 64 + 24 + 6 * 8 + 32) {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_TRUNCATED',
      name,
      `${src.size} bytes: too short for the MDF ID and HD blocks`,
    );
  }
  const id = Buffer.from(await readExact(src, 0, 64));
  const fileId = id.toString('latin1', 0, 8);
  if (fileId !== 'MDF     ' && fileId !== 'UnFinMF ') {
    throw new CanedgeError('SF_ERR_CANEDGE_NOT_A_LOG', name, `not an MDF file (ID ${JSON.stringify(fileId)})`);
  }
  const version = id.toString('latin1', 8, 16).replace(/\0/g, '').trim();
  const program = id.toString('latin1', 16, 24).replace(/\0/g, '').trim();
  const unfinalizedFlags = id.readUInt16LE(60);
  const hdAt = 64;
  const hd = Buffer.from(await readExact(src, hdAt, 24 + 6 * 8 + 32));
  if (hd.toString('latin1', 0, 4) !== '##HD') {
    throw new CanedgeError(
      'SF_ERR_CANEDGE_CORRUPT',
      name,
      `at byte ${hdAt}: expected ##HD block, found ${JSON.stringify(hd.toString('latin1', 0, 4))}`,
    );
  }
  const linkCount = u64At(hd, 16, name, 'HD link count');
  if (linkCount < 6)
    throw new CanedgeError('SF_ERR_CANEDGE_CORRUPT', name, `at byte ${hdAt}: HD block has ${linkCount} links, needs 6`);
  const mdLink = u64At(hd, 24 + 5 * 8, name, 'HD comment link');
  const d = 24 + linkCount * 8;
  const hdData = linkCount === 6 ? hd.subarray(d) : Buffer.from(await readExact(src, hdAt + d, 32));
  const startNs = hdData.readBigUInt64LE(0);
  const tzOffsetMin = hdData.readInt16LE(8);
  const dstOffsetMin = hdData.readInt16LE(10);
  const timeFlags = hdData[12];

  let commentFields: Record<string, Record<string, string>> = {};
  let metadata: HeaderMetadata = {};
  if (mdLink !== 0) {
    if (mdLink + 24 > src.size)
      throw new CanedgeError(
        'SF_ERR_CANEDGE_CORRUPT',
        name,
        `HD comment link ${mdLink} points past the end (size ${src.size})`,
      );
    const mh = Buffer.from(await readExact(src, mdLink, 24));
    const kind = mh.toString('latin1', 0, 4);
    if (kind !== '##MD' && kind !== '##TX') {
      throw new CanedgeError(
        'SF_ERR_CANEDGE_CORRUPT',
        name,
        `at byte ${mdLink}: HD comment is ${JSON.stringify(kind)}, expected ##MD or ##TX`,
      );
    }
    const len = u64At(mh, 8, name, 'comment block length');
    if (len < 24 || mdLink + len > src.size)
      throw new CanedgeError(
        'SF_ERR_CANEDGE_CORRUPT',
        name,
        `at byte ${mdLink}: comment block length ${len} passes the end`,
      );
    const textLen = Math.min(len - 24, MAX_COMMENT);
    const raw = Buffer.from(await readExact(src, mdLink + 24, textLen));
    const nul = raw.indexOf(0);
    const xml = raw.toString('utf8', 0, nul < 0 ? raw.length : nul);
    if (kind === '##MD') ({ fields: commentFields, metadata } = parseHeaderComment(xml));
  }
  return {
    fileId,
    version,
    program,
    finalized: fileId === 'MDF     ' && unfinalizedFlags === 0,
    unfinalizedFlags,
    startNs,
    tzOffsetMin,
    dstOffsetMin,
    timeFlags,
    metadata,
    commentFields,
  };
}
