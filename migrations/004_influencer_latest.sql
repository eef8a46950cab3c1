-- One row per influencer: its newest sample. The result-handler upserts it in the same
-- transaction as follower_counts, never moving backwards in time:
--   INSERT ... ON CONFLICT (influencer_id) DO UPDATE SET ...
--   WHERE influencer_latest.observed_at < EXCLUDED.observed_at
CREATE TABLE influencer_latest (
  influencer_id   bigint      PRIMARY KEY,
  username        text        NOT NULL,
  follower_count  bigint      NOT NULL,
  following_count bigint      NOT NULL,
  observed_at     timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
