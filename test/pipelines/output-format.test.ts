/**
 * The NDJSON / CSV writers of `sigflow frames` and `sigflow decode` (src/pipelines/logdecode/output) write bytes
 * straight into their buffer since issue 16; their text must stay exactly what the string-building writers before
 * it produced. The expected texts below were produced by the writers and formatting functions of the code before
 * issue 16 (jsonNumber / csvNumber, formatFrames, formatValues) over the same synthetic batches and pasted here:
 * tricky doubles (-0, NaN, ±Infinity, 5e-324, 1.7976931348623157e308, exponent switches, 2^53 neighbours), exact
 * wide integers (2^53+1, -2^63, 2^64-1), names, labels and devices needing JSON and CSV escaping (quotes, backslash,
 * control characters, line breaks, non-ASCII), times on both sides of the number fast path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { ByteWriter, writeFinite } from '../../src/pipelines/logdecode/output/byte-writer.js';
import { csvField } from '../../src/pipelines/logdecode/output/format.js';
import { formatFrames } from '../../src/pipelines/logdecode/output/frames.js';
import { deviceText, formatValues } from '../../src/pipelines/logdecode/output/values.js';
import { writeWideCsv } from '../../src/pipelines/logdecode/output/wide.js';
import { NsFormatter } from '../../src/pipelines/logdecode/time.js';
import { tempDir } from '../harness/temp.js';

/** Tricky doubles: -0, NaN, ±Infinity, extremes, exponent switches, 2^53 neighbours, scaled values. */
const VALUES = [
  -0,
  0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  5e-324,
  -5e-324,
  2.2250738585072014e-308,
  1.7976931348623157e308,
  -1.7976931348623157e308,
  1e21,
  1e21 - 65536,
  123456789012345680000,
  1e-7,
  1.5e-7,
  1e-6,
  0.000001234,
  0.001,
  0.0009999,
  0.1 + 0.2,
  1 / 3,
  -2 / 3,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  2 ** 31,
  -(2 ** 31),
  4294967295,
  4.35,
  -40.5,
  12,
  -7,
  999999.9999999999,
  1e15 + 0.5,
  123456.789,
  0.05,
  273.15,
  -273.15,
  1.5e300,
  2.5e-300,
  100,
  1e6,
  1e-5 * 3,
];
/** Exact integers of wide signals (NDJSON strings, CSV digits). */
const WIDE = [2n ** 53n + 1n, -(2n ** 63n), 2n ** 64n - 1n, 0n];
/** Names and labels that need JSON or CSV escaping. */
const NAMES = [
  'plain',
  'quo"te',
  'com,ma',
  'back\\slash',
  'line\nbreak',
  'cr\rx',
  'tab\tand\u0001ctl',
  'motör_温度',
  'emoji😀',
];
const DEVICES = ['2F6913DB', 'dev "q", \\ \n é 漢 \u0007'];

interface FakeDb {
  include: Uint8Array;
  wide: boolean[];
  messageJ1939: boolean[];
  hasChoices: boolean[];
  jsonPrefix: string[];
  csvPrefix: string[];
  db: { labels: string[] };
}

/** A DecoderConfig-like database: one signal per name (× 2: the second half wide), labels from NAMES. */
function fakeDb(csvField: (s: string) => string, j1939: boolean): FakeDb {
  const n = NAMES.length * 2;
  const jsonPrefix: string[] = [];
  const csvPrefix: string[] = [];
  for (let gi = 0; gi < n; gi++) {
    const mn = NAMES[gi % NAMES.length];
    const sn = `${NAMES[(gi + 3) % NAMES.length]}${gi}`;
    jsonPrefix.push(`"message":${JSON.stringify(mn)},"signal":${JSON.stringify(sn)},"value":`);
    csvPrefix.push(`${csvField(mn)},${csvField(sn)},`);
  }
  return {
    include: new Uint8Array(n).fill(1).map((_, gi) => (gi === 5 ? 0 : 1)),
    wide: Array.from({ length: n }, (_, gi) => gi >= NAMES.length),
    messageJ1939: [false, j1939],
    hasChoices: Array.from({ length: n }, (_, gi) => gi % 2 === 0),
    jsonPrefix,
    csvPrefix,
    db: { labels: ['', ...NAMES] },
  };
}

/**
 * A batch of `frames` CAN data frames (plus one LIN frame and one remote frame, never decoded), each carrying a
 * run of signals of database 0 (channel 1) or 1 (channel 2) with the tricky values in turn.
 */
