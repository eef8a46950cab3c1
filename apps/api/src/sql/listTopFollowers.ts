import type { Queryable } from './types';

export interface RankedRow {
  rank: number;
  id: number;
  username: string;
  followerCount: number;
  followingCount: number;
  ratio: number | null;
  observedAt: Date;
}

/**
 * A page of the leaderboard by followers from the rank snapshot: ranks after `afterRank`
 * (0 = from the top), `limit` of them, in rank order (keyset on the unique rank index).
 */
export async function listTopFollowers(db: Queryable, afterRank: number, limit: number): Promise<RankedRow[]> {
  const { rows } = await db.query<RankedRow>({
    // Named: each connection parses and plans it once (again after the rank snapshot is swapped).
    name: 'api.listTopFollowers',
    text: `
      SELECT rank, influencer_id AS id, username,
             follower_count AS "followerCount", following_count AS "followingCount",
             follower_count::double precision / NULLIF(following_count, 0) AS ratio,
             observed_at AS "observedAt"
        FROM follower_rankings
       WHERE rank > $1::bigint
       ORDER BY rank
       LIMIT $2::int`,
    values: [afterRank, limit],
  });
  return rows;
}
