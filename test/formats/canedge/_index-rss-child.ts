/**
 * Child of memory.test.ts (not a test file): refreshes the index of <root> like `sigflow logs index` (record
 * times on, concurrency 4) and prints {"maxRssMb": …, "errors": [codes]} on stdout.
 *   _index-rss-child <root> <index.json> <concurrency>
 */
import { LocalLogStore, MDF4_TIME_RANGE_ID, mdf4TimeRange, refreshIndex } from '../../../src/formats/canedge/index.js';

const [root, indexPath, concurrency] = process.argv.slice(2);
const { index } = await refreshIndex(new LocalLogStore(root), {
  indexPath,
  concurrency: Number(concurrency),
  timeRange: mdf4TimeRange,
  timeRangeId: MDF4_TIME_RANGE_ID,
});
const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(`${JSON.stringify({ maxRssMb, errors: index.errors().map((e) => e.error?.code) })}\n`);
