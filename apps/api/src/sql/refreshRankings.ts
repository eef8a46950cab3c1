import type { Queryable } from './types';

/** Rebuilds the rank / average snapshot now (what the every-minute TimescaleDB job does). */
export async function refreshRankings(
  db: Queryable,
): Promise<{ computedAt: Date; durationMs: number; ranked: number }> {
  const { rows } = await db.query<{ computedAt: Date; durationMs: number; ranked: number }>(
    `SELECT computed_at AS "computedAt", duration_ms AS "durationMs", ranked FROM refresh_rankings()`,
  );
  return rows[0];
}
