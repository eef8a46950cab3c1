-- Suspicious influencers (accounts that buy followers), found once a day by detect_suspicious().
--
-- The method (see migrations/README.md and apps/api/README.md):
--   hourly growth g_h = last_h / last_{h-1} - 1 from follower_counts_hourly, adjacent hours only,
--   over the lookback window [as_of - lookback, as_of);
--   the influencer's own center m = median(g) and volatility v = 1.4826 * MAD(g) (robust sigma);
--   robust z = max_h |g_h - m| / max(v, scale_floor);
--   flagged when, with at least min_hours growth values:
--     spike:   z >= z_threshold AND max_h |g_h - m| >= min_change  (a jump or purge far outside
--              the account's own hour-to-hour behaviour, and large in itself), or
--     erratic: v >= erratic_volatility (an account whose typical hour is a jump or purge: its own
--              history holds no quiet baseline to compare with, so a z-score alone misses it).
--   Evaluated and neither rule fires: a flag is cleared. Too little history: left as it is.
-- Flagged influencers are still polled and stored; rank and average leave them out (008).
-- The daily TimescaleDB job that runs it is created in 008, with the rankings it refreshes.

-- One row per pass: when, how long, what it did, with which settings.
CREATE TABLE suspicious_detection_runs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz,                 -- NULL while running (or if it failed)
  duration_ms   double precision,
  window_start  timestamptz NOT NULL,        -- history read: [window_start, window_end)
  window_end    timestamptz NOT NULL,
  evaluated     integer,                     -- influencers with at least min_hours growth values
  skipped       integer,                     -- influencers with some but too little history
  flagged       integer,                     -- newly flagged by this pass
  cleared       integer,                     -- flags this pass removed
  suspicious    integer,                     -- flagged after the pass
  triggered_by  text NOT NULL,               -- 'job' (the TimescaleDB job) or 'manual'
  settings      jsonb NOT NULL               -- the settings in force (defaults merged)
);

-- Who is flagged now: since when, with what score and why.
CREATE TABLE suspicious_influencers (
  influencer_id bigint PRIMARY KEY,
  flagged_at    timestamptz NOT NULL,        -- when the current flag was raised
  score         double precision NOT NULL,   -- robust z of the largest hourly deviation
  reason        text NOT NULL CONSTRAINT suspicious_influencers_reason_check CHECK (reason IN ('spike', 'erratic')),
  details       jsonb NOT NULL,              -- hours, median, volatility, maxDeviation, maxGrowth, minGrowth
  run_id        bigint NOT NULL REFERENCES suspicious_detection_runs (id),  -- last pass that confirmed it
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The suspicious list, most suspicious first (keyset pagination on score, id).
CREATE INDEX suspicious_influencers_score_idx ON suspicious_influencers (score DESC, influencer_id);

-- Every flag and clear, for an influencer's history.
CREATE TABLE suspicious_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id        bigint NOT NULL REFERENCES suspicious_detection_runs (id),
  influencer_id bigint NOT NULL,
  event         text NOT NULL CONSTRAINT suspicious_events_event_check CHECK (event IN ('flagged', 'cleared')),
  at            timestamptz NOT NULL,
  score         double precision,
  reason        text,
  details       jsonb
);

CREATE INDEX suspicious_events_influencer_idx ON suspicious_events (influencer_id, at DESC);

-- The method's settings and their defaults; a pass merges what it is given over these.
CREATE FUNCTION suspicious_detection_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'lookback',           '1 day',   -- history compared, ending at the start of the current hour
    'min_hours',          12,        -- growth values needed before an influencer is judged
    'z_threshold',        6,         -- robust z of the largest deviation for a spike
    'min_change',         0.02,      -- and that deviation must be at least 2 % in an hour
    'scale_floor',        0.001,     -- volatility below 0.1 %/h counts as 0.1 %/h (organic noise)
    'erratic_volatility', 0.01       -- a typical hour moving 1 % or more is erratic
  )
$$;

-- One pass. Idempotent: the same history gives the same flags; only changes are recorded as
-- events. Concurrent passes in one schema wait for each other (advisory transaction lock).
-- Returns the run's row.
CREATE FUNCTION detect_suspicious(
  settings     jsonb       DEFAULT '{}',
  triggered_by text        DEFAULT 'manual',
  as_of        timestamptz DEFAULT NULL
) RETURNS suspicious_detection_runs
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  s            jsonb := suspicious_detection_defaults() || coalesce(settings, '{}'::jsonb);
  unknown      text;
  started      timestamptz := clock_timestamp();
  window_end   timestamptz := coalesce(as_of, date_trunc('hour', now()));
  window_start timestamptz;
  min_hours    integer;
  z_threshold  double precision;
  min_change   double precision;
  scale_floor  double precision;
  erratic      double precision;
  run          suspicious_detection_runs;
  n_evaluated  integer;
  n_skipped    integer;
  n_flagged    integer;
  n_cleared    integer;
