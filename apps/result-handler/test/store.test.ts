/**
 * storeResults against the real TimescaleDB: refused rows are isolated by bisection, the rest
 * is stored in the same call; a batch of good rows is one transaction.
 */
import { createPool, type Pool } from '@mockstagram/shared';
import { isRowDataError, storeResults } from '../src/store';
import { daysAgo } from '../../../test/support/engines';
import { count, result, setupEnv, type Env } from './support';

/** Yesterday (UTC): inside the retention window that the server's background policy enforces. */
const DAY = daysAgo(1);

let env: Env;
let pool: Pool;

beforeAll(async () => {
  env = await setupEnv('rh_store', 1);
  pool = createPool({ connectionString: env.db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await env?.close();
});

it('stores every good row and returns each refused one with its own error', async () => {
  const rows = Array.from({ length: 1000 }, (_, i) => result(i, { influencerId: 2_000_000 + i }));
  const bad = [0, 1, 333, 334, 998, 999, 500];
  for (const i of bad) {
    rows[i] = i % 2 === 0 ? { ...rows[i]!, observedAt: '0000-06-01T00:00:00.000Z' } : { ...rows[i]!, username: `nul\u0000${i}` };
  }
  const outcome = await storeResults(pool, rows);
  expect(outcome.rejected.map((r) => r.index).sort((a, b) => a - b)).toEqual([...bad].sort((a, b) => a - b));
  for (const r of outcome.rejected) {
    expect(isRowDataError(r.error)).toBe(true);
    expect((r.error as { code?: string }).code).toMatch(/^22/);
  }
  expect(outcome.inserted).toBe(1000 - bad.length);
  expect(await count(pool, 'SELECT count(*) AS n FROM follower_counts WHERE influencer_id >= 2000000')).toBe(1000 - bad.length);
  expect(await count(pool, 'SELECT count(*) AS n FROM influencer_latest WHERE influencer_id >= 2000000')).toBe(1000 - bad.length);

  // Again: nothing new inserted, the same rows refused.
  const again = await storeResults(pool, rows);
  expect(again.inserted).toBe(0);
  expect(again.rejected).toHaveLength(bad.length);
});

it('stores values exactly as received: usernames with quotes, backslashes, tabs, newlines; sub-millisecond times; offsets', async () => {
  const usernames = ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash', '\\N', '\\.', 'ünï€ode 🙂', ' spaced ', '"quoted",comma'];
  const rows = usernames.map((username, i) =>
    result(i, { influencerId: 2_200_000 + i, username, observedAt: i % 2 ? `${DAY}T12:00:00.123456Z` : `${DAY}T14:00:00.5+02:00` }),
  );
  expect(await storeResults(pool, rows)).toEqual({ inserted: rows.length, rejected: [] });
  const latest = await pool.query<{ influencer_id: number; username: string; observed_at: string }>(
    `SELECT influencer_id, username, to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS observed_at
       FROM influencer_latest WHERE influencer_id >= 2200000 AND influencer_id < 2300000 ORDER BY influencer_id`,
  );
  expect(latest.rows.map((r) => r.username)).toEqual(usernames);
  expect(latest.rows.map((r) => r.observed_at)).toEqual(rows.map((_, i) => (i % 2 ? `${DAY} 12:00:00.123456` : `${DAY} 12:00:00.500000`)));
  const stored = await pool.query<{ job_id: string; follower_count: number }>(
    'SELECT job_id, follower_count FROM follower_counts WHERE influencer_id >= 2200000 AND influencer_id < 2300000 ORDER BY influencer_id',
  );
  expect(stored.rows).toEqual(rows.map((r) => ({ job_id: r.jobId, follower_count: r.followerCount })));
});

it('absorbs samples stored already (a redelivery overlapping new ones): only the new ones are inserted', async () => {
  const rows = Array.from({ length: 20 }, (_, i) => result(i, { influencerId: 2_300_000 + (i % 10) }));
  expect(await storeResults(pool, rows.slice(0, 10))).toEqual({ inserted: 10, rejected: [] });
  expect(await storeResults(pool, rows.slice(5))).toEqual({ inserted: 10, rejected: [] });
  expect(await storeResults(pool, rows)).toEqual({ inserted: 0, rejected: [] });
  expect(await count(pool, 'SELECT count(*) AS n FROM follower_counts WHERE influencer_id BETWEEN 2300000 AND 2300009')).toBe(20);
  const latest = await pool.query<{ follower_count: number }>(
    'SELECT follower_count FROM influencer_latest WHERE influencer_id BETWEEN 2300000 AND 2300009 ORDER BY influencer_id',
  );
  expect(latest.rows.map((r) => r.follower_count)).toEqual(rows.slice(10).map((r) => r.followerCount));
});

it('refuses a single bad row alone', async () => {
  const outcome = await storeResults(pool, [result(1, { influencerId: 2_100_000, observedAt: '0000-01-01T00:00:00Z' })]);
  expect(outcome).toMatchObject({ inserted: 0, rejected: [{ index: 0 }] });
});

it('throws errors that are not about a row (the caller retries the batch)', async () => {
  const broken = createPool({ connectionString: env.db.url.replace(/search_path%3D[^%&]+/, 'search_path%3Dno_such_schema'), max: 1 });
  try {
    await expect(storeResults(broken, [result(1)])).rejects.toMatchObject({ code: '42P01' });
  } finally {
    await broken.end();
  }
});
