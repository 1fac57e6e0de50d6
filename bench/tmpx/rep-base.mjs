import { ParquetFileWriter, TimestampNsColumn } from '/tmp/wt-base/dist/src/formats/parquet/index.js';
import { parquetReadObjects } from 'hyparquet';
import { readFileSync } from 'node:fs';
const w = await ParquetFileWriter.open('/tmp/rep.parquet', {});
const t = new TimestampNsColumn('t', false, {statistics:false}); w.begin([t]);
for (let i=0;i<110;i++){ t.push(i===109? 1700000000000000001n : 1700000000000000000n); w.endRow(); }
await w.close();
const b = readFileSync('/tmp/rep.parquet');
const rows = await parquetReadObjects({ file: b.buffer.slice(b.byteOffset, b.byteOffset+b.length), parsers: { timestampFromNanoseconds: (x) => x } });
console.log(rows.slice(-3));
import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:'); const con = await db.connect();
const got = (await con.runAndReadAll(`SELECT epoch_ns(t) FROM read_parquet('/tmp/rep.parquet')`)).getRows();
console.log(got.slice(-3), typeof got[0][0]);
