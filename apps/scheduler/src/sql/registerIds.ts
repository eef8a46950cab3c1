import type { Queryable, RegisterCounts } from './types';
import { firstSlotOffset } from './slots';

/**
 * Registers a list of ids in one statement (`INSERT ... SELECT FROM unnest($1::bigint[])`), with
 * the same rules as {@link registerRange}. The list must not contain an id twice (PostgreSQL
 * refuses to upsert one row twice in a statement); keep it to some 10^4 ids per call.
 */
export async function registerIds(
  db: Queryable,
  params: { ids: readonly number[]; intervalSeconds: number | null; defaultIntervalSeconds: number; spread: boolean },
): Promise<RegisterCounts> {
  const { rows } = await db.query<RegisterCounts>({
    text: `
      WITH upserted AS (
        INSERT INTO influencers AS i (id, fetch_interval_seconds, next_fetch_at)
        SELECT u.id, coalesce($2::int, $3::int), now() + ${firstSlotOffset('u.id', 'coalesce($2::int, $3::int)', '$4::boolean')}
        FROM unnest($1::bigint[]) AS u(id)
        ON CONFLICT (id) DO UPDATE SET
          active = true,
          fetch_interval_seconds = coalesce($2::int, i.fetch_interval_seconds),
          next_fetch_at = CASE WHEN i.active THEN i.next_fetch_at
            ELSE now() + ${firstSlotOffset('i.id', 'coalesce($2::int, i.fetch_interval_seconds)', '$4::boolean')} END,
          updated_at = now()
        WHERE NOT i.active OR i.fetch_interval_seconds <> coalesce($2::int, i.fetch_interval_seconds)
        RETURNING (i.xmax = 0) AS inserted
      )
      SELECT count(*) FILTER (WHERE inserted)::int AS inserted,
             count(*) FILTER (WHERE NOT inserted)::int AS updated
      FROM upserted`,
    values: [params.ids, params.intervalSeconds, params.defaultIntervalSeconds, params.spread],
  });
  return rows[0];
}
