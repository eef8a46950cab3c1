-- Exactly one sample per (influencer, slot).
--
-- From here on a row's observed_at is the slot it stands for: the job's scheduledFor, the time
-- the scheduler meant the fetch to happen. The unique key (influencer_id, observed_at) is then
-- (influencer, slot), so every second sample of a slot inserts nothing: a job redelivered after a
-- fetcher crash and fetched again, a job re-issued with attempt 2, or a slot claimed twice (a
-- scheduler killed between Kafka's ack and its COMMIT emits the slot again with new job ids).
-- When the fetcher actually saw the counts goes into the new column fetched_at.
--
-- Why the slot becomes the time column rather than a column beside it: TimescaleDB requires every
-- unique index on a hypertable to contain the partitioning column (observed_at), so a unique key
-- (influencer_id, slot) beside observed_at is impossible, and (influencer_id, slot, observed_at)
-- would not stop a second fetch. Re-partitioning on a new column means a new hypertable, a copy of
-- every row and new continuous aggregates. Keeping the column keeps the hypertable, its chunks,
-- compression, retention, the aggregates (005), the rank snapshot (008), influencer_latest, the
-- api's statements and the Grafana panels as they are; they now see one point per slot, on the
-- influencer's regular fetch grid.
--
-- Existing data: rows stored before this migration keep observed_at = the time they were
-- fetched, and fetched_at stays NULL for them (adding a nullable column rewrites nothing, also on
-- compressed chunks). Their duplicates (the same job stored twice, at two fetch times) are
-- removed: per (influencer_id, job_id) the earliest sample is kept. Materialised buckets of the
-- hourly/daily aggregates inside the refresh window (3 days) are corrected by the next policy run;
-- for older ones see migrations/README.md.

ALTER TABLE follower_counts ADD COLUMN fetched_at timestamptz;

COMMENT ON COLUMN follower_counts.observed_at IS
  'The slot this sample stands for (the fetch job''s scheduledFor); unique per influencer. Rows stored before migration 010: the fetch time.';
COMMENT ON COLUMN follower_counts.fetched_at IS
  'When the fetcher observed the counts (the result''s observedAt); NULL for rows stored before migration 010.';

DELETE FROM follower_counts f
 USING (SELECT influencer_id, job_id, min(observed_at) AS first_observed_at
          FROM follower_counts
         WHERE job_id IS NOT NULL
         GROUP BY influencer_id, job_id
        HAVING count(*) > 1) d
 WHERE f.influencer_id = d.influencer_id
   AND f.job_id = d.job_id
   AND f.observed_at > d.first_observed_at;

-- influencer_latest holds the newest stored sample: where that was a duplicate just removed, the
-- newest sample that remains takes its place.
UPDATE influencer_latest l
   SET follower_count = n.follower_count,
       following_count = n.following_count,
       observed_at = n.observed_at,
       updated_at = now()
  FROM influencer_latest l2
  CROSS JOIN LATERAL (SELECT f.follower_count, f.following_count, f.observed_at
                        FROM follower_counts f
                       WHERE f.influencer_id = l2.influencer_id
                       ORDER BY f.observed_at DESC
                       LIMIT 1) n
 WHERE l.influencer_id = l2.influencer_id
   AND NOT EXISTS (SELECT 1 FROM follower_counts f WHERE f.influencer_id = l.influencer_id AND f.observed_at = l.observed_at);
