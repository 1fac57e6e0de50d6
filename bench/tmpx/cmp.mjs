import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:'); const con = await db.connect();
const q = async (s) => (await con.runAndReadAll(s)).getRows();
for (const f of ['/tmp/base.parquet','/tmp/new.parquet'])
  console.log(f, (await q(`SELECT path_in_schema, sum(total_compressed_size)::BIGINT, any_value(encodings) FROM parquet_metadata('${f}') GROUP BY 1 ORDER BY 1`)).map(r=>r.join(' ')).join(' | '));
console.log('rows', await q(`SELECT count(*) FROM '/tmp/base.parquet'`), await q(`SELECT count(*) FROM '/tmp/new.parquet'`));
console.log('diff a-b', await q(`SELECT count(*) FROM (SELECT * FROM '/tmp/base.parquet' EXCEPT ALL SELECT * FROM '/tmp/new.parquet')`));
console.log('diff b-a', await q(`SELECT count(*) FROM (SELECT * FROM '/tmp/new.parquet' EXCEPT ALL SELECT * FROM '/tmp/base.parquet')`));
console.log(await q(`DESCRIBE SELECT * FROM '/tmp/new.parquet'`));
console.log(await q(`DESCRIBE SELECT * FROM '/tmp/base.parquet'`));
