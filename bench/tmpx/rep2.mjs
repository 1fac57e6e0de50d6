import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:'); const con = await db.connect();
for (const q of [`SELECT epoch_ns(t), t::VARCHAR FROM read_parquet('/tmp/rep.parquet') OFFSET 108`, `SELECT epoch_ns('2023-11-14 22:13:20.000000001'::TIMESTAMP_NS)`])
console.log((await con.runAndReadAll(q)).getRows());
