/** Binary messages through a packet spec (src/codecs/bitfield) → NDJSON rows: `sigflow packets decode`. */
export { type PacketDecodeOptions, type PacketDecodeStats, runPacketDecode } from './decode.js';
