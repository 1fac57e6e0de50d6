/**
 * The Internet-of-Fish message (SLIM/TBR over LoRa; ../shared/docs/iof-protocol.md), as a built-in spec: a 6-byte
 * header (TBR serial id, header type, reference timestamp), a GPS block when header_type is 1 (signed latitude
 * and longitude), then packets to the end — TBR sensor packets (comm_code 0xFF) and tag detections whose id/data
 * layout and frequency the comm_code gives (16·k + p: protocol p, frequency from k).
 * `sigflow packets spec iof` prints it as YAML, a starting point for a spec of one's own.
 */
import type { FieldSpec, PacketSpecInput } from '../spec.js';

type Field = Partial<FieldSpec> & { name: string };

/** The tag protocols, in the order of their index p (the low 3 bits of comm_code = 16·k + p). */
export const IOF_PROTOCOL_NAMES = ['R256', 'R04K', 'R64K', 'S256', 'R01M', 'S64K', 'HS256', 'DS256'] as const;
export type IofProtocolName = (typeof IOF_PROTOCOL_NAMES)[number];

/** Each protocol's id/data fields before snr + millisecond (in IOF_PROTOCOL_NAMES order). */
export const IOF_PROTOCOLS: readonly { readonly name: IofProtocolName; readonly fields: readonly Field[] }[] = [
  { name: 'R256', fields: [{ name: 'tag_id', bits: 8 }] },
  { name: 'R04K', fields: [{ name: 'tag_id', bits: 16 }] },
  { name: 'R64K', fields: [{ name: 'tag_id', bits: 16 }] },
  {
    name: 'S256',
    fields: [
      { name: 'tag_id', bits: 8 },
      { name: 'tag_data', bits: 8 },
    ],
  },
  { name: 'R01M', fields: [{ name: 'tag_id', bits: 24 }] },
  {
    name: 'S64K',
    fields: [
      { name: 'tag_id', bits: 16 },
      { name: 'tag_data', bits: 8 },
    ],
  },
  {
    name: 'HS256',
    fields: [
      { name: 'tag_id', bits: 8 },
      { name: 'tag_data', bits: 16 },
    ],
  },
  {
    name: 'DS256',
    fields: [
      { name: 'tag_id', bits: 8 },
      { name: 'tag_data', bits: 8 },
      { name: 'tag_data_2', bits: 8 },
    ],
  },
];

/** k (the high 4 bits of comm_code) → kHz: 0–8 → 69–77, 9–14 → 63–68. */
export const IOF_FREQUENCIES: Readonly<Record<number, number>> = Object.fromEntries(
  Array.from({ length: 15 }, (_, k) => [k, k <= 8 ? 69 + k : 63 + (k - 9)]),
);

/** u-blox fix types. */
export const IOF_FIX: Readonly<Record<number, string>> = {
  0: 'no fix',
  1: 'dead reckoning only',
  2: '2D-fix',
  3: '3D-fix',
  4: 'GNSS + dead reckoning combined',
  5: 'time only fix',
};

export const IOF_SPEC: PacketSpecInput = {
  name: 'iof',
  description: 'Internet of Fish: SLIM/TBR messages (header, optional GPS block, tag and TBR sensor packets)',
  endian: 'big',
  header: {
    fields: [
      { name: 'tbr_serial_id', bits: 14 },
      { name: 'header_type', bits: 2, emit: false },
      { name: 'ref_timestamp', bits: 32, emit: false },
    ],
  },
  blocks: [
    {
      when: { header_type: 1 },
      row: 'gps',
      fields: [
        { name: 'timestamp', copy: 'ref_timestamp' },
        { name: 'slim_status', bits: 14 },
        { name: 'longitude', bits: 26, signed: true, scale: 1e-5 },
        { name: 'pdop', bits: 7, scale: 0.1 },
        { name: 'latitude', bits: 25, signed: true, scale: 1e-5 },
        { name: 'fix', bits: 3, map: IOF_FIX, raw_as: 'fix_code' },
        { name: 'num_sat_tracked', bits: 5 },
      ],
    },
  ],
  packets: {
    discriminator: 'comm_code',
    fields: [
      { name: 'seconds_offset', bits: 8, emit: false },
      { name: 'comm_code', bits: 8, peek: true, emit: false },
      { name: 'code_k', bits: 4, emit: false },
      { name: 'code_r', bits: 1, emit: false },
      { name: 'code_p', bits: 3, emit: false },
      // An offset above 250 belongs before the reference (a packet sent out of order): ref − (255 − offset).
      { name: 'timestamp', wrap_offset: { base: 'ref_timestamp', offset: 'seconds_offset', above: 250, modulus: 255 } },
    ],
    variants: [
      {
        when: { comm_code: 0xff },
        row: 'tbr',
        fields: [
          { name: 'temperature', bits: 16, scale: 0.1, offset: -5, raw_as: 'temperature_data_raw' },
          { name: 'noise_avg', bits: 8 },
          { name: 'noise_peak', bits: 8 },
          { name: 'frequency', bits: 8 },
        ],
      },
      ...IOF_PROTOCOLS.map((p, i) => ({
        when: { code_r: 0, code_k: { max: 14 }, code_p: i },
        row: 'tag',
        fields: [
          { name: 'comm_protocol', value: p.name },
          { name: 'frequency', lookup: { from: 'code_k', map: IOF_FREQUENCIES } },
          ...p.fields,
          { name: 'snr', bits: 6 },
          { name: 'millisecond', bits: 10 },
        ],
      })),
    ],
  },
  rows: {
    gps: { time: { seconds: 'timestamp' } },
    tag: { time: { seconds: 'timestamp', milliseconds: 'millisecond' } },
    tbr: { time: { seconds: 'timestamp' } },
  },
};
