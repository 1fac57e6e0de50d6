import { ParquetFileWriter, TimestampNsColumn, TimestampUsColumn } from '../../dist/src/formats/parquet/index.js';
import { DuckDBInstance } from '@duckdb/node-api';
const vals = [-1n, -1001n, 2n**63n-1n, -(2n**63n), 0n, 1999n, 2n**62n];
const w = await ParquetFileWriter.open('/tmp/rep3.parquet', {});
const t = new TimestampNsColumn('t', false); const u = new TimestampUsColumn('u', false); w.begin([t, u]);
for (const v of vals) { t.push(v); u.push(v); w.endRow(); }
await w.close();
const db = await DuckDBInstance.create(':memory:'); const con = await db.connect();
for (const q of [`SELECT epoch_ns(t), epoch_us(u), t::VARCHAR, u::VARCHAR FROM read_parquet('/tmp/rep3.parquet')`]) {
  try { console.log((await con.runAndReadAll(q)).getRows()); } catch (e) { console.log(e.message); }
}
for (const q of [`SELECT epoch_us(u) FROM read_parquet('/tmp/rep3.parquet')`, `SELECT t::VARCHAR FROM read_parquet('/tmp/rep3.parquet')`]) {
  try { console.log((await con.runAndReadAll(q)).getRows()); } catch (e) { console.log(e.message); }
}
