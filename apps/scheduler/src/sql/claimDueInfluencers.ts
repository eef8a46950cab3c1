import type { Queryable } from './types';

/** A claimed slot: the influencer, and the time it was due (its job's `scheduledFor`). */
export interface ClaimedSlot {
  id: number;
  /** The slot being emitted (the row's `next_fetch_at` before the claim). */
  slot: Date;
  /** The row's new `next_fetch_at`. */
  nextFetchAt: Date;
}

/**
 * Claims up to `limit` due influencers (active, `next_fetch_at <= now()`, oldest first) and moves
 * each one's `next_fetch_at` to its next slot, in ONE statement. Run it inside a transaction and
 * commit only once the jobs for the returned slots are acknowledged by Kafka; roll back otherwise
 * and the same slots are due again.
 *
 * `FOR UPDATE SKIP LOCKED`: rows claimed by a concurrent scheduler's open transaction are skipped,
 * and once it commits their `next_fetch_at` is in the future, so no (influencer, slot) is claimed
 * twice.
 *
 * Next slot = slot + interval. When that is still more than one interval in the past (the
 * scheduler was stopped, or far behind), the missed slots are skipped: the next slot is the first
 * one after now() on the same phase (slot + k·interval). So a late influencer gets ONE job for its
 * oldest slot, not one per missed slot — a past count cannot be observed anyway.
 */
export async function claimDueInfluencers(db: Queryable, limit: number): Promise<ClaimedSlot[]> {
  const { rows } = await db.query<ClaimedSlot>({
    text: `
      WITH due AS (
        SELECT id, next_fetch_at AS slot, fetch_interval_seconds AS every
        FROM influencers
        WHERE active AND next_fetch_at <= now()
        ORDER BY next_fetch_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED
      )
      UPDATE influencers AS i
      SET next_fetch_at = CASE
            WHEN due.slot + 2 * due.every * interval '1 second' >= now()
              THEN due.slot + due.every * interval '1 second'
            ELSE due.slot + (floor(extract(epoch FROM now() - due.slot) / due.every) + 1) * due.every * interval '1 second'
          END,
          updated_at = now()
      FROM due
      WHERE i.id = due.id
      RETURNING i.id, due.slot, i.next_fetch_at AS "nextFetchAt"`,
    values: [limit],
  });
  return rows;
}
