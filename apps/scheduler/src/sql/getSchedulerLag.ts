import type { Queryable } from './types';

/**
 * Seconds between now() and the oldest `next_fetch_at` still due among active influencers
 * (0 when nothing is due). Cheap: a min() over the partial index `influencers_due_idx`.
 */
export async function getSchedulerLag(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ lag: number | null }>(
    `SELECT extract(epoch FROM now() - min(next_fetch_at))::float8 AS lag
     FROM influencers WHERE active AND next_fetch_at <= now()`,
  );
  return Math.max(0, rows[0]?.lag ?? 0);
}
