import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';

/**
 * TimescaleDB through the devstack's wire front (or whatever DATABASE_URL names), with `pg`:
 * hypertables, one 20,000-row UNNEST insert, time_bucket, a continuous aggregate, compression,
 * a 1 MiB parameter. Everything happens in a schema of its own, dropped at the end.
 */

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';
const schema = `ts_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

function urlWithSearchPath(url: string, searchPath: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${searchPath}`);
  return u.toString();
}

let pool: Pool;
const notices: string[] = [];

beforeAll(async () => {
  const admin = new Pool({ connectionString: databaseUrl, max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  // TimescaleDB's functions live in public.
  pool = new Pool({ connectionString: urlWithSearchPath(databaseUrl, `${schema},public`), max: 4 });
  pool.on('connect', (client) => client.on('notice', (n) => notices.push(`${n.severity}: ${n.message}`)));
});

afterAll(async () => {
  await pool?.end();
  const admin = new Pool({ connectionString: databaseUrl, max: 1 });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const ROWS = 20_000;
const START = Date.UTC(2024, 0, 1); // a Monday, midnight UTC
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// Deterministic data: 10 devices, one row every 37 s (about 8.6 days), values 0..96.
const devices = Array.from({ length: ROWS }, (_, i) => i % 10);
const times = Array.from({ length: ROWS }, (_, i) => new Date(START + i * 37_000));
const values = Array.from({ length: ROWS }, (_, i) => (i * 7) % 97);

function expectedBuckets(widthMs: number, rows: number[]): Map<number, { n: number; sum: number }> {
  const buckets = new Map<number, { n: number; sum: number }>();
  for (const i of rows) {
    const bucket = Math.floor(times[i].getTime() / widthMs) * widthMs;
    const b = buckets.get(bucket) ?? { n: 0, sum: 0 };
    b.n += 1;
    b.sum += values[i];
    buckets.set(bucket, b);
  }
  return buckets;
}

describe('TimescaleDB through the wire front', () => {
  test('a hypertable takes 20,000 rows in one UNNEST insert; time_bucket returns the expected buckets', async () => {
    await pool.query(`
      CREATE TABLE metrics (
        device int NOT NULL,
        ts timestamptz NOT NULL,
        value double precision NOT NULL,
        UNIQUE (device, ts)
      )`);
    const { rows: created } = await pool.query(
      `SELECT * FROM create_hypertable('metrics', by_range('ts', INTERVAL '1 day'))`,
    );
    expect(created).toHaveLength(1);
    // The connection's search_path (startup option) put it in this file's schema.
    const { rows: where } = await pool.query(`SELECT to_regclass('${schema}.metrics')::text AS t`);
    expect(where[0].t).not.toBeNull();

    const insert = await pool.query(
      `INSERT INTO metrics (device, ts, value)
       SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::float8[])
       ON CONFLICT DO NOTHING`,
      [devices, times, values],
    );
    expect(insert.rowCount).toBe(ROWS);

    const { rows: chunks } = await pool.query(`SELECT count(*)::int AS n FROM show_chunks('metrics')`);
    expect(chunks[0].n).toBe(Math.ceil((ROWS * 37_000) / DAY));

    const { rows } = await pool.query<{ bucket: Date; n: number; total: number }>(`
      SELECT time_bucket('6 hours', ts) AS bucket, count(*)::int AS n, sum(value)::float8 AS total
      FROM metrics GROUP BY bucket ORDER BY bucket`);
    const expected = expectedBuckets(
      6 * HOUR,
      devices.map((_, i) => i),
    );
    expect(rows.map((r) => [r.bucket.getTime(), r.n, r.total])).toEqual(
      [...expected.entries()].sort(([a], [b]) => a - b).map(([bucket, b]) => [bucket, b.n, b.sum]),
    );
    expect(rows.reduce((n, r) => n + r.n, 0)).toBe(ROWS);
  });

  test('a continuous aggregate refreshes and returns the expected daily counts per device', async () => {
    await pool.query(`
      CREATE MATERIALIZED VIEW metrics_daily WITH (timescaledb.continuous) AS
      SELECT time_bucket('1 day', ts) AS day, device, count(*)::int AS n, max(value) AS max_value
      FROM metrics GROUP BY day, device
      WITH NO DATA`);
    const daily = async () =>
      (
        await pool.query<{ day: Date; device: number; n: number; max_value: number }>(
          `SELECT day, device, n, max_value FROM metrics_daily ORDER BY day, device`,
        )
      ).rows.map((r) => `${r.day.toISOString()} ${r.device} ${r.n} ${r.max_value}`);
    const expectedDaily = (rowCount: number) => {
      const groups = new Map<string, { n: number; max: number }>();
      for (let i = 0; i < rowCount; i++) {
        const day = Math.floor(times[i].getTime() / DAY) * DAY;
        const key = `${new Date(day).toISOString()} ${devices[i]}`;
        const g = groups.get(key) ?? { n: 0, max: -Infinity };
        g.n += 1;
        g.max = Math.max(g.max, values[i]);
        groups.set(key, g);
      }
      return [...groups.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, g]) => `${key} ${g.n} ${g.max}`);
    };

    expect(await daily()).toEqual([]); // WITH NO DATA, materialized only
    await pool.query(`CALL refresh_continuous_aggregate('metrics_daily', NULL, NULL)`);
    expect(await daily()).toEqual(expectedDaily(ROWS));

    // New rows appear after the next refresh.
    const extra = 500;
    const more = Array.from({ length: extra }, (_, k) => ROWS + k);
    devices.push(...more.map((i) => i % 10));
    times.push(...more.map((i) => new Date(START + i * 37_000)));
    values.push(...more.map((i) => (i * 7) % 97));
    await pool.query(
      `INSERT INTO metrics (device, ts, value) SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::float8[])`,
      [devices.slice(ROWS), times.slice(ROWS), values.slice(ROWS)],
    );
    expect(await daily()).toEqual(expectedDaily(ROWS));
    await pool.query(`CALL refresh_continuous_aggregate('metrics_daily', NULL, NULL)`);
    expect(await daily()).toEqual(expectedDaily(ROWS + extra));
  });

  test('compressed chunks still answer the same query', async () => {
    const before = (
      await pool.query(
        `SELECT device, count(*)::int AS n, sum(value)::float8 AS s FROM metrics GROUP BY device ORDER BY device`,
      )
    ).rows;
    await pool.query(
      `ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'device', timescaledb.compress_orderby = 'ts')`,
    );
    const { rows: compressed } = await pool.query(`SELECT compress_chunk(c) FROM show_chunks('metrics') AS c`);
    expect(compressed.length).toBeGreaterThan(0);
    const { rows: stats } = await pool.query(
      `SELECT count(*)::int AS n FROM chunk_compression_stats('metrics') WHERE compression_status = 'Compressed'`,
    );
    expect(stats[0].n).toBe(compressed.length);
    const after = (
      await pool.query(
        `SELECT device, count(*)::int AS n, sum(value)::float8 AS s FROM metrics GROUP BY device ORDER BY device`,
      )
    ).rows;
    expect(after).toEqual(before);
  });

  test('a 1 MiB text parameter round-trips', async () => {
    // Mixed one- to four-byte UTF-8 characters, exactly 1 MiB once encoded.
    const unit = 'aé€😀'; // 1 + 2 + 3 + 4 bytes
    const text = unit.repeat((1024 * 1024) / 10) + 'x'.repeat((1024 * 1024) % 10);
    expect(Buffer.byteLength(text)).toBe(1024 * 1024);
    const { rows } = await pool.query<{ v: string; bytes: number; md5: string }>(
      `SELECT $1::text AS v, octet_length($1::text) AS bytes, md5($1::text) AS md5`,
      [text],
    );
    expect(rows[0].bytes).toBe(1024 * 1024);
    expect(rows[0].v === text).toBe(true);

    // And stored in a table, read back.
    await pool.query(`CREATE TABLE blobs (id int PRIMARY KEY, body text NOT NULL)`);
    await pool.query(`INSERT INTO blobs VALUES (1, $1)`, [text]);
    const { rows: stored } = await pool.query<{ body: string }>(`SELECT body FROM blobs WHERE id = 1`);
    expect(stored[0].body === text).toBe(true);
  });

  test('parameterized (extended-protocol) queries draw no DEBUG notices', () => {
    // This PGlite build answers Parse/Bind with DEBUG NoticeResponses unless client_min_messages is
    // back at 'notice'; the server sees to that. (Compression may warn about a poor ratio: allowed.)
    expect(notices.filter((n) => n.startsWith('DEBUG'))).toEqual([]);
  });
});