function fakeValueView(
  csvField: (s: string) => string,
  time: unknown,
  device: string,
): { view: unknown; config: unknown } {
  const frames = 24;
  const n = frames + 2;
  const type = new Uint8Array(n);
  const bus = new Uint8Array(n);
  const channel = new Uint8Array(n);
  const id = new Uint32Array(n);
  const offsetNs = new Float64Array(n);
  type[frames] = 3; // LIN frame
  bus[frames] = 1;
  type[frames + 1] = 1; // CAN remote
  const dbs = [fakeDb(csvField, false), fakeDb(csvField, true)];
  const decoded = dbs.map(() => ({
    message: new Int32Array(n).fill(-1),
    start: new Uint32Array(n + 1),
    signal: [] as number[],
    phys: [] as number[],
    widePhys: [] as (bigint | undefined)[],
    choice: [] as number[],
  }));
  let v = 0;
  for (let i = 0; i < n; i++) {
    offsetNs[i] = i * 1_000_123 + (i === 3 ? 9_007_199_254_740_000 - 2e9 : 0);
    const d = i % 2;
    channel[i] = d + 1;
    id[i] = d ? 0x18fef100 + i : 0x100 + i;
    for (const out of decoded) out.start[i] = out.phys.length;
    if (i < frames && i !== 7) {
      const out = decoded[d];
      out.message[i] = d;
      for (let k = 0; k < 6; k++) {
        const gi = (i * 5 + k) % (NAMES.length * 2);
        out.signal.push(gi);
        const wide = gi >= NAMES.length && k !== 5 ? WIDE[(i + k) % WIDE.length] : undefined;
        out.widePhys.push(wide);
        out.phys.push(wide !== undefined ? Number(wide) : gi === 5 ? 0 : VALUES[v++ % VALUES.length]);
        out.choice.push((i + k) % 3 === 0 ? -1 : (i * 7 + k) % (NAMES.length + 1));
      }
    }
    for (const out of decoded) out.start[i + 1] = out.phys.length;
  }
  const view = {
    file: { device },
    frames: { count: n, type, bus, channel, id, offsetNs },
    time,
    decoded: decoded.map((o) => ({
      ...o,
      signal: Uint32Array.from(o.signal),
      phys: Float64Array.from(o.phys),
      choice: Int32Array.from(o.choice),
    })),
    dbsOfChannel: Array.from({ length: 256 }, (_, c) => (c === 1 ? [0] : c === 2 ? [1] : c === 3 ? [0, 1] : [])),
    config: { databases: dbs },
  };
  return { view, config: view.config };
}

/** A batch of raw events: CAN classic/FD, extended, TX, EDL/BRS, remote, error, LIN; data of 0…64 bytes. */
function fakeFrameView(time: unknown, device: string): unknown {
  const shapes = [
    [0, 0, 0x123, 0, 8, 8],
    [0, 0, 0x18fef1fe, 1, 8, 8],
    [0, 0, 0x7ff, 2, 0, 0],
    [0, 0, 0x1abcdef0, 1 | 4 | 8, 15, 64],
    [0, 0, 0x10, 4, 9, 12],
    [1, 0, 0x123, 0, 4, 0],
    [2, 0, 0, 0, 0, 0],
    [3, 1, 0x3c, 0, 8, 8],
    [4, 1, 0x3d, 2, 2, 2],
    [0, 0, 0x123, 0, 8, 8],
  ];
  const n = shapes.length * 3;
  const type = new Uint8Array(n);
  const bus = new Uint8Array(n);
  const channel = new Uint8Array(n);
  const id = new Uint32Array(n);
  const flags = new Uint8Array(n);
  const dlc = new Uint8Array(n);
  const length = new Uint8Array(n);
  const dataStart = new Uint32Array(n + 1);
  const offsetNs = new Float64Array(n);
  const bytes: number[] = [];
  for (let i = 0; i < n; i++) {
    const [t, b, ident, f, d, len] = shapes[i % shapes.length];
    type[i] = t;
    bus[i] = b;
    channel[i] = 1 + (i % 3) * 100;
    id[i] = ident;
    flags[i] = f;
    dlc[i] = d;
    length[i] = len;
    offsetNs[i] = i * 999_999_937 + (i === 5 ? 9_007_199_254_740_000 - 2e9 : 0);
    dataStart[i] = bytes.length;
    for (let k = 0; k < len; k++) bytes.push((i * 37 + k * 11) & 0xff);
  }
  dataStart[n] = bytes.length;
  return {
    file: { device },
    frames: { count: n, type, bus, channel, id, flags, dlc, length, dataStart, offsetNs, data: Uint8Array.from(bytes) },
    time,
  };
}

const STARTS = [0n, 1_700_000_000_123_456_789n, 999_999_999n, -5_000_000_123n, 9_100_000_000_000_000_000n];

/** What the writers produce over `fill`, through a stream as the jobs use them. */
async function run(fill: (w: ByteWriter) => void | Promise<void>): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(c, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  const w = new ByteWriter(out);
  await fill(w);
  await w.flush();
  return Buffer.concat(chunks).toString('utf8');
}

