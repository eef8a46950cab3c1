/**
 * storeResults against the real TimescaleDB: refused rows are isolated by bisection, the rest
 * is stored in the same call; a batch of good rows is one transaction.
 */
import { createPool, type FetchResult, type Pool } from '@mockstagram/shared';
import { isRowDataError, storeResults } from '../src/store';
import { daysAgo } from '@mockstagram/testkit';
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
    rows[i] =
      i % 2 === 0 ? { ...rows[i], observedAt: '0000-06-01T00:00:00.000Z' } : { ...rows[i], username: `nul\u0000${i}` };
  }
  const outcome = await storeResults(pool, rows);
  expect(outcome.rejected.map((r) => r.index).sort((a, b) => a - b)).toEqual([...bad].sort((a, b) => a - b));
  for (const r of outcome.rejected) {
    expect(isRowDataError(r.error)).toBe(true);
    expect((r.error as { code?: string }).code).toMatch(/^22/);
  }
  expect(outcome.inserted).toBe(1000 - bad.length);
  expect(await count(pool, 'SELECT count(*) AS n FROM follower_counts WHERE influencer_id >= 2000000')).toBe(
    1000 - bad.length,
  );
  expect(await count(pool, 'SELECT count(*) AS n FROM influencer_latest WHERE influencer_id >= 2000000')).toBe(
    1000 - bad.length,
  );

  // Again: nothing new inserted, the same rows refused.
  const again = await storeResults(pool, rows);
  expect(again.inserted).toBe(0);
  expect(again.rejected).toHaveLength(bad.length);
});

it('stores values exactly as received: usernames with quotes, backslashes, tabs, newlines; sub-millisecond times; offsets', async () => {
  const usernames = [
    'tab\there',
    'line\nbreak',
    'cr\rhere',
    'back\\slash',
    '\\N',
    '\\.',
    'ünï€ode 🙂',
    ' spaced ',
    '"quoted",comma',
  ];
  const rows = usernames.map((username, i) =>
    result(i, {
      influencerId: 2_200_000 + i,
      username,
      observedAt: i % 2 ? `${DAY}T12:00:00.123456Z` : `${DAY}T14:00:00.5+02:00`,
    }),
  );
  expect(await storeResults(pool, rows)).toEqual({ inserted: rows.length, rejected: [] });
  const latest = await pool.query<{ influencer_id: number; username: string; observed_at: string }>(
    `SELECT influencer_id, username, to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS observed_at
       FROM influencer_latest WHERE influencer_id >= 2200000 AND influencer_id < 2300000 ORDER BY influencer_id`,
  );
  expect(latest.rows.map((r) => r.username)).toEqual(usernames);
  expect(latest.rows.map((r) => r.observed_at)).toEqual(
    rows.map((_, i) => (i % 2 ? `${DAY} 12:00:00.123456` : `${DAY} 12:00:00.500000`)),
  );
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
  expect(
    await count(pool, 'SELECT count(*) AS n FROM follower_counts WHERE influencer_id BETWEEN 2300000 AND 2300009'),
  ).toBe(20);
  const latest = await pool.query<{ follower_count: number }>(
    'SELECT follower_count FROM influencer_latest WHERE influencer_id BETWEEN 2300000 AND 2300009 ORDER BY influencer_id',
  );
  expect(latest.rows.map((r) => r.follower_count)).toEqual(rows.slice(10).map((r) => r.followerCount));
});

it('refuses a single bad row alone', async () => {
  const outcome = await storeResults(pool, [
    result(1, { influencerId: 2_100_000, observedAt: '0000-01-01T00:00:00Z' }),
  ]);
  expect(outcome).toMatchObject({ inserted: 0, rejected: [{ index: 0 }] });
});

it('throws errors that are not about a row (the caller retries the batch)', async () => {
  const broken = createPool({
    connectionString: env.db.url.replace(/search_path%3D[^%&]+/, 'search_path%3Dno_such_schema'),
    max: 1,
  });
  try {
    await expect(storeResults(broken, [result(1)])).rejects.toMatchObject({ code: '42P01' });
  } finally {
    await broken.end();
  }
});

