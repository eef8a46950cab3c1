-- Every sample the pipeline stored: a hypertable on observed_at with 1-day chunks.
-- Unique on (influencer_id, observed_at): the result-handler inserts with
--   ON CONFLICT (influencer_id, observed_at) DO NOTHING
-- so a redelivered result inserts nothing. The unique index also serves
-- "series of influencer X over time" queries.
-- No foreign key to influencers: it would cost a lookup per row at ~50k rows/s, and history is
-- kept when an influencer leaves the registry.
CREATE TABLE follower_counts (
  influencer_id   bigint      NOT NULL,
  observed_at     timestamptz NOT NULL,
  follower_count  bigint      NOT NULL CONSTRAINT follower_counts_follower_count_nonnegative CHECK (follower_count >= 0),
  following_count bigint      NOT NULL CONSTRAINT follower_counts_following_count_nonnegative CHECK (following_count >= 0),
  job_id          uuid,                                   -- the FetchJob that produced the sample
  inserted_at     timestamptz NOT NULL DEFAULT now(),     -- when the row was written (pipeline lag = inserted_at - observed_at)
  CONSTRAINT follower_counts_influencer_observed_key UNIQUE (influencer_id, observed_at)
);

SELECT create_hypertable('follower_counts', by_range('observed_at', INTERVAL '1 day'));
