import type { Queryable } from './types';

export type Resolution = 'raw' | '1m' | '1h' | '1d';

export interface SeriesPoint {
  /** Sample time (raw) or bucket start. */
  t: Date;
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
 *   about one sample; a 1-minute continuous aggregate would write as many rows again);
 * - `1h` / `1d`: the continuous aggregates follower_counts_hourly / follower_counts_daily.
 * A bucket's value is its last sample; the buckets are those that overlap [from, to) (the first
 * may start before `from`).
 */
export async function getSeries(db: Queryable, id: number, resolution: Resolution, from: Date, to: Date): Promise<SeriesPoint[]> {
  const { rows } = await db.query<SeriesPoint>({ text: SERIES_SQL[resolution], values: [id, from, to] });
  return rows;
}

const RATIO = (followers: string, following: string) => `${followers}::double precision / NULLIF(${following}, 0) AS ratio`;

const SERIES_SQL: Record<Resolution, string> = {
  raw: `
    SELECT observed_at AS t, follower_count AS followers, following_count AS following, ${RATIO('follower_count', 'following_count')}
      FROM follower_counts
     WHERE influencer_id = $1::bigint AND observed_at >= $2::timestamptz AND observed_at < $3::timestamptz
     ORDER BY observed_at`,
  '1m': `
    SELECT t, followers, following, ${RATIO('followers', 'following')}
      FROM (SELECT time_bucket(INTERVAL '1 minute', observed_at) AS t,
                   last(follower_count, observed_at) AS followers, last(following_count, observed_at) AS following
              FROM follower_counts
             WHERE influencer_id = $1::bigint AND observed_at >= $2::timestamptz AND observed_at < $3::timestamptz
             GROUP BY 1) b
     ORDER BY t`,
  '1h': aggregateSql('follower_counts_hourly', '1 hour'),
  '1d': aggregateSql('follower_counts_daily', '1 day'),
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
