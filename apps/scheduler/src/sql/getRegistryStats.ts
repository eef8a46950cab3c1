import type { Queryable } from './types';

export interface RegistryStats {
  /** Active influencers. */
  active: number;
  /** Jobs per second they need in steady state: sum of 1 / fetch_interval_seconds. */
  jobsPerSecond: number;
}

/** Counts the active influencers and the job rate they need (a scan of the table: call it now and then, not per tick). */
export async function getRegistryStats(db: Queryable): Promise<RegistryStats> {
  const { rows } = await db.query<RegistryStats>(
    `SELECT count(*)::int AS active,
            coalesce(sum(1.0 / fetch_interval_seconds), 0)::float8 AS "jobsPerSecond"
     FROM influencers WHERE active`,
  );
  return rows[0];
}
