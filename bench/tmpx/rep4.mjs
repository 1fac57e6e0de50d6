import { ParquetFileWriter, TimestampNsColumn } from '../../dist/src/formats/parquet/index.js';
import { parquetReadObjects, parquetMetadata } from 'hyparquet';
import { readFileSync } from 'node:fs';
const w = await ParquetFileWriter.open('/tmp/rep4.parquet', {});
const t = new TimestampNsColumn('t', true); w.begin([t]);
for (let i=0;i<158;i++){ t.push(i===157? 2n**63n-1n : null); w.endRow(); }
await w.close();
const b = readFileSync('/tmp/rep4.parquet'); const file = b.buffer.slice(b.byteOffset, b.byteOffset+b.length);
const parsers = { timestampFromNanoseconds: (x) => x };
const rows = await parquetReadObjects({ file, parsers });
console.log(rows.slice(-2), parquetMetadata(file, {parsers}).row_groups[0].columns[0].meta_data.statistics);
