-- One database role per service, each allowed only what that service does (least privilege).
--
--   mockstagram_migrator        the migration role: compose and the devstack run `yarn migrate`
--                               as it, so it owns every table, view, function and TimescaleDB job
--                               it creates, and the jobs (rank refresh, suspicious detection,
--                               policies) run as it. Below, "the migrating role" is whichever role
--                               runs this file (current_user).
--   mockstagram_scheduler       the registry: reads and writes influencers, nothing else
--   mockstagram_result_handler  inserts samples (follower_counts) and upserts influencer_latest
--   mockstagram_reader          reads everything in the schema, writes nothing (api, Grafana)
--
-- Roles belong to the whole server, privileges to this schema. A role that does not exist yet is
-- created NOLOGIN and without a password: passwords never live in a migration. Whoever sets up
-- the server gives the roles LOGIN and their passwords (compose's db-roles one-shot from .env,
-- the devstack when it starts its server; see migrations/README.md). A role that already exists
-- (created by that set-up, or by this file in another schema) is left as it is.
--
-- Privileges hold for objects later migrations add: ALTER DEFAULT PRIVILEGES makes every table or
-- view that the migrating role creates in this schema readable by mockstagram_reader, including
-- the follower_rankings table that refresh_rankings() rebuilds on every refresh (it is created by
-- the job's owner, the migrating role). Grants on a hypertable reach its existing and future
-- chunks (TimescaleDB copies the hypertable's ACL to each chunk). A later migration that gives a
-- writer a new table grants it there, beside the table.
--
-- Functions: EXECUTE is taken from PUBLIC for the ones that write (detect_suspicious,
-- refresh_rankings and their job procedures) so only their owner runs them: the TimescaleDB jobs
-- (owned by the migrating role) and `yarn detect-suspicious` run as that role.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['mockstagram_migrator', 'mockstagram_scheduler', 'mockstagram_result_handler', 'mockstagram_reader'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created meanwhile by a migration of another database on the same server
      END;
    END IF;
  END LOOP;
END
$$;

DO $$
DECLARE
  s text := quote_ident(current_schema());
BEGIN
  -- A rank refresh rebuilding follower_rankings meanwhile could create the table after the grant
  -- on all tables below and before the default privileges are committed, leaving it unreadable
  -- until the next rebuild: wait for a refresh under way, and hold one off until this commits
  -- (refresh_rankings() takes the same lock first).
  PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.refresh_rankings'));

  -- Reach the schema's objects (creating nothing in it).
  EXECUTE format('GRANT USAGE ON SCHEMA %s TO mockstagram_scheduler, mockstagram_result_handler, mockstagram_reader', s);

  -- The registry: everything the scheduler does to its rows (register, claim, (de)activate).
  -- No TRUNCATE, REFERENCES, TRIGGER or DDL: the table's shape belongs to the migrations.
  EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON influencers TO mockstagram_scheduler';

  -- Samples: insert only. SELECT because INSERT ... ON CONFLICT (...) reads the conflict
  -- target's columns; no UPDATE or DELETE, so a stored sample cannot be changed or removed.
  EXECUTE 'GRANT SELECT, INSERT ON follower_counts TO mockstagram_result_handler';
  -- Latest: the upsert (INSERT ... ON CONFLICT DO UPDATE ... WHERE observed_at < EXCLUDED...)
  -- needs INSERT, UPDATE and SELECT (it reads the row it compares with); no DELETE.
  EXECUTE 'GRANT SELECT, INSERT, UPDATE ON influencer_latest TO mockstagram_result_handler';

  -- Read everything: tables, hypertables, continuous aggregates, the rank snapshot, the
  -- suspicious lists, schema_migrations.
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %s TO mockstagram_reader', s);
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT SELECT ON TABLES TO mockstagram_reader', s);

  -- Functions that write run as their owner only.
  EXECUTE 'REVOKE EXECUTE ON FUNCTION detect_suspicious(jsonb, text, timestamptz) FROM PUBLIC';
  EXECUTE 'REVOKE EXECUTE ON FUNCTION refresh_rankings() FROM PUBLIC';
  EXECUTE 'REVOKE EXECUTE ON PROCEDURE detect_suspicious_job(integer, jsonb) FROM PUBLIC';
  EXECUTE 'REVOKE EXECUTE ON PROCEDURE refresh_rankings_job(integer, jsonb) FROM PUBLIC';
END
$$;
