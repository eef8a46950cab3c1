/**
 * The roles of migrations/011_roles.sql on a real TimescaleDB: each can do what its service does,
 * and cannot do what it must not.
 *
 * Every statement runs as the role itself: the test's superuser connection switches to it for the
 * statement (SET LOCAL ROLE in a transaction that is rolled back), so PostgreSQL checks the role's
 * privileges exactly as for a session that logged in as it. Logging in as the roles is what the
 * pipeline e2e does (test/e2e/pipeline.test.ts). A second schema is migrated by
 * mockstagram_migrator itself: it owns what it creates, the TimescaleDB jobs run as it, and what
 * they (and later migrations) create stays readable by the reader.
 * (Native engine only: the PGlite front runs every session as its one superuser.)
 */
import { randomUUID } from 'node:crypto';
import { createPool, DATABASE_ROLES, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { WRITE_NEW_RESULTS_SQL, WRITE_RESULTS_SQL, resultParameters } from '@mockstagram/result-handler';
import { claimDueInfluencers } from '@mockstagram/scheduler';
import { databaseUrl, freshSchema, pausePolicies, withSearchPath, type TestSchema } from '@mockstagram/testkit';
import { Pool as PgPool } from 'pg';

const { migrator, scheduler, resultHandler, reader } = DATABASE_ROLES;

let db: TestSchema;
let pool: Pool;

beforeAll(async () => {
  db = await freshSchema('roles');
  pool = createPool({ connectionString: db.url, max: 2 });
  await migrate({ pool });
  await pausePolicies(pool, db.schema);
  await pool.query(`INSERT INTO influencers (id) VALUES (1), (2)`);
  await pool.query(
    `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count) VALUES (1, now() - interval '1 minute', 10, 1)`,
  );
  await pool.query(
    `INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at) VALUES (1, 'a', 10, 1, now() - interval '1 minute')`,
  );
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** Runs `sql` as `role` and rolls back; resolves with the rows, or with the SQLSTATE it failed with. */
async function as(
  role: string,
  sql: string,
  values: unknown[] = [],
  on: Pool = pool,
): Promise<{ rows: unknown[] } | { code: string; message: string }> {
  const client = await on.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE ${role}`);
    try {
      const { rows } = await client.query(sql, values);
      return { rows };
    } catch (err) {
      return { code: (err as { code: string }).code, message: (err as Error).message };
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

const DENIED = '42501'; // insufficient_privilege (also "must be owner of ...")

async function expectDenied(role: string, sql: string, values: unknown[] = []): Promise<void> {
  const outcome = await as(role, sql, values);
  expect({ role, sql, outcome: 'code' in outcome ? outcome.code : 'succeeded' }).toEqual({
    role,
    sql,
    outcome: DENIED,
  });
}

async function expectAllowed(role: string, sql: string, values: unknown[] = []): Promise<unknown[]> {
  const outcome = await as(role, sql, values);
  expect({ role, sql, outcome: 'code' in outcome ? `${outcome.code}: ${outcome.message}` : 'succeeded' }).toEqual({
    role,
    sql,
    outcome: 'succeeded',
  });
  return 'rows' in outcome ? outcome.rows : [];
}

function result(influencerId: number, observedAt: string) {
  return {
    jobId: randomUUID(),
    influencerId,
    username: `u${influencerId}`,
    followerCount: 100,
    followingCount: 5,
    observedAt,
  };
}

/** Every table, view and continuous aggregate of the schema (what the reader must be able to read). */
async function relations(): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'u') ORDER BY 1`,
    [db.schema],
  );
  return rows.map((r) => r.name);
}

async function tables(): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY 1`,
    [db.schema],
  );
  return rows.map((r) => r.name);
}

describe('mockstagram_result_handler', () => {
  test('stores a batch with both of its statements (samples inserted, latest upserted)', async () => {
    const now = new Date().toISOString();
    const rows = [result(1, now), result(2, now)];
    expect(await expectAllowed(resultHandler, WRITE_NEW_RESULTS_SQL, [...resultParameters(rows)])).toEqual([
      { inserted: 2 },
    ]);
    // the redelivery path: ON CONFLICT DO NOTHING on the sample, the upsert of latest moving forward
    const again = [result(1, now), result(1, new Date(Date.now() + 1000).toISOString())];
    expect(await expectAllowed(resultHandler, WRITE_RESULTS_SQL, [...resultParameters(again)])).toEqual([
      { inserted: 2 },
    ]);
  });

  test('cannot touch the registry', async () => {
    await expectDenied(resultHandler, 'DELETE FROM influencers');
    await expectDenied(resultHandler, 'UPDATE influencers SET active = false');
    await expectDenied(resultHandler, 'INSERT INTO influencers (id) VALUES (3)');
    await expectDenied(resultHandler, 'SELECT * FROM influencers');
    await expectDenied(resultHandler, 'TRUNCATE influencers');
  });

  test('cannot change or remove a stored sample, nor remove a latest row', async () => {
    await expectDenied(resultHandler, 'UPDATE follower_counts SET follower_count = 0');
    await expectDenied(resultHandler, 'DELETE FROM follower_counts');
    await expectDenied(resultHandler, 'TRUNCATE follower_counts');
    await expectDenied(resultHandler, 'DELETE FROM influencer_latest');
    await expectDenied(resultHandler, 'TRUNCATE influencer_latest');
  });

  test('cannot write the derived tables, run the jobs’ functions, or create objects', async () => {
    await expectDenied(resultHandler, 'DELETE FROM suspicious_influencers');
    await expectDenied(resultHandler, 'DELETE FROM follower_rankings');
    await expectDenied(resultHandler, 'SELECT refresh_rankings()');
    await expectDenied(resultHandler, `SELECT detect_suspicious('{}', 'test')`);
    await expectDenied(resultHandler, 'CREATE TABLE mine (x int)');
    await expectDenied(resultHandler, 'DROP TABLE follower_counts');
  });
});

describe('mockstagram_scheduler', () => {
  test('registers, claims and deactivates influencers', async () => {
    await expectAllowed(
      scheduler,
      `INSERT INTO influencers (id) VALUES (10) ON CONFLICT (id) DO UPDATE SET active = true`,
    );
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${scheduler}`);
      const claimed = await claimDueInfluencers(client, 10);
      expect(claimed.map((c) => c.id).sort()).toEqual([1, 2]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    await expectAllowed(scheduler, 'UPDATE influencers SET active = false WHERE id = 1');
    await expectAllowed(scheduler, 'DELETE FROM influencers WHERE id = 2');
  });

  test('cannot write samples or latest, nor change the registry’s shape', async () => {
    await expectDenied(
      scheduler,
      `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count) VALUES (1, now(), 1, 1)`,
    );
    await expectDenied(scheduler, 'DELETE FROM follower_counts');
    await expectDenied(
      scheduler,
      `INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at) VALUES (5, 'x', 1, 1, now())`,
    );
    await expectDenied(scheduler, 'UPDATE influencer_latest SET follower_count = 0');
    await expectDenied(scheduler, 'SELECT * FROM follower_counts');
    await expectDenied(scheduler, 'TRUNCATE influencers');
    await expectDenied(scheduler, 'DROP TABLE influencers');
    await expectDenied(scheduler, 'ALTER TABLE influencers ADD COLUMN x int');
  });
});

