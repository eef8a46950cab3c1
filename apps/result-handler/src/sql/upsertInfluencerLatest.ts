import type { PoolClient } from '@mockstagram/shared';
import type { FollowerCountColumns } from './insertFollowerCounts';

/** The rows of {@link FollowerCountColumns} plus each row's username. */
export interface InfluencerLatestColumns extends Omit<FollowerCountColumns, 'jobIds'> {
  usernames: string[];
}

/**
 * Makes `influencer_latest` hold, per influencer, the newest of (what it holds, the newest row
 * of this batch). Never moves backwards in time: an older sample arriving late (a redelivery,
 * a slow fetcher) leaves the row alone. Returns how many influencers were inserted or updated.
 *
 * `DISTINCT ON` keeps one row per influencer (ON CONFLICT DO UPDATE may touch a row only once
 * per statement); ties on `observed_at` keep any one of them, they are the same sample.
 */
export async function upsertInfluencerLatest(client: PoolClient, rows: InfluencerLatestColumns): Promise<number> {
  const result = await client.query(
    `INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at, updated_at)
     SELECT DISTINCT ON (r.influencer_id) r.influencer_id, r.username, r.follower_count, r.following_count, r.observed_at, now()
       FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[])
         AS r (influencer_id, username, follower_count, following_count, observed_at)
      ORDER BY r.influencer_id, r.observed_at DESC
     ON CONFLICT (influencer_id) DO UPDATE
        SET username = EXCLUDED.username,
            follower_count = EXCLUDED.follower_count,
            following_count = EXCLUDED.following_count,
            observed_at = EXCLUDED.observed_at,
            updated_at = EXCLUDED.updated_at
      WHERE influencer_latest.observed_at < EXCLUDED.observed_at`,
    [rows.influencerIds, rows.usernames, rows.followerCounts, rows.followingCounts, rows.observedAts],
  );
  return result.rowCount ?? 0;
}
