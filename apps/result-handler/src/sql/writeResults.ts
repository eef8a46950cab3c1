import type { FetchResult, Pool, PoolClient } from '@mockstagram/shared';

/**
 * Writes a batch of results in ONE statement, so in one transaction and one round trip:
 *
 * - every sample into `follower_counts`, at its slot: `observed_at` is the result's `scheduledFor`
 *   (its `observedAt` for a result without one), `fetched_at` its `observedAt`. A sample for a slot
 *   already stored (a redelivered result, a job fetched again or re-issued, a slot claimed twice;
 *   or two of them in this batch) is skipped (`ON CONFLICT DO NOTHING`);
 * - per influencer, the newest slot of the batch into `influencer_latest`, unless the row there
 *   is as new or newer: it never moves backwards in time (a redelivery, a slow fetcher).
 *   `DISTINCT ON` keeps one row per influencer (ON CONFLICT DO UPDATE may touch a row only once
 *   per statement); of two results for the same slot it takes the first, the one `follower_counts`
 *   keeps (rows are inserted in batch order, `ord`).
 *
 * Returns how many `follower_counts` rows were inserted.
 *
 * The rows travel as seven array parameters (`UNNEST`), parsed once by the server for both tables
 * (the `MATERIALIZED` CTE; data-modifying CTEs always run to completion). One statement whatever
 * the row count: no SQL built per batch, the same plan every time. Why one statement rather than
 * BEGIN / INSERT / upsert / COMMIT: each round trip is a moment the database waits for this
 * process, whose event loop is also decoding the next Kafka fetch. A value PostgreSQL
 * refuses (year 0, a NUL in a username) fails the statement with its SQLSTATE (class 22); the
 * caller bisects (store.ts).
 */
export async function writeResults(
  db: Pool | PoolClient,
  rows: readonly FetchResult[],
  parameters: ResultParameters = resultParameters(rows),
): Promise<number> {
  const result = await db.query<{ inserted: number }>(WRITE_RESULTS_SQL, [...parameters]);
  return result.rows[0].inserted;
}

/**
 * {@link writeResults} for samples none of which is stored yet (the normal case): the same
 * statement without `ON CONFLICT` on `follower_counts`, which spares the database the speculative
 * insertion per row. If any sample is
 * already stored (a redelivery), it fails with SQLSTATE 23505 and writes nothing: the caller then
 * runs {@link writeResults} (store.ts).
 */
export async function writeNewResults(
  db: Pool | PoolClient,
  rows: readonly FetchResult[],
  parameters: ResultParameters = resultParameters(rows),
): Promise<number> {
  const result = await db.query<{ inserted: number }>(WRITE_NEW_RESULTS_SQL, [...parameters]);
  return result.rows[0].inserted;
}

/** The statements' seven parameters for some rows: PostgreSQL array literals, one per column. */
export type ResultParameters = readonly [string, string, string, string, string, string, string];

/**
 * The parameters of {@link writeResults} / {@link writeNewResults} for `rows`, as the array
 * literals node-postgres would send (`{1,2}`, `{"a","b\\"c"}`). Building them takes the handler's
 * event loop a while per row, so the result-handler builds a batch's while the database writes the
 * batch before it (it passes them in), instead of after, while the database waits.
 */
export function resultParameters(rows: readonly FetchResult[]): ResultParameters {
  const n = rows.length;
  const influencerIds = new Array<number>(n);
  const slots = new Array<string>(n);
  const observedAts = new Array<string>(n);
  const followerCounts = new Array<number>(n);
  const followingCounts = new Array<number>(n);
  const jobIds = new Array<string>(n);
  const usernames = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    influencerIds[i] = r.influencerId;
    // ISO 8601 strings as received: PostgreSQL parses them, sub-millisecond digits are kept.
    slots[i] = r.scheduledFor ?? r.observedAt;
    observedAts[i] = r.observedAt;
    followerCounts[i] = r.followerCount;
    followingCounts[i] = r.followingCount;
    jobIds[i] = r.jobId;
    usernames[i] = r.username;
  }
  return [
    integerArray(influencerIds),
    textArray(slots),
    integerArray(followerCounts),
    integerArray(followingCounts),
    textArray(jobIds),
    textArray(usernames),
    textArray(observedAts),
  ];
}

/** `{1,2,3}` (safe integers, as the schema guarantees: no exponent notation). */
function integerArray(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}

const ARRAY_ESCAPE = /[\\"]/;
const ARRAY_ESCAPE_ALL = /[\\"]/g;

/** `{"a","b"}`: every element quoted, `\` and `"` backslash-escaped (PostgreSQL array input syntax). */
function textArray(values: readonly string[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    literal += `${i > 0 ? ',"' : '"'}${ARRAY_ESCAPE.test(v) ? v.replace(ARRAY_ESCAPE_ALL, '\\$&') : v}"`;
  }
  return `${literal}}`;
}

export const WRITE_RESULTS_SQL = `WITH r AS MATERIALIZED (
  SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[], $7::timestamptz[])
    WITH ORDINALITY AS r (influencer_id, observed_at, follower_count, following_count, job_id, username, fetched_at, ord)
), inserted AS (
  INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count, job_id, fetched_at)
  SELECT influencer_id, observed_at, follower_count, following_count, job_id, fetched_at FROM r ORDER BY ord
  ON CONFLICT (influencer_id, observed_at) DO NOTHING
  RETURNING 1
), latest AS (
  INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at, updated_at)
  SELECT DISTINCT ON (influencer_id) influencer_id, username, follower_count, following_count, observed_at, now()
    FROM r
   ORDER BY influencer_id, observed_at DESC, ord
  ON CONFLICT (influencer_id) DO UPDATE
     SET username = EXCLUDED.username,
         follower_count = EXCLUDED.follower_count,
         following_count = EXCLUDED.following_count,
         observed_at = EXCLUDED.observed_at,
         updated_at = EXCLUDED.updated_at
   WHERE influencer_latest.observed_at < EXCLUDED.observed_at
)
SELECT count(*)::int AS inserted FROM inserted`;

export const WRITE_NEW_RESULTS_SQL = WRITE_RESULTS_SQL.replace(
  '\n  ON CONFLICT (influencer_id, observed_at) DO NOTHING',
  '',
);
if (WRITE_NEW_RESULTS_SQL === WRITE_RESULTS_SQL)
  throw new Error('writeResults.ts: WRITE_NEW_RESULTS_SQL must drop the ON CONFLICT clause');
