import type { Queryable } from './types';

export interface SuspiciousRow {
  id: number;
  /** null when the influencer has no row in influencer_latest any more. */
  username: string | null;
  followerCount: number | null;
  flaggedAt: Date;
  score: number;
  reason: 'spike' | 'erratic';
  details: Record<string, number>;
}

/** Where a page starts: after this (score, id), in (score DESC, id ASC) order. */
export interface SuspiciousCursor {
  score: number;
  id: number;
}

/** The flagged influencers, most suspicious first (keyset on suspicious_influencers_score_idx). */
export async function listSuspicious(
  db: Queryable,
  limit: number,
  after: SuspiciousCursor | undefined,
): Promise<SuspiciousRow[]> {
  const { rows } = await db.query<SuspiciousRow>({
    text: `
      SELECT s.influencer_id AS id, l.username, l.follower_count AS "followerCount",
             s.flagged_at AS "flaggedAt", s.score, s.reason, s.details
        FROM suspicious_influencers s
        LEFT JOIN influencer_latest l ON l.influencer_id = s.influencer_id
       WHERE $2::double precision IS NULL
          OR s.score < $2::double precision
          OR (s.score = $2::double precision AND s.influencer_id > $3::bigint)
       ORDER BY s.score DESC, s.influencer_id
       LIMIT $1::int`,
    values: [limit, after?.score ?? null, after?.id ?? null],
  });
  return rows;
}
