import type { Queryable } from './types';

export interface StatsRow {
  /** Mean follower count of the influencers not suspicious; null when there are none. */
  averageFollowers: number | null;
  /** Influencers with at least one sample. */
  tracked: number;
  /** Of those, not suspicious (the ones ranked and averaged). */
  ranked: number;
  suspicious: number;
  /** When these figures were computed (the rank snapshot); null before the first refresh. */
  computedAt: Date | null;
  /** The newest sample stored, as of computedAt. */
  newestSampleAt: Date | null;
}

/**
 * The figures of the last rank snapshot: one row. (A live max(observed_at) over the hypertable
 * is planned over every chunk on each call; the snapshot is at most one refresh old.)
 */
export async function getStats(db: Queryable): Promise<StatsRow> {
  // Named: each connection parses and plans it once.
  const { rows } = await db.query<StatsRow>({
    name: 'api.getStats',
    text: `
    SELECT st.average_followers AS "averageFollowers",
           coalesce(st.tracked, 0) AS tracked, coalesce(st.ranked, 0) AS ranked,
           coalesce(st.suspicious, 0) AS suspicious, st.computed_at AS "computedAt",
           st.newest_sample_at AS "newestSampleAt"
      FROM (SELECT 1) one
      LEFT JOIN follower_stats st ON true`,
  });
  return rows[0];
}
