/**
 * First/last record time of an MDF file through the MDF4 reader (src/formats/mdf4): the minimum and maximum
 * timestamp over all bus events (CANedge FW ≥ 01.07 files are not time-ordered across channel groups, so this
 * takes min/max rather than the first and last record on disk). Reads the whole data section once. Damage the
 * reader reports (mdf.warnings) is returned as `dataWarnings`, so the index shows a damaged file as such.
 */
import { Mdf4Error, openMdf4, readBusFrames } from '../mdf4/index.js';
import { CanedgeError } from './errors.js';
import type { TimeRangeProbe } from './log-index.js';

/** Names this probe in index entries; change it when what it computes changes. */
export const MDF4_TIME_RANGE_ID = 'mdf4-bus-events-v2';

/** Warning texts kept per index entry. */
const MAX_WARNING_TEXTS = 5;

export const mdf4TimeRange: TimeRangeProbe = async (src) => {
  try {
    let count = 0; // every warning (mdf.warnings keeps the first 1000)
    const mdf = await openMdf4(src, {
      onWarning: () => {
        count++;
      },
    });
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for await (const b of readBusFrames(mdf)) {
      const o = b.offsetNs;
      for (let i = 0; i < b.count; i++) {
        const t = o[i];
        if (t < min) min = t;
        if (t > max) max = t;
      }
    }
    const ws = mdf.warnings;
    const dataWarnings =
      count > 0
        ? {
            code: 'SF_WARN_CANEDGE_DATA_DAMAGED' as const,
            count,
            messages: ws.slice(0, MAX_WARNING_TEXTS).map((w) => `at byte ${w.offset}: ${w.message}`),
          }
        : undefined;
    if (min > max) return dataWarnings ? { dataWarnings } : null;
    const start = mdf.header.startTimeNs;
    return {
      firstNs: start + BigInt(Math.round(min)),
      lastNs: start + BigInt(Math.round(max)),
      ...(dataWarnings ? { dataWarnings } : {}),
    };
  } catch (err) {
    if (err instanceof Mdf4Error)
      throw new CanedgeError('SF_ERR_CANEDGE_CORRUPT', src.name, `MDF4: ${err.message}`, { cause: err });
    throw err;
  }
};
