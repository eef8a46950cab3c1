-- Hourly and daily series per influencer, as TimescaleDB continuous aggregates.
--
-- Created WITH NO DATA, which (unlike the default WITH DATA) may run inside a transaction; the
-- refresh policies fill them in the background. materialized_only = false makes queries add the
-- not-yet-materialized recent rows from follower_counts on the fly ("real-time aggregation"), so
-- the series are complete even where the policy has not run yet (or never runs, e.g. in the
-- devstack's PGlite, which has no background workers).
--
-- Columns: bucket, influencer_id, then for follower_count and following_count:
-- _first/_last (by observed_at), _min, _max, _avg (double precision), and samples (row count).
-- These aggregates are kept when raw rows are dropped by the retention policy (006).

CREATE MATERIALIZED VIEW follower_counts_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 hour', observed_at)      AS bucket,
  influencer_id,
  first(follower_count, observed_at)               AS follower_count_first,
  last(follower_count, observed_at)                AS follower_count_last,
  min(follower_count)                              AS follower_count_min,
  max(follower_count)                              AS follower_count_max,
  avg(follower_count)::double precision            AS follower_count_avg,
  first(following_count, observed_at)              AS following_count_first,
  last(following_count, observed_at)               AS following_count_last,
  min(following_count)                             AS following_count_min,
  max(following_count)                             AS following_count_max,
  avg(following_count)::double precision           AS following_count_avg,
  count(*)                                         AS samples
FROM follower_counts
GROUP BY bucket, influencer_id
WITH NO DATA;

-- Every 15 minutes, re-materialize the last 3 days up to 1 hour ago (late samples included).
SELECT add_continuous_aggregate_policy('follower_counts_hourly',
  start_offset      => INTERVAL '3 days',
  end_offset        => INTERVAL '1 hour',
  schedule_interval => INTERVAL '15 minutes');

CREATE MATERIALIZED VIEW follower_counts_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
  time_bucket(INTERVAL '1 day', observed_at)       AS bucket,
  influencer_id,
  first(follower_count, observed_at)               AS follower_count_first,
  last(follower_count, observed_at)                AS follower_count_last,
  min(follower_count)                              AS follower_count_min,
  max(follower_count)                              AS follower_count_max,
  avg(follower_count)::double precision            AS follower_count_avg,
  first(following_count, observed_at)              AS following_count_first,
  last(following_count, observed_at)               AS following_count_last,
  min(following_count)                             AS following_count_min,
  max(following_count)                             AS following_count_max,
  avg(following_count)::double precision           AS following_count_avg,
  count(*)                                         AS samples
FROM follower_counts
GROUP BY bucket, influencer_id
WITH NO DATA;

-- Every hour, re-materialize the last 3 days up to 1 hour ago.
SELECT add_continuous_aggregate_policy('follower_counts_daily',
  start_offset      => INTERVAL '3 days',
  end_offset        => INTERVAL '1 hour',
  schedule_interval => INTERVAL '1 hour');
