/**
 * Byte sources: one contract (ByteSource) for random-access reads, with in-memory and local-file implementations
 * and S3 objects (s3.ts, the SDK loaded on first use). See README.md in this folder.
 */
export { fsyncDir, replaceKeepingPrevious, tempPath, writeFileAtomic, writeFileAtomicSync } from './atomic.js';
export { BufferSource } from './buffer.js';
export { defaultCacheDir } from './cache-dir.js';
export { makeDirectory } from './dir.js';
export { IoError, type IoErrorCode, systemReason } from './errors.js';
export { AsyncFileSource, FileSource } from './file.js';
export {
  authChallenge,
  authorizationFor,
  credentialCheck,
  type HttpAuth,
  isLoopbackHost,
  localHostGuard,
} from './http-auth.js';
export { copiesOnWrite, exitWhenWritten, FileOutput, streamName, writeChunk, writeError } from './output.js';
export { S3Bucket, type S3Location, type S3Object, S3Source, s3Url } from './s3.js';
export { type ByteSource, isValidRange, rangeError, readAll, readExact } from './source.js';
