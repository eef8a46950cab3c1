-- The registry of influencers to track, owned by the scheduler.
-- The scheduler claims due rows with
--   WHERE active AND next_fetch_at <= now() ORDER BY next_fetch_at LIMIT n FOR UPDATE SKIP LOCKED
-- (served by influencers_due_idx) and moves next_fetch_at on by fetch_interval_seconds.
-- updated_at is set by whoever changes a row (no trigger: next_fetch_at moves constantly).
CREATE TABLE influencers (
  id                     bigint      PRIMARY KEY,            -- the Mockstagram user id (pk)
  username               text,                               -- known after the first fetch
  active                 boolean     NOT NULL DEFAULT true,  -- false: stop fetching, keep history
  fetch_interval_seconds integer     NOT NULL DEFAULT 60
                         CONSTRAINT influencers_fetch_interval_positive CHECK (fetch_interval_seconds > 0),
  next_fetch_at          timestamptz NOT NULL DEFAULT now(),
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX influencers_due_idx ON influencers (next_fetch_at) WHERE active;
