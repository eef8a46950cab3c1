import type { Queryable } from './types';

export type Resolution = 'raw' | '1m' | '1h' | '1d';

export interface SeriesPoint {
  /**
   * Sample time (raw) or bucket start, as ISO 8601 in UTC with milliseconds (what
   * `Date.prototype.toISOString` writes), formatted by the database: a series is up to thousands
   * of rows, and parsing each timestamp into a Date only to write it out again costs the api more.
   */
  t: string;
  /** Followers at t (raw) or the bucket's last sample. */
  followers: number;
  following: number;
  /** followers / following; null when following is 0. */
  ratio: number | null;
}

/**
 * Followers, following and ratio of one influencer over [from, to):
 * - `raw`: every stored sample (follower_counts, its unique (influencer_id, observed_at) index);
 * - `1m`: time_bucket on the raw samples (the pipeline polls once a minute, so a bucket holds
 *   about one sample; a 1-minute continuous aggregate would write as many rows again). The
 *   bucket's last sample is taken with DISTINCT ON rather than last(): TimescaleDB aggregates
 *   per chunk and then combines the partial states, which for a thousand one-row buckets costs
 *   more than sorting the rows;
 * - `1h` / `1d`: the continuous aggregates follower_counts_hourly / follower_counts_daily.
 * A bucket's value is its last sample; the buckets are those that overlap [from, to) (the first
 * may start before `from`).
 *
 * `undefined` when nothing was stored for the influencer (no row in influencer_latest): the
 * series is joined to that primary-key lookup, so an answer costs one round trip. An influencer
 * without samples in the range gives one row of NULLs, dropped here.
 */
export async function getSeries(
  db: Queryable,
  id: number,
  resolution: Resolution,
  from: Date,
  to: Date,
): Promise<SeriesPoint[] | undefined> {
  const { rows } = await db.query<{ t: string | null } & Omit<SeriesPoint, 't'>>({
    text: SERIES_SQL[resolution],
    values: [id, from, to],
  });
  if (rows.length === 0) return undefined;
  return rows[0].t === null ? [] : (rows as SeriesPoint[]);
}

/** The series statement `points` (over $1 = id, [$2, $3)) for a known influencer only. */
const ofKnownInfluencer = (points: string) => `
    SELECT to_char(p.t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t, p.followers, p.following, p.ratio
      FROM influencer_latest l
      LEFT JOIN LATERAL (${points}) p ON true
     WHERE l.influencer_id = $1::bigint
     ORDER BY p.t`;

const RATIO = (followers: string, following: string) =>
  `${followers}::double precision / NULLIF(${following}, 0) AS ratio`;

const SERIES_SQL: Record<Resolution, string> = {
  raw: ofKnownInfluencer(`
    SELECT observed_at AS t, follower_count AS followers, following_count AS following, ${RATIO('follower_count', 'following_count')}
      FROM follower_counts
     WHERE influencer_id = $1::bigint AND observed_at >= $2::timestamptz AND observed_at < $3::timestamptz
     ORDER BY observed_at`),
  '1m': ofKnownInfluencer(`
    SELECT DISTINCT ON (1) time_bucket(INTERVAL '1 minute', observed_at) AS t,
           follower_count AS followers, following_count AS following, ${RATIO('follower_count', 'following_count')}
      FROM follower_counts
     WHERE influencer_id = $1::bigint AND observed_at >= $2::timestamptz AND observed_at < $3::timestamptz
     ORDER BY 1, observed_at DESC`),
  '1h': ofKnownInfluencer(aggregateSql('follower_counts_hourly', '1 hour')),
  '1d': ofKnownInfluencer(aggregateSql('follower_counts_daily', '1 day')),
};

/** A continuous aggregate's last counts per bucket, for the buckets overlapping [from, to). */
function aggregateSql(view: string, bucket: string): string {
  return `
    SELECT bucket AS t, follower_count_last AS followers, following_count_last AS following,
           ${RATIO('follower_count_last', 'following_count_last')}
      FROM ${view}
     WHERE influencer_id = $1::bigint AND bucket >= time_bucket(INTERVAL '${bucket}', $2::timestamptz) AND bucket < $3::timestamptz
     ORDER BY bucket`;
}
