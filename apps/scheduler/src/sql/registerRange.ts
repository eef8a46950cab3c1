import type { Queryable, RegisterCounts } from './types';
import { firstSlotOffset } from './slots';

/**
 * Registers every id from `from` to `to` (inclusive) in one statement
 * (`INSERT ... SELECT FROM generate_series`), server-side: nothing but two numbers travels.
 *
 * - New ids: active, `fetch_interval_seconds = intervalSeconds ?? defaultIntervalSeconds`, first
 *   `next_fetch_at` = now() + a hash-spread share of one interval (or now() when `spread` is false).
 * - Known inactive ids: re-activated, with a fresh first slot as above.
 * - Known active ids: kept on their schedule; their interval changes only when `intervalSeconds`
 *   is given and differs. Rows with nothing to change are not rewritten (and not counted).
 *
 * Keep a range to some 10^5 ids per call (see `InfluencerRegistry`, which chunks): on a
 * single-session database one statement holds the database for its whole run.
 */
export async function registerRange(
  db: Queryable,
  params: { from: number; to: number; intervalSeconds: number | null; defaultIntervalSeconds: number; spread: boolean },
): Promise<RegisterCounts> {
  const { rows } = await db.query<RegisterCounts>({
    text: `
      WITH upserted AS (
        INSERT INTO influencers AS i (id, fetch_interval_seconds, next_fetch_at)
        SELECT g.id, coalesce($3::int, $4::int), now() + ${firstSlotOffset('g.id', 'coalesce($3::int, $4::int)', '$5::boolean')}
        FROM generate_series($1::bigint, $2::bigint) AS g(id)
        ON CONFLICT (id) DO UPDATE SET
          active = true,
          fetch_interval_seconds = coalesce($3::int, i.fetch_interval_seconds),
          next_fetch_at = CASE WHEN i.active THEN i.next_fetch_at
            ELSE now() + ${firstSlotOffset('i.id', 'coalesce($3::int, i.fetch_interval_seconds)', '$5::boolean')} END,
          updated_at = now()
        WHERE NOT i.active OR i.fetch_interval_seconds <> coalesce($3::int, i.fetch_interval_seconds)
        RETURNING (i.xmax = 0) AS inserted
      )
      SELECT count(*) FILTER (WHERE inserted)::int AS inserted,
             count(*) FILTER (WHERE NOT inserted)::int AS updated
      FROM upserted`,
    values: [params.from, params.to, params.intervalSeconds, params.defaultIntervalSeconds, params.spread],
  });
  return rows[0];
}