describe('mockstagram_reader', () => {
  test('reads every table, view and continuous aggregate of the schema', async () => {
    const names = await relations();
    expect(names).toEqual(
      expect.arrayContaining([
        'influencers',
        'follower_counts',
        'influencer_latest',
        'follower_counts_hourly',
        'follower_counts_daily',
        'follower_rankings',
        'follower_stats',
        'suspicious_influencers',
        'suspicious_events',
        'suspicious_detection_runs',
      ]),
    );
    for (const name of names) await expectAllowed(reader, `SELECT count(*) FROM "${name}"`);
    expect(
      await expectAllowed(reader, 'SELECT follower_count_last FROM follower_counts_hourly WHERE influencer_id = 1'),
    ).toEqual([{ follower_count_last: 10 }]);
  });

  test('writes nothing: no insert, update, delete or truncate on any table', async () => {
    for (const name of await tables()) {
      const { rows } = await pool.query<{ column: string }>(
        `SELECT attname AS column FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum LIMIT 1`,
        [`"${db.schema}"."${name}"`],
      );
      const column = rows[0].column;
      await expectDenied(reader, `INSERT INTO "${name}" DEFAULT VALUES`);
      await expectDenied(reader, `UPDATE "${name}" SET "${column}" = "${column}"`);
      await expectDenied(reader, `DELETE FROM "${name}"`);
      await expectDenied(reader, `TRUNCATE "${name}"`);
    }
  });

  test('cannot run the functions that write, nor create or drop objects', async () => {
    await expectDenied(reader, 'SELECT refresh_rankings()');
    await expectDenied(reader, `SELECT detect_suspicious('{}', 'test')`);
    await expectDenied(reader, 'CALL refresh_rankings_job(0, NULL)');
    await expectDenied(reader, 'CREATE TABLE mine (x int)');
    await expectDenied(reader, 'DROP TABLE follower_stats');
    await expectDenied(reader, `SELECT add_job('refresh_rankings_job', INTERVAL '1 hour')`);
  });

  test('still reads the rank snapshot after a refresh rebuilds it, and a table a later migration adds', async () => {
    await pool.query('SELECT refresh_rankings()');
    await pool.query(`ALTER TABLE follower_stats ADD COLUMN probe int`); // a change of a later migration
    await pool.query(`CREATE TABLE later_table (x int)`);
    try {
      expect(await expectAllowed(reader, 'SELECT influencer_id FROM follower_rankings ORDER BY rank')).toEqual([
        { influencer_id: 1 },
      ]);
      await expectAllowed(reader, 'SELECT probe FROM follower_stats');
      await expectAllowed(reader, 'SELECT * FROM later_table');
      await expectDenied(reader, 'INSERT INTO later_table VALUES (1)');
      await expectDenied(resultHandler, 'INSERT INTO later_table VALUES (1)');
      await expectDenied(scheduler, 'INSERT INTO later_table VALUES (1)');
    } finally {
      await pool.query('DROP TABLE later_table');
      await pool.query('ALTER TABLE follower_stats DROP COLUMN probe');
    }
  });
});

