import type { Client } from 'pg';
import { DATABASE_ROLES } from '@mockstagram/shared/roles';

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

/**
 * Stops `yarn dev` with what to do when the devstack's database was migrated by another role
 * (`postgres`, before the roles existed): the migration role cannot alter tables it does not own.
 */
export async function assertMigratedByMigrator(client: Client): Promise<void> {
  const { rows } = await client.query<{ owner: string }>(
    `SELECT tableowner AS owner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'schema_migrations'`,
  );
  const owner = rows[0]?.owner;
  if (owner !== undefined && owner !== DATABASE_ROLES.migrator) {
    throw new Error(
      `the devstack's database was migrated as ${owner}, before the services had their own roles; ` +
        `${DATABASE_ROLES.migrator} cannot migrate tables it does not own. ` +
        "Recreate it with `yarn devstack up --fresh` (wipes the devstack's data), or set DATABASE_URL to run everything as one role.",
    );
  }
}
