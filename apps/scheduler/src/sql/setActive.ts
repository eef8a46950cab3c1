import type { Queryable, SetActiveCounts } from './types';
import { firstSlotOffset } from './slots';

// Shared SET clause: an influencer that becomes active again gets a fresh first slot (spread like
// a new registration) instead of its old, long-past next_fetch_at.
const setClause = `
  active = $2::boolean,
  next_fetch_at = CASE WHEN $2::boolean
    THEN now() + ${firstSlotOffset('i.id', 'i.fetch_interval_seconds', '$3::boolean')}
    ELSE i.next_fetch_at END,
  updated_at = now()`;

/**
 * Sets `active` for a list of ids (unknown ids are ignored; `found` tells how many exist).
 * Deactivated influencers are never claimed again; their history stays.
 */
export async function setActiveIds(
  db: Queryable,
  params: { ids: readonly number[]; active: boolean; spread: boolean },
): Promise<SetActiveCounts> {
  const { rows } = await db.query<SetActiveCounts>({
    text: `
      WITH sel AS (SELECT DISTINCT u.id FROM unnest($1::bigint[]) AS u(id)),
      changed AS (
        UPDATE influencers AS i SET ${setClause}
        FROM sel WHERE i.id = sel.id AND i.active <> $2::boolean
        RETURNING i.id
      )
      SELECT (SELECT count(*) FROM influencers AS i JOIN sel ON i.id = sel.id)::int AS found,
             (SELECT count(*) FROM changed)::int AS changed`,
    values: [params.ids, params.active, params.spread],
  });
  return rows[0];
}

/** Sets `active` for every known id from `from` to `to` (inclusive). */
export async function setActiveRange(
  db: Queryable,
  params: { from: number; to: number; active: boolean; spread: boolean },
): Promise<SetActiveCounts> {
  const { rows } = await db.query<SetActiveCounts>({
    text: `
      WITH changed AS (
        UPDATE influencers AS i SET ${setClause}
        WHERE i.id BETWEEN $1::bigint AND $4::bigint AND i.active <> $2::boolean
        RETURNING i.id
      )
      SELECT (SELECT count(*) FROM influencers WHERE id BETWEEN $1::bigint AND $4::bigint)::int AS found,
             (SELECT count(*) FROM changed)::int AS changed`,
    values: [params.from, params.active, params.spread, params.to],
  });
  return rows[0];
}