describe('migrations run as mockstagram_migrator', () => {
  let schema: string;
  let own: Pool;

  beforeAll(async () => {
    schema = `${db.schema}_m`;
    await pool.query(`CREATE SCHEMA "${schema}" AUTHORIZATION ${migrator}`);
    const u = new URL(withSearchPath(databaseUrl(), schema));
    u.searchParams.set('options', `${u.searchParams.get('options')} -c role=${migrator}`);
    own = createPool({ connectionString: u.toString(), max: 2 });
    await migrate({ pool: own });
  }, 120_000);

  afterAll(async () => {
    await own?.end();
    const admin = new PgPool({ connectionString: databaseUrl(), max: 1 });
    try {
      await pausePolicies(admin, schema).catch(() => undefined);
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });

  test('it owns every object it created, and the TimescaleDB jobs run as it', async () => {
    const { rows: owners } = await own.query<{ owner: string }>(
      `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
      [schema],
    );
    expect(owners).toEqual([{ owner: migrator }]);
    const { rows: jobs } = await own.query<{ owner: string; proc: string }>(
      `SELECT DISTINCT owner::text AS owner FROM timescaledb_information.jobs WHERE hypertable_schema = $1 OR proc_schema = $1`,
      [schema],
    );
    expect(jobs).toEqual([{ owner: migrator }]);
  });

  test('the rank refresh job runs as it, and the reader reads what it rebuilt', async () => {
    const { rows } = await own.query<{ job_id: number }>(
      `SELECT job_id FROM timescaledb_information.jobs WHERE proc_schema = $1 AND proc_name = 'refresh_rankings_job'`,
      [schema],
    );
    await own.query('CALL run_job($1)', [rows[0].job_id]);
    const { rows: owner } = await own.query<{ owner: string }>(
      `SELECT tableowner AS owner FROM pg_tables WHERE schemaname = $1 AND tablename = 'follower_rankings'`,
      [schema],
    );
    expect(owner).toEqual([{ owner: migrator }]);
    const admin = createPool({ connectionString: withSearchPath(databaseUrl(), schema), max: 1 });
    try {
      expect(await as(reader, 'SELECT count(*)::int AS n FROM follower_rankings', [], admin)).toEqual({
        rows: [{ n: 0 }],
      });
      expect(await as(reader, 'DELETE FROM follower_rankings', [], admin)).toMatchObject({ code: DENIED });
    } finally {
      await admin.end();
    }
  });
});
