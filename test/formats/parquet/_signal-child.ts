/**
 * Child process of signal.test.ts (not a test file itself): opens a ParquetFileWriter with `removeOnSignals` and,
 * from the `onCreated` seam — the temporary file exists, `open` has not returned — sends itself <signal> and waits.
 * The handler must remove the file and the process must die of the signal. Prints "survived" if it does not.
 *   _signal-child <out.parquet> <SIGTERM|SIGINT>
 */
import { ParquetFileWriter } from '../../../src/formats/parquet/index.js';

const [out, signal] = process.argv.slice(2) as [string, NodeJS.Signals];
await ParquetFileWriter.open(out, {
  removeOnSignals: true,
  onCreated: async (tmp) => {
    process.stdout.write(`created ${tmp}\n`);
    process.kill(process.pid, signal);
    await new Promise((r) => setTimeout(r, 3000));
  },
});
process.stdout.write('survived\n');