/** sha256 of writeWideCsv's output before issue 16 over the rows of the wide CSV test. */
const EXPECTED_WIDE_HASH = '192e511b0e48c4aab99cd9d01a0e0e0ffc15db8b00b00d34299db9f0a3f2cccb';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** jsonNumber(v) of the code before issue 16, per VALUES entry. */
const EXPECTED_JSON: string[] = [
  '0',
  '0',
  '"NaN"',
  '"Infinity"',
  '"-Infinity"',
  '5e-324',
  '-5e-324',
  '2.2250738585072014e-308',
  '1.7976931348623157e+308',
  '-1.7976931348623157e+308',
  '1e+21',
  '1e+21',
  '123456789012345680000',
  '1e-7',
  '1.5e-7',
  '0.000001',
  '0.000001234',
  '0.001',
  '0.0009999',
  '0.30000000000000004',
  '0.3333333333333333',
  '-0.6666666666666666',
  '9007199254740992',
  '9007199254740994',
  '-9007199254740992',
  '9007199254740991',
  '-9007199254740991',
  '2147483648',
  '-2147483648',
  '4294967295',
  '4.35',
  '-40.5',
  '12',
  '-7',
  '999999.9999999999',
  '1000000000000000.5',
  '123456.789',
  '0.05',
  '273.15',
  '-273.15',
  '1.5e+300',
  '2.5e-300',
  '100',
  '1000000',
  '0.000030000000000000004',
];
/** csvNumber(v) of the code before issue 16, per VALUES entry. */
const EXPECTED_CSV: string[] = [
  '0',
  '0',
  'NaN',
  'Infinity',
  '-Infinity',
  '5e-324',
  '-5e-324',
  '2.2250738585072014e-308',
  '1.7976931348623157e+308',
  '-1.7976931348623157e+308',
  '1e+21',
  '1e+21',
  '123456789012345680000',
  '1e-7',
  '1.5e-7',
  '0.000001',
  '0.000001234',
  '0.001',
  '0.0009999',
  '0.30000000000000004',
  '0.3333333333333333',
  '-0.6666666666666666',
  '9007199254740992',
  '9007199254740994',
  '-9007199254740992',
  '9007199254740991',
  '-9007199254740991',
  '2147483648',
  '-2147483648',
  '4294967295',
  '4.35',
  '-40.5',
  '12',
  '-7',
  '999999.9999999999',
  '1000000000000000.5',
  '123456.789',
  '0.05',
  '273.15',
  '-273.15',
  '1.5e+300',
  '2.5e-300',
  '100',
  '1000000',
  '0.000030000000000000004',
];
/** sha256 of the whole output of the writers before issue 16, per batch and options. */
const EXPECTED_HASHES: Record<string, string> = {
  'frames 0 0 ndjson': '0779eaa2a58ce7ff1a9cdeb17e871a2f7194495ca8dd1c4027d573fdad04103d',
  'values 0 0 ndjson': '5999923216fed7009b327b269b8c50be03e44ab1a8bbeadcd6319bf950f0eeac',
  'values 0 0 ndjson choices': '834c2a012c06b31f14f0455a38f9eac53dd32f89573eb0a81ceb5ece39e55156',
  'frames 0 0 csv': 'cac5243ab1c07fc7c29edb8fb98746de20d8b8415eb2066ca3ef341f2c2dcbda',
  'values 0 0 csv': '28b3dd7b1fd45aeaeaf0646df6dd2593e289118f65f1d89eb57a60005bff19af',
  'values 0 0 csv choices': 'bd2ad430dfd97897403c9e7cdea316c3d574a9dac4bb5feb8251a0b94ea120f8',
  'frames 0 1700000000123456789 ndjson': '66b108ca59da0ceb8968c24bbd98ece2baf6534216131373d2beaa4a22d770a1',
  'values 0 1700000000123456789 ndjson': '1b2af02f79d0c604dab63119de08f0813e29a22593d7e45b32b14185e56a0109',
  'values 0 1700000000123456789 ndjson choices': '7005fb780ea21a091d83ce3d7e6e93f7df67ba9f3b994e432b6358b47c3ac377',
  'frames 0 1700000000123456789 csv': '25506aa9dba08784d1c6d41941acbacbbe4cc614fa0b0001b97520331843e702',
  'values 0 1700000000123456789 csv': '84b7bfad64232a60077204557b1faa0ccf323f37ff3279699c3093a4446efdb6',
  'values 0 1700000000123456789 csv choices': '04f32e38f8c11d4310d366c5a9381d00452273a5da12f70ec878f8bb6e544682',
  'frames 0 999999999 ndjson': 'd945c093d42b386bd2f2e9b636812478ea579a331f7588af520901e2280ac719',
  'values 0 999999999 ndjson': 'e6469245350b467e13d00f7ad2df34efbb372b0e1bbee4d1004c7d989df15333',
  'values 0 999999999 ndjson choices': 'aa96faefe7d39937ccdb136f11b37bfdcfc472a68c4c621f55918b3fbe3ca240',
  'frames 0 999999999 csv': '45cce30a84196886d5d4cd299c1b2eec041b12e2192507b608d2c269d36ae1fe',
  'values 0 999999999 csv': '9f50cf55c832f633b627c2889149c0f4ff2184936df0690b48eae3ce9d433799',
  'values 0 999999999 csv choices': '948f8309b5e3b5dbb9b9aaf1aedd4d8f67408bdf30b2dad43246b7f75b7d787b',
  'frames 0 -5000000123 ndjson': 'c96566612432296e6d535794cd100296ade61d29cde711746b205864d057c52e',
  'values 0 -5000000123 ndjson': 'd3c42db1230b3eec396cc624dcc8a2aa929cc22e2bcc6564bcc9619e825ea344',
  'values 0 -5000000123 ndjson choices': 'd6604341a311fcdd9a9038d5202ebd9ff4a926aac2f19d173989697af8f4116c',
  'frames 0 -5000000123 csv': '793c92d942a9318eaeef62602d54d4f4305d7e9f270436f7e9fdcf03264bf8c5',
  'values 0 -5000000123 csv': '92d9a80f3c68b753c14ff07a4ad2c7bb4e18049c3b6e5a795646a8e6a5924f83',
  'values 0 -5000000123 csv choices': 'b2a34b5a7e401ac573c84e05679d0612086f1d616f52e49473dd843870a7fdd3',
  'frames 0 9100000000000000000 ndjson': 'f1741f84f4736a00a4bda3f67e5bd68d17429938c0c93c1c54fdf955ff868cd0',
  'values 0 9100000000000000000 ndjson': '92f87e3c5edfbd52c5210b0f6f601a22d9f404c1b435dd22a89c04949ae81ee8',
  'values 0 9100000000000000000 ndjson choices': 'aef4b46e63722ec5c9e91bcb993187239d6ca9bbc920033efbc03fd051ded692',
  'frames 0 9100000000000000000 csv': '2ee6c1d96dd36fef3f78c8df042b73a26cd1e1fdcafac03c9299f306ab1ccbaa',
  'values 0 9100000000000000000 csv': 'ac8517d31c260694bce064a9a08f1d807fd4682cd29cc5730b9989f99112b226',
  'values 0 9100000000000000000 csv choices': 'a2297018d8a57d9c7d188ebe6b3895c23a1a63c4e6498b0279e87f442b1cf955',
  'frames 1 0 ndjson': 'b3257c3655a3c3705feab038964cacd148162a21365c12670a41e50dc86cee13',
  'values 1 0 ndjson': '1e0add4ed832b389ef4b0e0c86f6a13f0aed09167f4cad92e9ae40c4cc2f8ed4',
  'values 1 0 ndjson choices': 'bd87f204f5223b64fec8c53da650bd8c223d3d02baecf601603c08a4ffb89672',
  'frames 1 0 csv': 'c38699d96aae3ee4ffbe216855320ebaf94d801da12fc57c022573a44cb90873',
  'values 1 0 csv': '4e9bd7bbbdc84dfaa697193993e0a78c5366730172ddb8421fc9db3c595a78db',
  'values 1 0 csv choices': 'e93f212bc77d8377d83bc0d23672528e6eb4cafe07f60c2eb9f483144fd18cd0',
  'frames 1 1700000000123456789 ndjson': 'd32defeb1f919fb0542cbb422dbab483bfaf3d9b5142ebb60edca1c1c3c1eea1',
  'values 1 1700000000123456789 ndjson': 'be965691087df2ad31acef6c6d01527c0a52a5e4a4b2a1749d53e18a853023ad',
  'values 1 1700000000123456789 ndjson choices': '58544fc6b3c8c0560f4c86d9d7134330a626ce688b41d7f7fbe10f1e477610fa',
  'frames 1 1700000000123456789 csv': '60bc8688788887a5d5673f42ff44f2ad14fbe68b43f08d265dfcd6de4b038268',
  'values 1 1700000000123456789 csv': '19e0004bb14404f68099e78acefb20ff6bb38e41c4b4fef3b98ec6d6172c8e52',
  'values 1 1700000000123456789 csv choices': '17b3341115596c2c8bb6201f7fa3cdd240f433f9e280a3f1f4f437a147b32e1a',
  'frames 1 999999999 ndjson': '6bcb55ece227db1afe749e4a6607975630f279f2f7c152a6a4a9e814b4a70b72',
  'values 1 999999999 ndjson': 'c91389e4d9f75e245c216e5884a522ab99448faad05c4ba80cfc17678d61282f',
  'values 1 999999999 ndjson choices': '6d260d6a4611cd2ae1a4ba3ba8e9b5766ca5c04e117bcfa5a02c841aa692befe',
  'frames 1 999999999 csv': '429c5cc5e67ed78574f702d92a13e3b697a2a3ba0c56acc44cb976e1497cdae4',
  'values 1 999999999 csv': '2d050b3b445feacdcbe69b2e618cf20c815408fa9b1151483201c55751d621e3',
  'values 1 999999999 csv choices': 'f75e75bea80ef6107ad536bd4ba34989e93d154cdca32eb5bbd5fa2da49c1a17',
  'frames 1 -5000000123 ndjson': '6aa7a550f501ea5b7a7502900351cc0e663a734c3a5aa8b2d9ed29941773f0a0',
  'values 1 -5000000123 ndjson': 'a6d474cb529c332423d63ca020a3f5d750d3ce5bc1bce14a68d92a2ee971d48a',
  'values 1 -5000000123 ndjson choices': '637cbd9dbd4c4eae060caa77c9931d828f29235b8ab9f9a025185cf77b53a3dc',
  'frames 1 -5000000123 csv': '3bf698b377f71bdeb7d0bad8db6ce4d9bd603638366efd5ad2f5d05c75b4dd91',
  'values 1 -5000000123 csv': '97c096b61bc76e9fec3a5822bd3e67c26a5823e767bace20dd7154a27606e0d1',
  'values 1 -5000000123 csv choices': 'e3ec3ea5bf321ea7d3afb43b5000ae3d42ebdfe6f8bf324030467de83304ee94',
  'frames 1 9100000000000000000 ndjson': 'e50b3b716384c7d55427f7f05f734b216d192ef40ecae23ea20b0c1f3948c3ae',
  'values 1 9100000000000000000 ndjson': '04f0a8e34edc406c5158e4eb8af125c5f1a58728441ec28c713c2a03a96427fa',
  'values 1 9100000000000000000 ndjson choices': '3d8841d810772df2113dff20b2212bbcc85030d68e9b68c3029d3b120a7eb333',
  'frames 1 9100000000000000000 csv': '6e3b8408c155afad3a9d4a726c548a576e3f2711e412d906693504b44c6beaa8',
  'values 1 9100000000000000000 csv': 'c3870b4e1326f9d1ddb003ac1f17ab636c90b9ed4d0a80e6d206a6eb090ce94a',
  'values 1 9100000000000000000 csv choices': '59fcadd76bd87d5d7b70beeda2873a317f0a4f9adf3026195b55bf6714421249',
};
/** Whole outputs (frames) and their first lines (values) of the writers before issue 16. */
const EXPECTED_SAMPLES: Record<string, string> = {
  'frames 1 1700000000123456789 ndjson':
    '{"t":"1700000000123456789","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"000b16212c37424d"}\n{"t":"1700000001123456726","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":419361278,"ext":true,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"25303b46515c6772"}\n{"t":"1700000002123456663","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":2047,"ext":false,"dir":1,"dlc":0,"len":0,"edl":false,"brs":false,"data":""}\n{"t":"1700000003123456600","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":448585456,"ext":true,"dir":0,"dlc":15,"len":64,"edl":true,"brs":true,"data":"6f7a85909ba6b1bcc7d2dde8f3fe09141f2a35404b56616c77828d98a3aeb9c4cfdae5f0fb06111c27323d48535e69747f8a95a0abb6c1ccd7e2edf8030e1924"}\n{"t":"1700000004123456537","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":16,"ext":false,"dir":0,"dlc":9,"len":12,"edl":true,"brs":false,"data":"949faab5c0cbd6e1ecf7020d"}\n{"t":"1709007202378196473","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":291,"ext":false,"dir":0,"dlc":4,"len":0,"edl":false,"brs":false,"kind":"remote","data":""}\n{"t":"1700000006123456411","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":0,"ext":false,"dir":0,"dlc":0,"len":0,"edl":false,"brs":false,"kind":"error","data":""}\n{"t":"1700000007123456348","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"LIN","chn":101,"id":60,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"030e19242f3a4550"}\n{"t":"1700000008123456285","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"LIN","chn":201,"id":61,"ext":false,"dir":1,"dlc":2,"len":2,"edl":false,"brs":false,"kind":"error","data":"2833"}\n{"t":"1700000009123456222","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"4d58636e79848f9a"}\n{"t":"1700000010123456159","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"727d88939ea9b4bf"}\n{"t":"1700000011123456096","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":419361278,"ext":true,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"97a2adb8c3ced9e4"}\n{"t":"1700000012123456033","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":2047,"ext":false,"dir":1,"dlc":0,"len":0,"edl":false,"brs":false,"data":""}\n{"t":"1700000013123455970","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":448585456,"ext":true,"dir":0,"dlc":15,"len":64,"edl":true,"brs":true,"data":"e1ecf7020d18232e39444f5a65707b86919ca7b2bdc8d3dee9f4ff0a15202b36414c57626d78838e99a4afbac5d0dbe6f1fc07121d28333e49545f6a75808b96"}\n{"t":"1700000014123455907","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":16,"ext":false,"dir":0,"dlc":9,"len":12,"edl":true,"brs":false,"data":"06111c27323d48535e69747f"}\n{"t":"1700000015123455844","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":291,"ext":false,"dir":0,"dlc":4,"len":0,"edl":false,"brs":false,"kind":"remote","data":""}\n{"t":"1700000016123455781","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":0,"ext":false,"dir":0,"dlc":0,"len":0,"edl":false,"brs":false,"kind":"error","data":""}\n{"t":"1700000017123455718","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"LIN","chn":201,"id":60,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"75808b96a1acb7c2"}\n{"t":"1700000018123455655","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"LIN","chn":1,"id":61,"ext":false,"dir":1,"dlc":2,"len":2,"edl":false,"brs":false,"kind":"error","data":"9aa5"}\n{"t":"1700000019123455592","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"bfcad5e0ebf6010c"}\n{"t":"1700000020123455529","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"e4effa05101b2631"}\n{"t":"1700000021123455466","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":419361278,"ext":true,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"09141f2a35404b56"}\n{"t":"1700000022123455403","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":2047,"ext":false,"dir":1,"dlc":0,"len":0,"edl":false,"brs":false,"data":""}\n{"t":"1700000023123455340","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":448585456,"ext":true,"dir":0,"dlc":15,"len":64,"edl":true,"brs":true,"data":"535e69747f8a95a0abb6c1ccd7e2edf8030e19242f3a45505b66717c87929da8b3bec9d4dfeaf5000b16212c37424d58636e79848f9aa5b0bbc6d1dce7f2fd08"}\n{"t":"1700000024123455277","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"id":16,"ext":false,"dir":0,"dlc":9,"len":12,"edl":true,"brs":false,"data":"78838e99a4afbac5d0dbe6f1"}\n{"t":"1700000025123455214","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":101,"id":291,"ext":false,"dir":0,"dlc":4,"len":0,"edl":false,"brs":false,"kind":"remote","data":""}\n{"t":"1700000026123455151","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":0,"ext":false,"dir":0,"dlc":0,"len":0,"edl":false,"brs":false,"kind":"error","data":""}\n{"t":"1700000027123455088","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"LIN","chn":1,"id":60,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"e7f2fd08131e2934"}\n{"t":"1700000028123455025","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"LIN","chn":101,"id":61,"ext":false,"dir":1,"dlc":2,"len":2,"edl":false,"brs":false,"kind":"error","data":"0c17"}\n{"t":"1700000029123454962","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":201,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"313c47525d68737e"}\n',
  'values 1 1700000000123456789 ndjson choices':
    '{"t":"1700000000123456789","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"plain","signal":"back\\\\slash0","value":0}\n{"t":"1700000000123456789","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"quo\\"te","signal":"line\\nbreak1","value":0}\n{"t":"1700000000123456789","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"com,ma","signal":"cr\\rx2","value":"NaN","label":"quo\\"te"}\n{"t":"1700000000123456789","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"back\\\\slash","signal":"tab\\tand\\u0001ctl3","value":"Infinity"}\n{"t":"1700000000123456789","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"line\\nbreak","signal":"mot\u00f6r_\u6e29\u5ea64","value":"-Infinity","label":"back\\\\slash"}\n{"t":"1700000000124456912","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":2,"message":"tab\\tand\\u0001ctl","signal":"plain6","value":5e-324,"sa":1,"label":"mot\u00f6r_\u6e29\u5ea6"}\n{"t":"1700000000124456912","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":2,"message":"mot\u00f6r_\u6e29\u5ea6","signal":"quo\\"te7","value":-5e-324,"sa":1}\n{"t":"1700000000124456912","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":2,"message":"emoji\ud83d\ude00","signal":"com,ma8","value":2.2250738585072014e-308,"sa":1}\n{"t":"1700000000124456912","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":2,"message":"plain","signal":"back\\\\slash9","value":"-9223372036854775808","sa":1}\n{"t":"1700000000124456912","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":2,"message":"quo\\"te","signal":"line\\nbreak10","value":1.7976931348623157e+308,"sa":1}\n{"t":"1700000000125457035","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"quo\\"te","signal":"line\\nbreak10","value":"18446744073709551615","label":"back\\\\slash"}\n{"t":"1700000000125457035","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"com,ma","signal":"cr\\rx11","value":"0"}\n{"t":"1700000000125457035","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"back\\\\slash","signal":"tab\\tand\\u0001ctl12","value":"9007199254740993","label":"cr\\rx"}\n{"t":"1700000000125457035","device":"dev \\"q\\", \\\\ \\n \u00e9 \u6f22 \\u0007","bus":"CAN","chn":1,"message":"line\\nbreak","signal":"mot\u00f6r_\u6e29\u5ea613","value":"-9223372036854775808"}',
  'frames 1 1700000000123456789 csv':
    '1700000000123456789,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,291,0,0,8,8,0,0,000b16212c37424d,data\n1700000001123456726,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,419361278,1,0,8,8,0,0,25303b46515c6772,data\n1700000002123456663,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,2047,0,1,0,0,0,0,,data\n1700000003123456600,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,448585456,1,0,15,64,1,1,6f7a85909ba6b1bcc7d2dde8f3fe09141f2a35404b56616c77828d98a3aeb9c4cfdae5f0fb06111c27323d48535e69747f8a95a0abb6c1ccd7e2edf8030e1924,data\n1700000004123456537,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,16,0,0,9,12,1,0,949faab5c0cbd6e1ecf7020d,data\n1709007202378196473,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,291,0,0,4,0,0,0,,remote\n1700000006123456411,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,0,0,0,0,0,0,0,,error\n1700000007123456348,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",LIN,101,60,0,0,8,8,0,0,030e19242f3a4550,data\n1700000008123456285,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",LIN,201,61,0,1,2,2,0,0,2833,error\n1700000009123456222,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,291,0,0,8,8,0,0,4d58636e79848f9a,data\n1700000010123456159,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,291,0,0,8,8,0,0,727d88939ea9b4bf,data\n1700000011123456096,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,419361278,1,0,8,8,0,0,97a2adb8c3ced9e4,data\n1700000012123456033,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,2047,0,1,0,0,0,0,,data\n1700000013123455970,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,448585456,1,0,15,64,1,1,e1ecf7020d18232e39444f5a65707b86919ca7b2bdc8d3dee9f4ff0a15202b36414c57626d78838e99a4afbac5d0dbe6f1fc07121d28333e49545f6a75808b96,data\n1700000014123455907,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,16,0,0,9,12,1,0,06111c27323d48535e69747f,data\n1700000015123455844,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,291,0,0,4,0,0,0,,remote\n1700000016123455781,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,0,0,0,0,0,0,0,,error\n1700000017123455718,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",LIN,201,60,0,0,8,8,0,0,75808b96a1acb7c2,data\n1700000018123455655,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",LIN,1,61,0,1,2,2,0,0,9aa5,error\n1700000019123455592,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,291,0,0,8,8,0,0,bfcad5e0ebf6010c,data\n1700000020123455529,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,291,0,0,8,8,0,0,e4effa05101b2631,data\n1700000021123455466,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,419361278,1,0,8,8,0,0,09141f2a35404b56,data\n1700000022123455403,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,2047,0,1,0,0,0,0,,data\n1700000023123455340,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,448585456,1,0,15,64,1,1,535e69747f8a95a0abb6c1ccd7e2edf8030e19242f3a45505b66717c87929da8b3bec9d4dfeaf5000b16212c37424d58636e79848f9aa5b0bbc6d1dce7f2fd08,data\n1700000024123455277,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,16,0,0,9,12,1,0,78838e99a4afbac5d0dbe6f1,data\n1700000025123455214,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,101,291,0,0,4,0,0,0,,remote\n1700000026123455151,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,0,0,0,0,0,0,0,,error\n1700000027123455088,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",LIN,1,60,0,0,8,8,0,0,e7f2fd08131e2934,data\n1700000028123455025,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",LIN,101,61,0,1,2,2,0,0,0c17,error\n1700000029123454962,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,201,291,0,0,8,8,0,0,313c47525d68737e,data\n',
  'values 1 1700000000123456789 csv choices':
    '1700000000123456789,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,plain,back\\slash0,0,\n1700000000123456789,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,"quo""te","line\nbreak1",0,\n1700000000123456789,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,"com,ma","cr\rx2",NaN,"quo""te"\n1700000000123456789,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,back\\slash,tab\tand\u0001ctl3,Infinity,\n1700000000123456789,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,1,"line\nbreak",mot\u00f6r_\u6e29\u5ea64,-Infinity,back\\slash\n1700000000124456912,"dev ""q"", \\ \n \u00e9 \u6f22 \u0007",CAN,2,tab\tand\u0001ctl,plain6,5e-324,mot\u00f6r_\u6e29\u5ea6',
};

