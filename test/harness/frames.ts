/** A CanFrameBatch (src/framers) as rows, for the framer tests to compare. */
import type { CanFrameBatch } from '../../src/framers/index.js';

export interface FrameRow {
  t: number;
  id: number;
  ext: number;
  flags: number;
  ch: number;
  /** The payload in hex. */
  data: string;
}

export function frameRows(b: CanFrameBatch): FrameRow[] {
  const r: FrameRow[] = [];
  for (let i = 0; i < b.count; i++) {
    const data = Buffer.from(b.data.subarray(b.offset[i], b.offset[i] + b.length[i])).toString('hex');
    r.push({ t: b.timeUs[i], id: b.id[i], ext: b.ext[i], flags: b.flags[i], ch: b.channel[i], data });
  }
  return r;
}
