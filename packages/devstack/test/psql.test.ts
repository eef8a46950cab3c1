import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Client } from 'pg';

/**
 * libpq clients against the devstack's database (or whatever DATABASE_URL names): psql, COPY
 * in both directions through psql, pgbench's initialisation and a short concurrent run. The
 * tools work in a schema of their own, selected with PGOPTIONS (libpq's startup options).
 */

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';
const schema = `psql_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const env = { ...process.env, PGOPTIONS: `-c search_path=${schema},public`, PGCONNECT_TIMEOUT: '10' };

function tool(command: string, args: string[], input?: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { env, input, encoding: 'utf8', timeout: 90_000 });
  if (result.error) throw result.error;
  return result;
}

function psql(args: string[], input?: string): SpawnSyncReturns<string> {
  return tool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', databaseUrl, ...args], input);
}

function okOrThrow(result: SpawnSyncReturns<string>): string {
  if (result.status !== 0) throw new Error(`exit ${result.status}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result.stdout;
}

/** pgbench from PATH, else from Debian's PostgreSQL server packages. */
function findPgbench(): string | undefined {
  const onPath = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  if (!onPath.error) return 'pgbench';
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.map((v) => `${base}/${v}/bin/pgbench`).find((p) => fs.existsSync(p));
}

beforeAll(async () => {
  const version = spawnSync('psql', ['--version'], { encoding: 'utf8' });
  if (version.error) {
    throw new Error(
      `psql is not installed (${version.error.message}): install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client)`,
    );
  }
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
});

afterAll(async () => {
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('psql and pgbench', () => {
  test('psql connects and runs a query, in the schema PGOPTIONS selects', () => {
    expect(okOrThrow(psql(['-c', 'SELECT 40 + 2']))).toBe('42\n');
    expect(okOrThrow(psql(['-c', 'SELECT current_schema()']))).toBe(`${schema}\n`);
    // No DEBUG notices on stderr (extended protocol would trigger them if client_min_messages were debug).
    const result = psql(['-c', `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`]);
    expect(okOrThrow(result)).toMatch(/^2\.\d+/);
    expect(result.stderr).toBe('');
  });

  test('COPY FROM STDIN through psql loads the rows; COPY TO STDOUT returns them; the database keeps answering', () => {
    okOrThrow(psql(['-c', 'CREATE TABLE copied (id int PRIMARY KEY, name text, at timestamptz)']));
    const lines = Array.from({ length: 5000 }, (_, i) => `${i}\tname ${i}\t2024-01-01 00:00:00+00`);
    const loaded = psql(['-c', '\\copy copied FROM stdin'], `${lines.join('\n')}\n\\.\n`);
    okOrThrow(loaded);
    expect(okOrThrow(psql(['-c', 'SELECT count(*), sum(id) FROM copied']))).toBe(`5000|${(4999 * 5000) / 2}\n`);

    // CSV with a header, sent by psql as COPY ... FROM STDIN (server-side syntax).
    const csv = psql(
      ['-c', `COPY copied (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)`],
      'id,name\n10000,"with, comma"\n10001,plain\n',
    );
    okOrThrow(csv);
    expect(okOrThrow(psql(['-c', `SELECT name FROM copied WHERE id >= 10000 ORDER BY id`]))).toBe(
      'with, comma\nplain\n',
    );

    // Rows that do not fit: the COPY fails as a whole with Postgres' error, nothing is loaded.
    const bad = psql(['-c', '\\copy copied FROM stdin'], '20000\tok\t2024-01-01\nnot-a-number\tx\t2024-01-01\n\\.\n');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid input syntax for type integer/);
    expect(okOrThrow(psql(['-c', 'SELECT count(*) FROM copied WHERE id = 20000']))).toBe('0\n');

    const out = okOrThrow(psql(['-c', 'COPY (SELECT id, name FROM copied WHERE id < 3 ORDER BY id) TO STDOUT']));
    expect(out).toBe('0\tname 0\n1\tname 1\n2\tname 2\n');

    expect(okOrThrow(psql(['-c', 'SELECT 1']))).toBe('1\n');
  });

  test('pgbench: initialisation (server-side and client-side COPY) and 8 clients for 5 s with no failed transaction', () => {
    const pgbench = findPgbench();
    if (!pgbench) {
      throw new Error(
        'pgbench is not installed: install it (Debian/Ubuntu: apt-get install postgresql-contrib, or postgresql-15)',
      );
    }
    // Server-side data generation (no COPY).
    const initServerSide = tool(pgbench, ['-i', '-s', '1', '-I', 'dtGvp', databaseUrl]);
    expect(initServerSide.stderr).toMatch(/done in/);
    expect(initServerSide.status).toBe(0);
    // Client-side generation: 100,000 accounts through COPY FROM STDIN.
    const init = tool(pgbench, ['-i', '-s', '1', databaseUrl]);
    expect(init.stderr).toMatch(/client-side generate/);
    expect(init.status).toBe(0);
    expect(okOrThrow(psql(['-c', 'SELECT count(*) FROM pgbench_accounts']))).toBe('100000\n');

    const run = tool(pgbench, ['-c', '8', '-j', '2', '-T', '5', databaseUrl]);
    const report = `${run.stdout}\n${run.stderr}`;
    expect(run.status).toBe(0);
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(report)?.[1] ?? 0);
    const failed = /number of failed transactions: (\d+)/.exec(report)?.[1];
    expect(processed).toBeGreaterThan(100);
    expect(failed).toBe('0');
    expect(report).not.toMatch(/error/i);
    // The tables it used are this file's.
    expect(okOrThrow(psql(['-c', `SELECT to_regclass('${schema}.pgbench_history') IS NOT NULL`]))).toBe('t\n');
  });
});
