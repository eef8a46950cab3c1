import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  databaseUrl,
  daysAgo,
  freshSchema,
  pausePolicies,
  withSearchPath,
  type TestSchema,
} from '@mockstagram/testkit';
import { createPool, type Pool } from '../src/db';
import { DEFAULT_MIGRATIONS_DIR, migrate, readMigrations } from '../src/migrate';

/** Yesterday (UTC): samples there are inside the retention window a real server enforces in the background. */
const DAY = daysAgo(1);

const all = readMigrations().map((m) => m.name);

function migrationsCopy(extra: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
  for (const name of fs.readdirSync(DEFAULT_MIGRATIONS_DIR))
    fs.copyFileSync(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name));
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('migrations on a real TimescaleDB', () => {
  let db: TestSchema;
  let pool: Pool;
  const extraSchemas: TestSchema[] = [];

  beforeAll(async () => {
    db = await freshSchema('test_migrate');
    pool = createPool({ connectionString: db.url, max: 2 });
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
    for (const s of extraSchemas) await s.drop();
  });

  it('apply into a fresh schema, and a second run is a no-op', async () => {
    expect(await migrate({ pool })).toEqual({ schema: db.schema, applied: all, skipped: [] });
    expect(await migrate({ pool })).toEqual({ schema: db.schema, applied: [], skipped: all });
    // The tests below write samples and read them back; a real server's refresh policies would
    // otherwise materialise (and move the aggregates' watermark past) whatever the first of them
    // wrote before the next one writes. The policies themselves are tested in test/native.
    expect(await pausePolicies(pool, db.schema)).toBeGreaterThanOrEqual(4);

    const { rows } = await pool.query<{ name: string; checksum: string }>(
      'SELECT name, checksum FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => r.name)).toEqual(all);

    const tables = await pool.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [db.schema],
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining([
        'follower_counts',
        'follower_counts_daily',
        'follower_counts_hourly',
        'influencer_latest',
        'influencers',
        'schema_migrations',
      ]),
    );
  });

  it('makes follower_counts a hypertable with 1-day chunks', async () => {
    const { rows } = await pool.query(
      `SELECT column_name, time_interval FROM timescaledb_information.dimensions
       WHERE hypertable_schema = $1 AND hypertable_name = 'follower_counts'`,
      [db.schema],
    );
    expect(rows).toEqual([{ column_name: 'observed_at', time_interval: { days: 1 } }]);
  });

  it('rejects a duplicate (influencer_id, observed_at): ON CONFLICT DO NOTHING inserts nothing', async () => {
    const insert = `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count, job_id)
                    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (influencer_id, observed_at) DO NOTHING`;
    const row = [1000001, `${DAY}T12:00:00Z`, 100, 10, '0b6f8d1e-6a57-4d5c-9a0e-2f0c1b7e9a11'];
    expect((await pool.query(insert, row)).rowCount).toBe(1);
    expect((await pool.query(insert, [...row.slice(0, 2), 999, 9, row[4]])).rowCount).toBe(0);
    const { rows } = await pool.query('SELECT follower_count FROM follower_counts WHERE influencer_id = 1000001');
    expect(rows).toEqual([{ follower_count: 100 }]);
    await expect(
      pool.query(insert.replace(' ON CONFLICT (influencer_id, observed_at) DO NOTHING', ''), row),
    ).rejects.toThrow(/follower_counts_influencer_observed_key|duplicate key/);
  });

  it('serves hourly and daily series through the continuous aggregates (real-time)', async () => {
    await pool.query(
      `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count)
       VALUES (1000002, '${DAY}T10:05:00Z', 10, 1), (1000002, '${DAY}T10:35:00Z', 30, 3), (1000002, '${DAY}T11:05:00Z', 50, 5)`,
    );
    const hourly = await pool.query(
      `SELECT bucket, follower_count_first, follower_count_last, follower_count_min, follower_count_max, follower_count_avg, samples
       FROM follower_counts_hourly WHERE influencer_id = 1000002 ORDER BY bucket`,
    );
    expect(hourly.rows).toEqual([
      {
        bucket: new Date(`${DAY}T10:00:00Z`),
        follower_count_first: 10,
        follower_count_last: 30,
        follower_count_min: 10,
        follower_count_max: 30,
        follower_count_avg: 20,
        samples: 2,
      },
      {
        bucket: new Date(`${DAY}T11:00:00Z`),
        follower_count_first: 50,
        follower_count_last: 50,
        follower_count_min: 50,
        follower_count_max: 50,
        follower_count_avg: 50,
        samples: 1,
      },
    ]);
    const daily = await pool.query(
      'SELECT following_count_last, samples FROM follower_counts_daily WHERE influencer_id = 1000002',
    );
    expect(daily.rows).toEqual([{ following_count_last: 5, samples: 3 }]);
  });

  it('adds refresh, compression and retention policies with the configured intervals', async () => {
    const s = await freshSchema('test_migrate_vars');
    extraSchemas.push(s);
    const p = createPool({ connectionString: s.url, max: 1 });
    try {
      await migrate({
        pool: p,
        variables: { FOLLOWER_COUNTS_COMPRESS_AFTER: '3 days', FOLLOWER_COUNTS_RETAIN_FOR: '90 days' },
      });
      const { rows } = await p.query<{ proc_name: string; config: Record<string, unknown> }>(
        `SELECT proc_name, config FROM timescaledb_information.jobs
         WHERE hypertable_schema = $1 ORDER BY proc_name, hypertable_name`,
        [s.schema],
      );
      const byProc = (name: string) => rows.filter((r) => r.proc_name === name).map((r) => r.config);
      expect(byProc('policy_compression')).toEqual([expect.objectContaining({ compress_after: '3 days' })]);
      expect(byProc('policy_retention')).toEqual([expect.objectContaining({ drop_after: '90 days' })]);
      expect(byProc('policy_refresh_continuous_aggregate')).toHaveLength(2);
    } finally {
      await p.end();
    }
  });

  it('lets only one of two concurrent runners apply each file', async () => {
    const s = await freshSchema('test_migrate_race');
    extraSchemas.push(s);
    const a = createPool({ connectionString: s.url, max: 1 });
    const b = createPool({ connectionString: s.url, max: 1 });
    try {
      const [ra, rb] = await Promise.all([migrate({ pool: a }), migrate({ pool: b })]);
      expect([...ra.applied, ...rb.applied].sort()).toEqual(all);
      expect(ra.applied.filter((n) => rb.applied.includes(n))).toEqual([]);
      const { rows } = await a.query('SELECT count(*) AS n FROM schema_migrations');
      expect(rows).toEqual([{ n: all.length }]);
    } finally {
      await a.end();
      await b.end();
    }
  });

  it('refuses to run when an applied file has changed, naming the file', async () => {
    const s = await freshSchema('test_migrate_changed');
    extraSchemas.push(s);
    const p = createPool({ connectionString: s.url, max: 1 });
    const dir = migrationsCopy();
    try {
      await migrate({ pool: p, directory: dir });
      fs.appendFileSync(path.join(dir, '002_influencers.sql'), '\n-- edited\n');
      await expect(migrate({ pool: p, directory: dir })).rejects.toThrow(
        /migration 002_influencers\.sql was changed after it was applied/,
      );
    } finally {
      await p.end();
    }
  });

  it('rolls a failing file back entirely and names it', async () => {
    const s = await freshSchema('test_migrate_fail');
    extraSchemas.push(s);
    const p = createPool({ connectionString: s.url, max: 1 });
    const bad = migrationsCopy({
      '100_broken.sql': 'CREATE TABLE half_done (id int);\nSELECT no_such_function();',
    });
    try {
      await expect(migrate({ pool: p, directory: bad })).rejects.toThrow(/^100_broken\.sql: .*no_such_function/);
      const { rows } = await p.query(
        `SELECT to_regclass('half_done') AS t, (SELECT max(version) FROM schema_migrations) AS v`,
      );
      expect(rows).toEqual([{ t: null, v: Math.max(...readMigrations().map((m) => m.version)) }]); // the repo's last file, not 100
    } finally {
      await p.end();
    }
  });

  it('refuses a search_path without a usable schema', async () => {
    const p = createPool({
      connectionString: withSearchPath(databaseUrl(), 'no_such_schema_x').replace('%2Cpublic', ''),
      max: 1,
    });
    try {
      await expect(migrate({ pool: p })).rejects.toThrow(
        /no schema to create tables in: search_path is "no_such_schema_x"/,
      );
    } finally {
      await p.end();
    }
  });

  it('keeps the TimescaleDB extension out of the test schema', async () => {
    const plain = createPool({ connectionString: withSearchPath(databaseUrl(), 'public'), max: 1 });
    try {
      const { rows } = await plain.query(
        `SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'`,
      );
      expect(rows).toEqual([{ schema: 'public' }]);
    } finally {
      await plain.end();
    }
  });
});
