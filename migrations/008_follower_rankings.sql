-- Rank and average among influencers that are not suspicious, as a snapshot refreshed every
-- RANKINGS_REFRESH_EVERY (default 1 minute, one polling interval) by a TimescaleDB job, and at
-- the end of every suspicious-detection pass.
--
-- Why a snapshot: a live rank is a count of everyone ahead, which at 1,000,000 influencers reads
-- up to a million index entries per question; the average reads them all. Both are answered
-- here by one primary-key or one-row lookup instead, at most one refresh old (the API says how
-- old: rankedAt).
--
-- Rank: 1 = most followers; ties are broken by the smaller influencer id (row_number over
-- follower_count DESC, influencer_id ASC), so every rank is unique and a page boundary is stable.
--
-- follower_rankings is UNLOGGED: it is derived from influencer_latest, writing it to the WAL
-- would double the refresh's cost, and after a crash the next refresh (within one interval)
-- rebuilds it. Each refresh builds a new table and swaps it in by name in one transaction, so
-- readers see the old or the new snapshot, never a half-written one, and no dead rows pile up.
-- When nothing changed since the last refresh (same row count and newest updated_at in
-- influencer_latest and suspicious_influencers), only computed_at moves: no rebuild, no DDL.

CREATE UNLOGGED TABLE follower_rankings (
  influencer_id   bigint      NOT NULL,
  rank            bigint      NOT NULL,
  username        text        NOT NULL,
  follower_count  bigint      NOT NULL,
  following_count bigint      NOT NULL,
  observed_at     timestamptz NOT NULL,
  CONSTRAINT follower_rankings_pkey PRIMARY KEY (influencer_id)
);
CREATE UNIQUE INDEX follower_rankings_rank_idx ON follower_rankings (rank);

-- One row: the figures of the last refresh.
CREATE TABLE follower_stats (
  singleton         boolean PRIMARY KEY DEFAULT true CONSTRAINT follower_stats_singleton CHECK (singleton),
  computed_at       timestamptz NOT NULL,
  duration_ms       double precision NOT NULL,
  tracked           bigint NOT NULL,   -- influencers with a sample (influencer_latest)
  ranked            bigint NOT NULL,   -- of those, not suspicious
  suspicious        bigint NOT NULL,   -- flagged now
  average_followers double precision,  -- mean follower_count of the ranked; NULL when none
  newest_sample_at  timestamptz,       -- the newest observed_at in influencer_latest
  source_version    text                -- what the snapshot was built from (see refresh_rankings)
);

CREATE FUNCTION refresh_rankings() RETURNS follower_stats
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  started timestamptz := clock_timestamp();
  result  follower_stats;
  version text;
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

  DROP TABLE follower_rankings;
  ALTER TABLE follower_rankings_next RENAME TO follower_rankings;
  ALTER INDEX follower_rankings_next_pkey RENAME TO follower_rankings_pkey;
  ALTER INDEX follower_rankings_next_rank_idx RENAME TO follower_rankings_rank_idx;

  INSERT INTO follower_stats AS fs (singleton, computed_at, duration_ms, tracked, ranked, suspicious, average_followers, newest_sample_at, source_version)
  SELECT true, started, extract(epoch FROM clock_timestamp() - started) * 1000,
         l.tracked, r.ranked, (SELECT count(*) FROM suspicious_influencers), r.average, l.newest, version
    FROM (SELECT count(*) AS tracked, max(observed_at) AS newest FROM influencer_latest) l,
         (SELECT count(*) AS ranked, avg(follower_count)::double precision AS average FROM follower_rankings) r
  ON CONFLICT (singleton) DO UPDATE
     SET computed_at = EXCLUDED.computed_at, duration_ms = EXCLUDED.duration_ms, tracked = EXCLUDED.tracked,
         ranked = EXCLUDED.ranked, suspicious = EXCLUDED.suspicious, average_followers = EXCLUDED.average_followers,
         newest_sample_at = EXCLUDED.newest_sample_at, source_version = EXCLUDED.source_version
  RETURNING * INTO result;
  RETURN result;
END
$$;

CREATE PROCEDURE refresh_rankings_job(job_id integer, config jsonb)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM refresh_rankings();
END
$$;

SELECT add_job('refresh_rankings_job', schedule_interval => INTERVAL '${RANKINGS_REFRESH_EVERY}');

-- Suspicious detection: once a day (SUSPICIOUS_DETECTION_EVERY), first at SUSPICIOUS_DETECTION_AT
-- past midnight UTC, run by the server's background worker. The job's config holds the
-- settings (see suspicious_detection_defaults() in 007). A pass ends by refreshing the snapshot,
-- so its flags leave rank and average at once rather than at the next refresh.
-- Change the schedule or settings with alter_job (see migrations/README.md).
CREATE PROCEDURE detect_suspicious_job(job_id integer, config jsonb)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM detect_suspicious(coalesce(config, '{}'::jsonb), 'job');
  PERFORM refresh_rankings();
END
$$;

SELECT add_job('detect_suspicious_job',
  schedule_interval => INTERVAL '${SUSPICIOUS_DETECTION_EVERY}',
  config            => '{}'::jsonb,
  initial_start     => (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') + INTERVAL '1 day' + INTERVAL '${SUSPICIOUS_DETECTION_AT}',
  fixed_schedule    => true);
