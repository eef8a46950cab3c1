-- TimescaleDB: hypertables, time_bucket, continuous aggregates, compression, retention.
-- An extension exists once per database; it is pinned to `public` so that migrating into
-- another schema (search_path=myschema,public) neither installs it there nor loses it when
-- that schema is dropped. Already installed (anywhere) → nothing happens.
CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public;
