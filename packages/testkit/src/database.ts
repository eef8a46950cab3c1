/**
 * The test run's TimescaleDB: a fresh schema per test file, URLs for a schema or a pipeline role,
 * and pausing a schema's background jobs.
 *
 * @module
 */
import { Pool } from 'pg';
import { DATABASE_ROLE_PASSWORD_VARIABLES, databaseUrlAs, type DatabaseRole } from '@mockstagram/shared';
import { uniqueName } from './names';

/** The database the test run uses (set by test/global-setup.ts). */
export const databaseUrl = (): string => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';

/**
 * A fresh schema for one test file, so test files never see each other's tables.
 * `url` selects it through the connection's search_path (TimescaleDB's functions stay reachable
 * through public); hand it to the service under test as DATABASE_URL.
 */
export interface TestSchema {
  schema: string;
  url: string;
  pool: Pool;
  drop: () => Promise<void>;
}

export async function freshSchema(prefix = 'test'): Promise<TestSchema> {
  const schema = uniqueName(prefix).toLowerCase();
  const admin = new Pool({ connectionString: databaseUrl(), max: 1 });
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const url = withSearchPath(databaseUrl(), schema);
  const pool = new Pool({ connectionString: url, max: 4 });
  return {
    schema,
    url,
    pool,
    drop: async () => {
      await pool.end();
      const p = new Pool({ connectionString: databaseUrl(), max: 1 });
      try {
        // Its jobs first: a running refresh holds locks that DROP SCHEMA would deadlock with.
        // (A database without TimescaleDB has no jobs view, and no jobs.)
        await pausePolicies(p, schema).catch(() => undefined);
        // A TimescaleDB job of the schema (the rank refresh rebuilds a table) may still change the
        // catalog at the same moment: PostgreSQL then refuses the drop; it succeeds once retried.
        for (let attempt = 1; ; attempt++) {
          try {
            await p.query(`DROP SCHEMA "${schema}" CASCADE`);
            break;
          } catch (err) {
            const concurrent = /concurrently (deleted|updated)|deadlock detected/.test((err as Error).message);
            if (!concurrent || attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
      } finally {
        await p.end();
      }
    },
  };
}

/**
 * `url` (e.g. a {@link TestSchema}'s, with its search_path) logged in as one of the pipeline's
 * roles (migrations/011_roles.sql), with its password from the environment where one is set
 * (POSTGRES_SCHEDULER_PASSWORD etc., as in compose's .env; the devstack's server asks for none).
 */
export function roleUrl(url: string, role: DatabaseRole): string {
  return databaseUrlAs(url, role, process.env[DATABASE_ROLE_PASSWORD_VARIABLES[role]] || undefined);
}

/** Add `options=-c search_path=<schema>,public` to a postgres:// URL. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema},public`);
  return u.toString();
}

/**
 * Pause the background jobs of one schema: the policies of its hypertables and continuous
 * aggregates, and the jobs that call its procedures (rank refresh, detection). For a test that
 * writes history and then reads it the way the policies would have left it, and before a schema
 * is dropped. Returns how many jobs were paused.
 */
export async function pausePolicies(pool: Pool, schema: string): Promise<number> {
  const { rows } = await pool.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_schema = $1 OR proc_schema = $1`,
    [schema],
  );
  const ids = rows.map((r) => r.job_id);
  for (const id of ids) await pool.query('SELECT alter_job($1, scheduled => false)', [id]);
  // A run that started before the pause still finishes: wait for it.
  for (const deadline = Date.now() + 60_000; ;) {
    const running = await pool.query(
      `SELECT 1 FROM timescaledb_information.job_stats WHERE job_id = ANY($1) AND job_status = 'Running'`,
      [ids],
    );
    if (running.rowCount === 0) return ids.length;
    if (Date.now() > deadline) throw new Error(`jobs ${ids.join(', ')} of schema ${schema} still running after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
