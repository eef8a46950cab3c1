import type { Queryable } from './types';

export interface SuspiciousEventRow {
  event: 'flagged' | 'cleared';
  at: Date;
  score: number | null;
  reason: 'spike' | 'erratic' | null;
  runId: number;
}

/** An influencer's flags and clears, newest first (suspicious_events_influencer_idx). */
export async function listSuspiciousEvents(db: Queryable, id: number, limit: number): Promise<SuspiciousEventRow[]> {
  const { rows } = await db.query<SuspiciousEventRow>({
    text: `
      SELECT event, at, score, reason, run_id AS "runId"
        FROM suspicious_events
       WHERE influencer_id = $1::bigint
       ORDER BY at DESC, id DESC
       LIMIT $2::int`,
    values: [id, limit],
  });
  return rows;
}
