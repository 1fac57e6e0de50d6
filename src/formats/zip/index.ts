/** Zip archives: how large one is once inflated, measured with a bound (zip bombs). See bound.ts. */
export { type ZipBound, zipInflatedSize } from './bound.js';
