import type { Client } from 'pg';
import { DATABASE_ROLES } from '@mockstagram/shared/src/roles';

/**
 * The pipeline's roles (migrations/011_roles.sql says what each may do) can log in to the
 * devstack's server: created with LOGIN where missing, given LOGIN where a migration created them
 * NOLOGIN. No passwords: the devstack's server trusts every connection from its own host
 * (initdb --auth=trust, listening on DEVSTACK_HOST only). The migration role may create objects
 * in the public schema (PostgreSQL 15 lets only the database owner do that by default).
 */
export async function ensureLoginRoles(client: Client): Promise<void> {
  for (const role of Object.values(DATABASE_ROLES)) {
    await client.query(`DO $$
      BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
          ALTER ROLE ${role} LOGIN;
        ELSE
          CREATE ROLE ${role} LOGIN;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        ALTER ROLE ${role} LOGIN;
      END
      $$`);
  }
  await client.query(`GRANT CREATE ON SCHEMA public TO ${DATABASE_ROLES.migrator}`);
}
