import type { PoolClient } from '@mockstagram/shared';

/** Column arrays of the rows to insert: element i of each array is row i. */
export interface FollowerCountColumns {
  influencerIds: number[];
  /** ISO 8601 date-times as received (PostgreSQL parses them; sub-millisecond digits are kept). */
  observedAts: string[];
  followerCounts: number[];
  followingCounts: number[];
  jobIds: string[];
}

/**
 * Inserts many samples in one statement; a sample already stored (same influencer and
 * `observed_at`, e.g. a redelivered result) is skipped. Returns how many rows were inserted.
 *
 * One statement with five array parameters whatever the row count: no SQL built per batch, no
 * per-row round trips, and the plan is the same every time.
 */
export async function insertFollowerCounts(client: PoolClient, rows: FollowerCountColumns): Promise<number> {
  const result = await client.query(
    `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count, job_id)
     SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::uuid[])
     ON CONFLICT (influencer_id, observed_at) DO NOTHING`,
    [rows.influencerIds, rows.observedAts, rows.followerCounts, rows.followingCounts, rows.jobIds],
  );
  return result.rowCount ?? 0;
}
