import type { Queryable } from './types';

export interface GrowerRow {
  id: number;
  username: string;
  followerCount: number;
  /** Followers now minus followers at the start of the window. */
  growth: number;
  /** growth / followers at the start; null when that was 0. */
  growthRate: number | null;
  observedAt: Date;
}

/** Where a page of growers starts: after this (growth, id), in (growth DESC, id ASC) order. */
export interface GrowerCursor {
  growth: number;
  id: number;
}

/**
 * Top growers over a window, among influencers not suspicious: newest count (influencer_latest)
 * minus the last count of the hour the window starts in (follower_counts_hourly), highest first,
 * ties by smaller id. Influencers without a sample in that hour are left out. Live: it reads one
 * hourly row per influencer, so its cost grows with the number of influencers (see
 * docs/performance.md).
 */
export async function listTopGrowers(
  db: Queryable,
  windowSeconds: number,
  limit: number,
  after: GrowerCursor | undefined,
): Promise<GrowerRow[]> {
  const { rows } = await db.query<GrowerRow>({
    text: `
      WITH g AS (
        SELECT l.influencer_id AS id, l.username, l.follower_count AS "followerCount",
               l.follower_count - h.follower_count_last AS growth,
               (l.follower_count - h.follower_count_last)::double precision / NULLIF(h.follower_count_last, 0) AS "growthRate",
               l.observed_at AS "observedAt"
          FROM influencer_latest l
          JOIN follower_counts_hourly h
            ON h.influencer_id = l.influencer_id
           AND h.bucket = time_bucket(INTERVAL '1 hour', now() - make_interval(secs => $1::int))
         WHERE NOT EXISTS (SELECT 1 FROM suspicious_influencers s WHERE s.influencer_id = l.influencer_id)
      )
      SELECT * FROM g
       WHERE $3::bigint IS NULL OR (growth, -id) < ($3::bigint, -$4::bigint)
       ORDER BY growth DESC, id
       LIMIT $2::int`,
    values: [windowSeconds, limit, after?.growth ?? null, after?.id ?? null],
  });
  return rows;
}
