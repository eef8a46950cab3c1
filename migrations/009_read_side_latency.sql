-- The read side's latency: series as index-only scans, and a rank snapshot swap that keeps
-- readers waiting only for the swap itself.
--
-- 1. Series. One influencer's day at one sample a minute is 1,440 rows; samples arrive in time
--    order, so in the heap they lie on ~1,440 different pages, and a series read fetched each of
--    them. The unique index on (influencer_id, observed_at) now also carries the two counts
--    (INCLUDE), so a series is an index-only scan of the few index pages that hold that
--    influencer's entries side by side. It replaces the old index rather than adding a second
--    one: the pipeline's writes maintain one index, as before, and ON CONFLICT
--    (influencer_id, observed_at) still finds it. The continuous aggregates get the same kind of
--    index for the columns the api reads (their own (influencer_id, bucket DESC) index stays: the
--    refresh uses it).
ALTER TABLE follower_counts DROP CONSTRAINT follower_counts_influencer_observed_key;
ALTER TABLE follower_counts ADD CONSTRAINT follower_counts_influencer_observed_key
  UNIQUE (influencer_id, observed_at) INCLUDE (follower_count, following_count);

-- Unnamed: an aggregate's index lives beside its materialized hypertable in TimescaleDB's own
-- schema, shared by every schema that has these tables, so PostgreSQL picks a unique name.
CREATE INDEX ON follower_counts_hourly (influencer_id, bucket) INCLUDE (follower_count_last, following_count_last);
CREATE INDEX ON follower_counts_daily (influencer_id, bucket) INCLUDE (follower_count_last, following_count_last);

-- 2. The rank snapshot. refresh_rankings() swaps the new table in with DROP + RENAME, whose lock
--    on follower_rankings every reader (an influencer's rank, a leaderboard page) waits for until
--    the refresh's transaction ends. It now computes the figures of follower_stats before the
--    swap, from the new table, so that after the DROP only the renames and a one-row upsert
--    remain. What it computes is unchanged (see 008).
CREATE OR REPLACE FUNCTION refresh_rankings() RETURNS follower_stats
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  started    timestamptz := clock_timestamp();
  result     follower_stats;
  version    text;
  n_tracked  bigint;
  newest     timestamptz;
  n_ranked   bigint;
  average    double precision;
  n_flagged  bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.refresh_rankings'));
  SELECT concat_ws('/', l.n, l.newest, s.n, s.newest) INTO version
    FROM (SELECT count(*) AS n, max(updated_at) AS newest FROM influencer_latest) l,
         (SELECT count(*) AS n, max(updated_at) AS newest FROM suspicious_influencers) s;
  UPDATE follower_stats SET computed_at = started, duration_ms = extract(epoch FROM clock_timestamp() - started) * 1000
   WHERE source_version = version
  RETURNING * INTO result;
  IF FOUND THEN
    RETURN result;
  END IF;

  DROP TABLE IF EXISTS follower_rankings_next;
  CREATE UNLOGGED TABLE follower_rankings_next AS
  SELECT l.influencer_id,
         row_number() OVER (ORDER BY l.follower_count DESC, l.influencer_id) AS rank,
         l.username, l.follower_count, l.following_count, l.observed_at
    FROM influencer_latest l
   WHERE NOT EXISTS (SELECT 1 FROM suspicious_influencers s WHERE s.influencer_id = l.influencer_id);
  ALTER TABLE follower_rankings_next
    ALTER COLUMN influencer_id SET NOT NULL, ALTER COLUMN rank SET NOT NULL,
    ALTER COLUMN username SET NOT NULL, ALTER COLUMN follower_count SET NOT NULL,
    ALTER COLUMN following_count SET NOT NULL, ALTER COLUMN observed_at SET NOT NULL,
    ADD CONSTRAINT follower_rankings_next_pkey PRIMARY KEY (influencer_id);
  CREATE UNIQUE INDEX follower_rankings_next_rank_idx ON follower_rankings_next (rank);

  SELECT count(*), max(observed_at) INTO n_tracked, newest FROM influencer_latest;
  SELECT count(*), avg(follower_count)::double precision INTO n_ranked, average FROM follower_rankings_next;
  SELECT count(*) INTO n_flagged FROM suspicious_influencers;

  DROP TABLE follower_rankings;
  ALTER TABLE follower_rankings_next RENAME TO follower_rankings;
  ALTER INDEX follower_rankings_next_pkey RENAME TO follower_rankings_pkey;
  ALTER INDEX follower_rankings_next_rank_idx RENAME TO follower_rankings_rank_idx;

  INSERT INTO follower_stats AS fs (singleton, computed_at, duration_ms, tracked, ranked, suspicious, average_followers, newest_sample_at, source_version)
  VALUES (true, started, extract(epoch FROM clock_timestamp() - started) * 1000, n_tracked, n_ranked, n_flagged, average, newest, version)
  ON CONFLICT (singleton) DO UPDATE
     SET computed_at = EXCLUDED.computed_at, duration_ms = EXCLUDED.duration_ms, tracked = EXCLUDED.tracked,
         ranked = EXCLUDED.ranked, suspicious = EXCLUDED.suspicious, average_followers = EXCLUDED.average_followers,
         newest_sample_at = EXCLUDED.newest_sample_at, source_version = EXCLUDED.source_version
  RETURNING * INTO result;
  RETURN result;
END
$$;
