import { createPool } from '@mockstagram/shared';
import { databaseUrl } from '../../../test/support/engines';

async function main() {
  const pool = createPool({ connectionString: databaseUrl(), max: 1 });
  const n = 5000;
  const start = Date.now();
  const iso = Array.from({ length: n }, (_, i) => new Date(start + i * 1001).toISOString());
  const ms = iso.map((s) => Date.parse(s));
  const ids = Array.from({ length: n }, (_, i) => 1000000 + i);
  const uuids = Array.from({ length: n }, () => crypto.randomUUID());
  const names = ids.map((i) => `user_${i}`);
  const tests: Array<[string, string, unknown[]]> = [
    ['timestamptz[] text', 'SELECT max(t) FROM UNNEST($1::timestamptz[]) t', [iso]],
    ['bigint[] ms -> to_timestamp', 'SELECT max(to_timestamp(t / 1000.0)) FROM UNNEST($1::bigint[]) t', [ms]],
    ['bigint[] ms -> epoch + interval', "SELECT max(timestamptz 'epoch' + t * interval '1 millisecond') FROM UNNEST($1::bigint[]) t", [ms]],
    ['bigint[] ids', 'SELECT max(t) FROM UNNEST($1::bigint[]) t', [ids]],
    ['uuid[]', 'SELECT count(t) FROM UNNEST($1::uuid[]) t', [uuids]],
    ['text[]', 'SELECT max(t) FROM UNNEST($1::text[]) t', [names]],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [name, sql, params] of tests) {
      const t = performance.now();
      for (let k = 0; k < 5; k++) await pool.query(sql, params);
      console.log(name.padEnd(34), ((performance.now() - t) / 5).toFixed(1), 'ms');
    }
  }
  const check = await pool.query("SELECT to_timestamp($1::bigint / 1000.0) = $2::timestamptz AS same", [ms[123], iso[123]]);
  console.log(check.rows);
  await pool.end();
}
main();
