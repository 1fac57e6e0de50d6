/**
 * Byte sources: one contract (ByteSource) for random-access reads, with in-memory and local-file implementations
 * (S3 objects will be the third). See README.md in this folder.
 */
export { BufferSource } from './buffer.js';
export { makeDirectory } from './dir.js';
export { IoError, type IoErrorCode, systemReason } from './errors.js';
export { AsyncFileSource, FileSource } from './file.js';
export { copiesOnWrite, streamName, writeChunk, writeError } from './output.js';
export { type ByteSource, isValidRange, rangeError, readAll, readExact } from './source.js';