describe('exactly one sample per (influencer, slot)', () => {
  /** A result for `slot` of influencer `id`, fetched `lateMs` after it. */
  function forSlot(id: number, slot: string, lateMs: number, overrides: Partial<FetchResult> = {}): FetchResult {
    return result(lateMs, {
      influencerId: id,
      username: `user_${id}`,
      scheduledFor: slot,
      observedAt: new Date(Date.parse(slot) + lateMs).toISOString(),
      ...overrides,
    });
  }

  async function stored(
    id: number,
  ): Promise<{ observed_at: string; fetched_at: string; job_id: string; follower_count: number }[]> {
    const { rows } = await pool.query(
      `SELECT to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS observed_at,
              to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS fetched_at, job_id, follower_count
         FROM follower_counts WHERE influencer_id = $1 ORDER BY observed_at`,
      [id],
    );
    return rows;
  }

  async function latest(id: number): Promise<{ observed_at: string; follower_count: number } | undefined> {
    const { rows } = await pool.query(
      `SELECT to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS observed_at, follower_count
         FROM influencer_latest WHERE influencer_id = $1`,
      [id],
    );
    return rows[0];
  }

  const SLOT = `${DAY}T10:00:00.000Z`;
  const NEXT_SLOT = `${DAY}T10:00:10.000Z`;

  it('stores the slot as observed_at and the fetch time as fetched_at', async () => {
    const first = forSlot(2_400_000, SLOT, 1234);
    expect(await storeResults(pool, [first])).toEqual({ inserted: 1, rejected: [] });
    expect(await stored(2_400_000)).toEqual([
      { observed_at: SLOT, fetched_at: first.observedAt, job_id: first.jobId, follower_count: first.followerCount },
    ]);
    expect(await latest(2_400_000)).toEqual({ observed_at: SLOT, follower_count: first.followerCount });
  });

  it('a job fetched again after a redelivery (same job, later fetch, other counts) stores nothing new', async () => {
    const first = forSlot(2_400_001, SLOT, 500);
    const again = {
      ...forSlot(2_400_001, SLOT, 9_000, { followerCount: first.followerCount + 77 }),
      jobId: first.jobId,
    };
    expect(await storeResults(pool, [first])).toEqual({ inserted: 1, rejected: [] });
    expect(await storeResults(pool, [again])).toEqual({ inserted: 0, rejected: [] });
    expect(await stored(2_400_001)).toEqual([
      { observed_at: SLOT, fetched_at: first.observedAt, job_id: first.jobId, follower_count: first.followerCount },
    ]);
    expect(await latest(2_400_001)).toEqual({ observed_at: SLOT, follower_count: first.followerCount });
  });

  it('a re-issued job (new job id, attempt 2) and a second claim of the slot store nothing new, in later batches or the same one', async () => {
    const first = forSlot(2_400_002, SLOT, 100);
    const reissued = forSlot(2_400_002, SLOT, 20_000, { followerCount: first.followerCount + 1 });
    const claimedTwice = forSlot(2_400_002, SLOT, 300, { followerCount: first.followerCount + 2 });
    const next = forSlot(2_400_002, NEXT_SLOT, 50);
    expect(await storeResults(pool, [first])).toEqual({ inserted: 1, rejected: [] });
    expect(await storeResults(pool, [reissued, next, claimedTwice])).toEqual({ inserted: 1, rejected: [] });
    expect((await stored(2_400_002)).map((r) => [r.observed_at, r.job_id])).toEqual([
      [SLOT, first.jobId],
      [NEXT_SLOT, next.jobId],
    ]);
    expect(await latest(2_400_002)).toEqual({ observed_at: NEXT_SLOT, follower_count: next.followerCount });

    // Three results for one new slot in one batch (nothing stored yet): the first is kept, and
    // influencer_latest holds that same sample.
    const a = forSlot(2_400_003, SLOT, 10);
    const b = forSlot(2_400_003, SLOT, 5, { followerCount: a.followerCount + 5 });
    const c = forSlot(2_400_003, SLOT, 20, { followerCount: a.followerCount + 9 });
    expect(await storeResults(pool, [a, b, c])).toEqual({ inserted: 1, rejected: [] });
    expect(await stored(2_400_003)).toEqual([
      { observed_at: SLOT, fetched_at: a.observedAt, job_id: a.jobId, follower_count: a.followerCount },
    ]);
    expect(await latest(2_400_003)).toEqual({ observed_at: SLOT, follower_count: a.followerCount });
  });

  it('a result without scheduledFor (written before it existed) is stored at its observedAt', async () => {
    const { scheduledFor: _omitted, ...old } = forSlot(2_400_004, SLOT, 700);
    expect(await storeResults(pool, [old])).toEqual({ inserted: 1, rejected: [] });
    expect(await storeResults(pool, [old])).toEqual({ inserted: 0, rejected: [] });
    expect(await stored(2_400_004)).toEqual([
      { observed_at: old.observedAt, fetched_at: old.observedAt, job_id: old.jobId, follower_count: old.followerCount },
    ]);
  });
});
