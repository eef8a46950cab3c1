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
  /** The newest `historyLimit` flags and clears, newest first. */
  history: InfluencerEvent[];
}

export interface InfluencerEvent {
  event: 'flagged' | 'cleared';
  at: Date;
  score: number | null;
  reason: 'spike' | 'erratic' | null;
  runId: number;
}

interface Row extends Omit<InfluencerRow, 'history'> {
  /** json_agg of the events; `at` in PostgreSQL's JSON timestamp format. */
  history: Array<Omit<InfluencerEvent, 'at'> & { at: string }>;
}

/**
 * One influencer by id, or `undefined` when nothing was stored for it: primary-key lookups in
 * influencer_latest, follower_rankings and suspicious_influencers, the one-row follower_stats,
 * and the newest `historyLimit` of its flags and clears (suspicious_events_influencer_idx), in
 * one statement so that the answer costs one round trip to the database.
 */
export async function getInfluencer(
  db: Queryable,
  id: number,
  historyLimit: number,
): Promise<InfluencerRow | undefined> {
  const { rows } = await db.query<Row>({
    // Named: each connection parses and plans it once (again after the rank snapshot is swapped).
    name: 'api.getInfluencer',
    text: `
      SELECT l.influencer_id AS id, l.username,
             l.follower_count AS "followerCount", l.following_count AS "followingCount",
             l.follower_count::double precision / NULLIF(l.following_count, 0) AS ratio,
             l.observed_at AS "observedAt",
             r.rank, st.computed_at AS "rankedAt",
             s.flagged_at AS "flaggedAt", s.score, s.reason,
             (SELECT coalesce(json_agg(json_build_object('event', e.event, 'at', e.at, 'score', e.score, 'reason', e.reason, 'runId', e.run_id)
                                       ORDER BY e.at DESC, e.id DESC), '[]')
                FROM (SELECT id, event, at, score, reason, run_id
                        FROM suspicious_events
                       WHERE influencer_id = l.influencer_id
                       ORDER BY at DESC, id DESC
                       LIMIT $2::int) e) AS history
        FROM influencer_latest l
        LEFT JOIN follower_rankings r ON r.influencer_id = l.influencer_id
        LEFT JOIN suspicious_influencers s ON s.influencer_id = l.influencer_id
        LEFT JOIN follower_stats st ON true
       WHERE l.influencer_id = $1::bigint`,
    values: [id, historyLimit],
  });
  const row = rows[0];
  return row && { ...row, history: row.history.map((e) => ({ ...e, at: new Date(e.at) })) };
}