describe('output writers: the text of the code before issue 16, byte for byte', () => {
  it('numbers: ByteWriter.number as jsonNumber / csvNumber', async () => {
    assert.deepEqual(await Promise.all(VALUES.map((v) => run((w) => w.number(v, true)))), EXPECTED_JSON);
    assert.deepEqual(await Promise.all(VALUES.map((v) => run((w) => w.number(v, false)))), EXPECTED_CSV);
  });

  it('numbers: writeFinite is String(v) (-0 as 0) over scaled, random and random-bit doubles', () => {
    const buf = Buffer.alloc(64);
    const bits = new Float64Array(1);
    const words = new Uint32Array(bits.buffer);
    const scales = [0.1, 0.01, 0.001, 0.5, 0.03125, 1 / 3, 0.05, 1e-6, 2.5e-5, 0.3, 1e-7];
    let seed = 12345;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let i = 0; i < 200_000; i++) {
      const candidates = [
        Math.floor(rnd() * 2e9 - 1e9) * scales[i % scales.length],
        Math.round(rnd() * 1e6) / 10 ** (i % 12) - [0, 40, 273.15][i % 3],
        (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20),
      ];
      words[0] = rnd() * 2 ** 32;
      words[1] = rnd() * 2 ** 32;
      if (Number.isFinite(bits[0])) candidates.push(bits[0]);
      for (const v of candidates) {
        const text = buf.toString('latin1', 0, writeFinite(buf, 0, v));
        if (text !== (Object.is(v, -0) ? '0' : String(v))) assert.fail(`${v}: wrote ${text}`);
      }
    }
  });

  for (const device of DEVICES) {
    for (const start of STARTS) {
      const dev = device === DEVICES[0] ? 0 : 1;
      for (const csv of [false, true]) {
        const key = `frames ${dev} ${start} ${csv ? 'csv' : 'ndjson'}`;
        it(key, async () => {
          const text = await run((w) => formatFrames(fakeFrameView(new NsFormatter(start), device) as never, w, csv));
          if (EXPECTED_SAMPLES[key] !== undefined) assert.equal(text, EXPECTED_SAMPLES[key]);
          assert.equal(sha(text), EXPECTED_HASHES[key]);
        });
        for (const choices of [false, true]) {
          const key2 = `values ${dev} ${start} ${csv ? 'csv' : 'ndjson'}${choices ? ' choices' : ''}`;
          it(key2, async () => {
            const { view, config } = fakeValueView(csvField, new NsFormatter(start), device);
            // twice over the same databases: the second run uses the per-signal caches built by the first
            for (let round = 0; round < 2; round++) {
              const text = await run((w) =>
                formatValues(view as never, config as never, w, csv, choices, deviceText(device)),
              );
              const sample = EXPECTED_SAMPLES[key2];
              if (sample !== undefined) assert.equal(text.split('\n').slice(0, 14).join('\n'), sample);
              assert.equal(sha(text), EXPECTED_HASHES[key2]);
            }
          });
        }
      }
    }
  }

  it('values: NDJSON and CSV over the same databases alternately (the caches are per format)', async () => {
    const { view, config } = fakeValueView(csvField, new NsFormatter(STARTS[1]), DEVICES[1]);
    for (const csv of [true, false, true]) {
      const text = await run((w) => formatValues(view as never, config as never, w, csv, true, deviceText(DEVICES[1])));
      assert.equal(sha(text), EXPECTED_HASHES[`values 1 ${STARTS[1]} ${csv ? 'csv' : 'ndjson'} choices`]);
    }
  });

  it('wide CSV: cells as csvNumber, exact integers, empty cells, escaped names and devices', async () => {
    const rows = [
      { t: 0n, device: DEVICES[1], cells: [...VALUES.slice(0, 20), undefined, 2n ** 64n - 1n] },
      { t: -5_000_000_000n, device: 'plain', cells: [undefined, ...VALUES.slice(20), -(2n ** 63n)] },
    ];
    const names = Array.from({ length: 30 }, (_, i) => `${NAMES[i % NAMES.length]}.s${i}`);
    const text = await run((w) => writeWideCsv({ names, rows: () => rows }, w));
    assert.equal(sha(text), EXPECTED_WIDE_HASH);
  });
});

describe('ByteWriter buffers', () => {
  it('stdout on a file (a synchronous stream): 100 MB written through a few reused buffers', () => {
    // SyncWriteStream calls back on the next tick; a job whose awaits all resolve at once never reached it, and
    // every 1 MB chunk was a fresh buffer (330 MB of RSS for `sigflow frames … > /dev/null`)
    const url = new URL('../../src/pipelines/logdecode/output/byte-writer.js', import.meta.url).href;
    const script = `
      const { ByteWriter } = await import(${JSON.stringify(url)});
      const w = new ByteWriter(process.stdout);
      const line = Buffer.alloc(1000, 120);
      for (let i = 0; i < 100_000; i++) {
        w.bytes(line);
        if (w.full) await w.flush();
      }
      await w.flush();
      process.stderr.write(String(w.allocated));`;
    const out = openSync(join(tempDir('bytewriter'), 'out'), 'w');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', out, 'pipe'],
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number(r.stderr) <= 4, `${r.stderr} buffers allocated for 100 MB`);
  });
});
