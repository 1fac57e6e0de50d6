import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:'); const con = await db.connect();
try { console.log((await con.runAndReadAll(`SELECT epoch_ns(t), t::VARCHAR FROM read_parquet('/tmp/rep4.parquet') OFFSET 156`)).getRows()); } catch (e) { console.log('ERR', e.message); }