BEGIN
  SELECT string_agg(k, ', ') INTO unknown
    FROM jsonb_object_keys(coalesce(settings, '{}'::jsonb)) k
   WHERE NOT suspicious_detection_defaults() ? k;
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'detect_suspicious: unknown setting(s) %; known: lookback, min_hours, z_threshold, min_change, scale_floor, erratic_volatility', unknown
      USING ERRCODE = '22023';
  END IF;
  window_start := window_end - (s->>'lookback')::interval;
  min_hours    := (s->>'min_hours')::integer;
  z_threshold  := (s->>'z_threshold')::double precision;
  min_change   := (s->>'min_change')::double precision;
  scale_floor  := (s->>'scale_floor')::double precision;
  erratic      := (s->>'erratic_volatility')::double precision;
  IF window_start >= window_end OR min_hours < 2 OR z_threshold <= 0 OR min_change < 0 OR scale_floor <= 0 OR erratic <= 0 THEN
    RAISE EXCEPTION 'detect_suspicious: settings out of range: %', s
      USING ERRCODE = '22023',
            HINT = 'lookback > 0, min_hours >= 2, z_threshold > 0, min_change >= 0, scale_floor > 0, erratic_volatility > 0';
  END IF;

  PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.detect_suspicious'));

  INSERT INTO suspicious_detection_runs (started_at, window_start, window_end, triggered_by, settings)
  VALUES (started, window_start, window_end, triggered_by, s)
  RETURNING * INTO run;

  CREATE TEMP TABLE suspicious_scores ON COMMIT DROP AS
  WITH hours AS (
    SELECT influencer_id, bucket, follower_count_last AS followers,
           lag(follower_count_last) OVER w AS previous,
           lag(bucket) OVER w AS previous_bucket
      FROM follower_counts_hourly
     WHERE bucket >= window_start - INTERVAL '1 hour' AND bucket < window_end
    WINDOW w AS (PARTITION BY influencer_id ORDER BY bucket)
  ), growth AS (
    SELECT influencer_id, followers::double precision / previous - 1 AS g
      FROM hours
     WHERE previous_bucket = bucket - INTERVAL '1 hour' AND previous > 0 AND bucket >= window_start
  ), centered AS (
    SELECT influencer_id, count(*)::integer AS hours,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY g) AS median,
           array_agg(g) AS gs, max(g) AS max_growth, min(g) AS min_growth
      FROM growth GROUP BY influencer_id
  )
  SELECT c.influencer_id, c.hours, c.median, c.max_growth, c.min_growth,
         d.mad * 1.4826 AS volatility, d.max_deviation,
         d.max_deviation / greatest(d.mad * 1.4826, scale_floor) AS z
    FROM centered c
    CROSS JOIN LATERAL (
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(x - c.median)) AS mad,
             max(abs(x - c.median)) AS max_deviation
        FROM unnest(c.gs) x
    ) d;

  ALTER TABLE suspicious_scores ADD COLUMN reason text;
  UPDATE suspicious_scores
     SET reason = CASE
           WHEN hours < min_hours THEN NULL
           WHEN z >= z_threshold AND max_deviation >= min_change THEN 'spike'
           WHEN volatility >= erratic THEN 'erratic'
           ELSE 'none' END;
  SELECT count(*) FILTER (WHERE reason IS NOT NULL), count(*) FILTER (WHERE reason IS NULL)
    INTO n_evaluated, n_skipped FROM suspicious_scores;

  -- Raise new flags, refresh the score of standing ones.
  WITH upserted AS (
    INSERT INTO suspicious_influencers AS si (influencer_id, flagged_at, score, reason, details, run_id, updated_at)
    SELECT influencer_id, started, z, reason,
           jsonb_build_object('hours', hours, 'median', median, 'volatility', volatility,
                              'maxDeviation', max_deviation, 'maxGrowth', max_growth, 'minGrowth', min_growth),
           run.id, started
      FROM suspicious_scores WHERE reason IN ('spike', 'erratic')
    ON CONFLICT (influencer_id) DO UPDATE
       SET score = EXCLUDED.score, reason = EXCLUDED.reason, details = EXCLUDED.details,
           run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at
    RETURNING si.influencer_id, si.score, si.reason, si.details, (xmax = 0) AS inserted
  ), events AS (
    INSERT INTO suspicious_events (run_id, influencer_id, event, at, score, reason, details)
    SELECT run.id, influencer_id, 'flagged', started, score, reason, details FROM upserted WHERE inserted
    RETURNING 1
  )
  SELECT count(*) INTO n_flagged FROM events;

  -- Clear the flags of influencers judged and found ordinary.
  WITH removed AS (
    DELETE FROM suspicious_influencers si
     USING suspicious_scores sc
     WHERE sc.influencer_id = si.influencer_id AND sc.reason = 'none'
    RETURNING si.influencer_id, sc.z, sc.hours, sc.median, sc.volatility, sc.max_deviation, sc.max_growth, sc.min_growth
  ), events AS (
    INSERT INTO suspicious_events (run_id, influencer_id, event, at, score, reason, details)
    SELECT run.id, influencer_id, 'cleared', started, z, NULL,
           jsonb_build_object('hours', hours, 'median', median, 'volatility', volatility,
                              'maxDeviation', max_deviation, 'maxGrowth', max_growth, 'minGrowth', min_growth)
      FROM removed
    RETURNING 1
  )
  SELECT count(*) INTO n_cleared FROM events;

  UPDATE suspicious_detection_runs
     SET finished_at = clock_timestamp(),
         duration_ms = extract(epoch FROM clock_timestamp() - started) * 1000,
         evaluated = n_evaluated, skipped = n_skipped, flagged = n_flagged, cleared = n_cleared,
         suspicious = (SELECT count(*) FROM suspicious_influencers)
   WHERE id = run.id
  RETURNING * INTO run;
  DROP TABLE suspicious_scores;
  RETURN run;
END
$$;
