/**
 * The migrations' own policies, run by a real server's background workers: with short intervals
 * given through the migration variables (compress after 3 days, keep 6 days), the compression
 * and retention policies and both continuous aggregates' refresh policies are made due now
 * (alter_job next_start => now(): still run by TimescaleDB's scheduler, not in this session),
 * and then job_stats says Success, the chunk past compress_after is compressed and still answers,
 * the chunk past retain_for is gone, and the aggregates are materialised.
 * (PGlite has no background workers: this runs on the native engine only.)
 */
import { freshSchema, pausePolicies, type TestSchema } from '@mockstagram/testkit';
import { createPool, type Pool } from '../../src/db';
import { migrate } from '../../src/migrate';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let db: TestSchema;
let pool: Pool;

beforeAll(async () => {
  db = await freshSchema('policies');
  pool = createPool({ connectionString: db.url, max: 2 });
  await migrate({
    pool,
    variables: { FOLLOWER_COUNTS_COMPRESS_AFTER: '3 days', FOLLOWER_COUNTS_RETAIN_FOR: '6 days' },
  });
  // Held until the test has written its history: a policy's first run comes right after it is
  // created, and could compress a chunk before the test has seen it uncompressed.
  await pausePolicies(pool, db.schema);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

interface Job {
  job_id: number;
  proc_name: string;
  hypertable_name: string;
}
interface Stats {
  job_id: number;
  last_run_status: string | null;
  total_successes: number;
  total_failures: number;
  job_status: string;
}

async function jobs(): Promise<Job[]> {
  const { rows } = await pool.query<Job>(
    `SELECT job_id, proc_name, hypertable_name FROM timescaledb_information.jobs WHERE hypertable_schema = $1 ORDER BY job_id`,
    [db.schema],
  );
  return rows;
}

async function stats(ids: number[]): Promise<Map<number, Stats>> {
  const { rows } = await pool.query<Stats>(
    `SELECT job_id, last_run_status, total_successes::int, total_failures::int, job_status
       FROM timescaledb_information.job_stats WHERE job_id = ANY($1)`,
    [ids],
  );
  return new Map(rows.map((r) => [r.job_id, r]));
}

/** Make the jobs due now; wait until each has run once more, in the background, and succeeded. */
async function runInBackground(ids: number[]): Promise<void> {
  const before = await stats(ids);
  const runs = (s: Stats | undefined) => (s ? s.total_successes + s.total_failures : 0);
  for (const id of ids) await pool.query('SELECT alter_job($1, scheduled => true, next_start => now())', [id]);
  const deadline = Date.now() + 90_000;
  for (;;) {
    const now = await stats(ids);
    if (ids.every((id) => runs(now.get(id)) > runs(before.get(id)) && now.get(id)!.job_status !== 'Running')) {
      expect(ids.map((id) => [id, now.get(id)!.last_run_status])).toEqual(ids.map((id) => [id, 'Success']));
      return;
    }
    if (Date.now() > deadline)
      throw new Error(`jobs ${ids.join(', ')} did not all run within 90 s: ${JSON.stringify([...now.values()])}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Samples of 10 influencers every minute for an hour starting at `from`. */
async function insertHour(from: number): Promise<number> {
  const { rowCount } = await pool.query(
    `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count)
     SELECT id, to_timestamp($1::double precision / 1000) + m * interval '1 minute', 1000 + id + m, 10
       FROM generate_series(1, 10) AS id, generate_series(0, 59) AS m`,
    [from],
  );
  return rowCount ?? 0;
}

async function chunkOf(t: number): Promise<{ name: string; compressed: boolean } | undefined> {
  const { rows } = await pool.query<{ name: string; compressed: boolean }>(
    `SELECT chunk_name AS name, is_compressed AS compressed FROM timescaledb_information.chunks
      WHERE hypertable_schema = $1 AND hypertable_name = 'follower_counts'
        AND range_start <= to_timestamp($2::double precision / 1000) AND range_end > to_timestamp($2::double precision / 1000)`,
    [db.schema, t],
  );
  return rows[0];
}

test('compression, retention and both refresh policies run in the background and do their work', async () => {
  const now = Date.now();
  const recent = Math.floor(now / HOUR) * HOUR - 3 * HOUR; // an hour that ended over an hour ago
  const twoDaysAgo = Math.floor((now - 2 * DAY) / DAY) * DAY + 6 * HOUR; // a whole day inside the 3-day refresh window
  const old = now - 4.5 * DAY; // its chunk ended more than 3 days ago: compressed
  const expired = now - 9 * DAY; // its chunk ended more than 6 days ago: dropped
  for (const t of [recent, twoDaysAgo, old, expired]) expect(await insertHour(t)).toBe(600);
  expect((await chunkOf(old))?.compressed).toBe(false);
  expect(await chunkOf(expired)).toBeDefined();

  const policies = await jobs();
  expect(policies.map((j) => [j.proc_name, j.hypertable_name]).sort()).toEqual(
    [
      ['policy_compression', 'follower_counts'],
      ['policy_refresh_continuous_aggregate', 'follower_counts_daily'],
      ['policy_refresh_continuous_aggregate', 'follower_counts_hourly'],
      ['policy_retention', 'follower_counts'],
    ].sort(),
  );
  // In the order a chunk ages through them: compressed (and aggregated), later dropped. Run at
  // the same moment, compression could pick the chunk retention is dropping and fail on it.
  const byProc = (proc: string) => policies.filter((j) => j.proc_name === proc).map((j) => j.job_id);
  await runInBackground([...byProc('policy_compression'), ...byProc('policy_refresh_continuous_aggregate')]);
  await runInBackground(byProc('policy_retention'));

  // Compressed, and the same rows still answer.
  expect((await chunkOf(old))?.compressed).toBe(true);
  const oldRows = await pool.query(
    `SELECT count(*)::int AS n, sum(follower_count)::int AS s FROM follower_counts
      WHERE observed_at >= to_timestamp($1::double precision / 1000) AND observed_at < to_timestamp($1::double precision / 1000) + interval '1 hour'`,
    [old],
  );
  expect(oldRows.rows[0]).toEqual({ n: 600, s: 600 * 1000 + 60 * 55 + 10 * 1770 });
  // Dropped with its chunk.
  expect(await chunkOf(expired)).toBeUndefined();
  const expiredRows = await pool.query(
    `SELECT count(*)::int AS n FROM follower_counts WHERE observed_at < to_timestamp($1::double precision / 1000) + interval '1 hour'`,
    [expired],
  );
  expect(expiredRows.rows[0].n).toBe(0);

  // Materialised: the aggregates' own hypertables hold the buckets inside the refresh window.
  const materialised = async (view: string) => {
    const { rows } = await pool.query<{ schema: string; name: string }>(
      `SELECT materialization_hypertable_schema AS schema, materialization_hypertable_name AS name
         FROM timescaledb_information.continuous_aggregates WHERE view_schema = $1 AND view_name = $2`,
      [db.schema, view],
    );
    const { rows: buckets } = await pool.query<{ n: number; bucket: Date }>(
      `SELECT count(*)::int AS n, min(bucket) AS bucket FROM "${rows[0].schema}"."${rows[0].name}"`,
    );
    return buckets[0];
  };
  const hourly = await materialised('follower_counts_hourly');
  expect(hourly.n).toBe(20); // 10 influencers × (the recent hour + the hour two days ago)
  // The days the daily policy materialises: whole days inside its window [now - 3 days,
  // now - 1 hour]. Two days ago always is; the recent hour's day too once that day has ended
  // (between 01:00 and 03:00 UTC the recent hour lies in yesterday).
  const days = [...new Set([recent, twoDaysAgo].map((t) => Math.floor(t / DAY) * DAY))].filter(
    (d) => d >= now - 3 * DAY && d + DAY <= now - HOUR,
  );
  const daily = await materialised('follower_counts_daily');
  expect(daily).toEqual({ n: 10 * days.length, bucket: new Date(Math.min(...days)) });
  expect(days).toContain(Math.floor(twoDaysAgo / DAY) * DAY);
});
