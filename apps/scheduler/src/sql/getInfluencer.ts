import type { InfluencerRow, Queryable } from './types';

/** One influencer by id, or `undefined` when it is not registered. */
export async function getInfluencer(db: Queryable, id: number): Promise<InfluencerRow | undefined> {
  const { rows } = await db.query<InfluencerRow>({
    text: `
      SELECT id, username, active,
             fetch_interval_seconds AS "fetchIntervalSeconds",
             next_fetch_at AS "nextFetchAt",
             created_at AS "createdAt",
             updated_at AS "updatedAt"
      FROM influencers WHERE id = $1::bigint`,
    values: [id],
  });
  return rows[0];
}
