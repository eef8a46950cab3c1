import type { Queryable } from './types';

/** An influencer's newest sample, rank (from the snapshot) and flag. */
export interface InfluencerRow {
  id: number;
  username: string;
  followerCount: number;
  followingCount: number;
  /** followers / following; null when following is 0. */
  ratio: number | null;
  observedAt: Date;
  /** 1 = most followers among those not suspicious; null when suspicious or not ranked yet. */
  rank: number | null;
  /** When the rank snapshot was computed; null before the first refresh. */
  rankedAt: Date | null;
  flaggedAt: Date | null;
  score: number | null;
  reason: 'spike' | 'erratic' | null;
}

/**
 * One influencer by id, or `undefined` when nothing was stored for it. Primary-key lookups in
 * influencer_latest, follower_rankings and suspicious_influencers, plus the one-row
 * follower_stats.
 */
export async function getInfluencer(db: Queryable, id: number): Promise<InfluencerRow | undefined> {
  const { rows } = await db.query<InfluencerRow>({
    text: `
      SELECT l.influencer_id AS id, l.username,
             l.follower_count AS "followerCount", l.following_count AS "followingCount",
             l.follower_count::double precision / NULLIF(l.following_count, 0) AS ratio,
             l.observed_at AS "observedAt",
             r.rank, st.computed_at AS "rankedAt",
             s.flagged_at AS "flaggedAt", s.score, s.reason
        FROM influencer_latest l
        LEFT JOIN follower_rankings r ON r.influencer_id = l.influencer_id
        LEFT JOIN suspicious_influencers s ON s.influencer_id = l.influencer_id
        LEFT JOIN follower_stats st ON true
       WHERE l.influencer_id = $1::bigint`,
    values: [id],
  });
  return rows[0];
}
