-- Compression and retention for the raw samples.
--
-- The intervals come from the migration runner's variables, i.e. from the environment of
-- `yarn migrate`: FOLLOWER_COUNTS_COMPRESS_AFTER (default '7 days') and
-- FOLLOWER_COUNTS_RETAIN_FOR (default '365 days'). They take effect when this file is first
-- applied. To change them on a database that has them, see migrations/README.md.
--
-- Compressed chunks are segmented by influencer (one compressed batch per influencer and chunk)
-- and ordered by time, which suits "one influencer over a time range" queries; the unique
-- constraint (influencer_id, observed_at) keeps working, so late duplicates are still rejected.
-- Retention drops whole chunks older than the interval; the hourly/daily aggregates (005) keep
-- their rows.

ALTER TABLE follower_counts SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'influencer_id',
  timescaledb.compress_orderby   = 'observed_at DESC'
);

SELECT add_compression_policy('follower_counts', compress_after => INTERVAL '${FOLLOWER_COUNTS_COMPRESS_AFTER}');

SELECT add_retention_policy('follower_counts', drop_after => INTERVAL '${FOLLOWER_COUNTS_RETAIN_FOR}');
