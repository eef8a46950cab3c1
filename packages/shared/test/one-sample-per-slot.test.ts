/**
 * Migration 010 on a real TimescaleDB, over data written before it: the duplicates that a job
 * fetched twice left behind (one job, two rows) are removed, the earliest kept, also in a
 * compressed chunk; influencer_latest follows; from then on (influencer_id, observed_at) is the
 * slot's key.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { daysAgo, freshSchema, pausePolicies, type TestSchema } from '@mockstagram/testkit';
import { createPool, type Pool } from '../src/db';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../src/migrate';

const MIGRATION = '010_follower_counts_one_per_slot.sql';
/** Two days ago: a chunk that is compressed below, inside the retention window. */
const OLD_DAY = daysAgo(2);
const DAY = daysAgo(1);

/** The repo's migrations numbered below `version`, in a temporary directory. */
function migrationsBefore(version: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-before-'));
  for (const name of fs.readdirSync(DEFAULT_MIGRATIONS_DIR)) {
    if (/^\d+_.*\.sql$/.test(name) && Number(name.slice(0, name.indexOf('_'))) < version) {
      fs.copyFileSync(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name));
    }
  }
  return dir;
}

let db: TestSchema;
let pool: Pool;

beforeAll(async () => {
  db = await freshSchema('test_slot_migration');
  pool = createPool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

it('removes the second sample of each job (the earliest stays), in compressed chunks too, and fixes influencer_latest', async () => {
  const before = await migrate({ pool, directory: migrationsBefore(10) });
  expect(before.applied).not.toContain(MIGRATION);
  await pausePolicies(pool, db.schema);

  const [j1, j2, j3, j4] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  // influencer 1: job j1 stored twice (its second fetch later), then job j2; its latest is j2's.
  // influencer 2: job j3 stored twice; its latest is j3's second fetch, which goes.
  // influencer 3: rows without a job id (written by hand): kept.
  // influencer 4: job j4 twice, in the old chunk that gets compressed.
  const rows: [number, string, number, string | null][] = [
    [1, `${DAY}T10:00:01Z`, 100, j1],
    [1, `${DAY}T10:00:07Z`, 105, j1],
    [1, `${DAY}T10:00:11Z`, 110, j2],
    [2, `${DAY}T10:00:02Z`, 200, j3],
    [2, `${DAY}T10:00:09Z`, 209, j3],
    [3, `${DAY}T10:00:03Z`, 300, null],
    [3, `${DAY}T10:00:04Z`, 301, null],
    [4, `${OLD_DAY}T10:00:05Z`, 400, j4],
    [4, `${OLD_DAY}T10:00:06Z`, 406, j4],
  ];
  for (const [id, at, n, job] of rows) {
    await pool.query(
      'INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count, job_id) VALUES ($1, $2, $3, 1, $4)',
      [id, at, n, job],
    );
  }
  await pool.query(`INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at) VALUES
    (1, 'u1', 110, 1, '${DAY}T10:00:11Z'), (2, 'u2', 209, 1, '${DAY}T10:00:09Z'),
    (3, 'u3', 301, 1, '${DAY}T10:00:04Z'), (4, 'u4', 406, 1, '${OLD_DAY}T10:00:06Z')`);
  const compressed = await pool.query(
    `SELECT compress_chunk(c) FROM show_chunks('follower_counts', older_than => $1::timestamptz) c`,
    [`${DAY}T00:00:00Z`],
  );
  expect(compressed.rowCount).toBe(1);

  const after = await migrate({ pool, directory: migrationsBefore(11) });
  expect(after.applied).toEqual([MIGRATION]);

  const { rows: kept } = await pool.query<{ influencer_id: number; follower_count: number; fetched_at: Date | null }>(
    'SELECT influencer_id, follower_count, fetched_at FROM follower_counts ORDER BY influencer_id, observed_at',
  );
  expect(kept).toEqual([
    { influencer_id: 1, follower_count: 100, fetched_at: null },
    { influencer_id: 1, follower_count: 110, fetched_at: null },
    { influencer_id: 2, follower_count: 200, fetched_at: null },
    { influencer_id: 3, follower_count: 300, fetched_at: null },
    { influencer_id: 3, follower_count: 301, fetched_at: null },
    { influencer_id: 4, follower_count: 400, fetched_at: null },
  ]);
  const { rows: latest } = await pool.query<{
    influencer_id: number;
    username: string;
    follower_count: number;
    observed_at: Date;
  }>('SELECT influencer_id, username, follower_count, observed_at FROM influencer_latest ORDER BY influencer_id');
  expect(latest.map((l) => [l.influencer_id, l.username, l.follower_count, l.observed_at.toISOString()])).toEqual([
    [1, 'u1', 110, `${DAY}T10:00:11.000Z`],
    [2, 'u2', 200, `${DAY}T10:00:02.000Z`],
    [3, 'u3', 301, `${DAY}T10:00:04.000Z`],
    [4, 'u4', 400, `${OLD_DAY}T10:00:05.000Z`],
  ]);

  // The aggregates read the migrated table (real-time part): one sample per job.
  const { rows: hourly } = await pool.query<{ influencer_id: number; samples: number }>(
    `SELECT influencer_id, samples FROM follower_counts_hourly WHERE bucket = $1::timestamptz ORDER BY influencer_id`,
    [`${DAY}T10:00:00Z`],
  );
  expect(hourly).toEqual([
    { influencer_id: 1, samples: 2 },
    { influencer_id: 2, samples: 1 },
    { influencer_id: 3, samples: 2 },
  ]);
});
