#!/bin/sh
# compose's db-roles one-shot (runs before migrate on every `docker compose up`): the pipeline's
# database roles (migrations/011_roles.sql says what each may do) can log in, each with its
# password from .env. Idempotent: a missing role is created, an existing one gets LOGIN and the
# password .env gives now (so changing a password in .env and running `up` again applies it).
# The migration role may create objects in the public schema (on PostgreSQL 15+ only the
# database owner may by default). Connects as the superuser (PGHOST, PGUSER, PGPASSWORD).
set -eu

for variable in POSTGRES_MIGRATOR_PASSWORD POSTGRES_SCHEDULER_PASSWORD POSTGRES_RESULT_HANDLER_PASSWORD POSTGRES_READER_PASSWORD; do
  eval "value=\${$variable:-}"
  if [ -z "$value" ]; then
    echo "db-roles: $variable is empty; set it in .env (see .env.example)" >&2
    exit 2
  fi
done

psql -v ON_ERROR_STOP=1 -q \
  -v migrator_password="$POSTGRES_MIGRATOR_PASSWORD" \
  -v scheduler_password="$POSTGRES_SCHEDULER_PASSWORD" \
  -v result_handler_password="$POSTGRES_RESULT_HANDLER_PASSWORD" \
  -v reader_password="$POSTGRES_READER_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', r)
  FROM unnest(ARRAY['mockstagram_migrator', 'mockstagram_scheduler', 'mockstagram_result_handler', 'mockstagram_reader']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)
\gexec
ALTER ROLE mockstagram_migrator LOGIN PASSWORD :'migrator_password';
ALTER ROLE mockstagram_scheduler LOGIN PASSWORD :'scheduler_password';
ALTER ROLE mockstagram_result_handler LOGIN PASSWORD :'result_handler_password';
ALTER ROLE mockstagram_reader LOGIN PASSWORD :'reader_password';
GRANT CREATE ON SCHEMA public TO mockstagram_migrator;
SQL
echo "db-roles: mockstagram_migrator, mockstagram_scheduler, mockstagram_result_handler, mockstagram_reader can log in"
