import { freshSchema, type TestSchema } from '@mockstagram/testkit';
import { createPool, isTransientDbError, withTransaction, type Pool } from '../src/db';

describe('isTransientDbError', () => {
  const pgError = (code: string) => Object.assign(new Error('x'), { code });
  it('retries connection, resource and concurrency failures', () => {
    for (const code of ['08006', '08001', '57P01', '53300', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET']) {
      expect([code, isTransientDbError(pgError(code))]).toEqual([code, true]);
    }
    expect(isTransientDbError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientDbError(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });
  it('does not retry data, constraint or SQL errors', () => {
    for (const code of ['23505', '22P02', '42P01', '42601'])
      expect([code, isTransientDbError(pgError(code))]).toEqual([code, false]);
    expect(isTransientDbError(new Error('something else'))).toBe(false);
    expect(isTransientDbError('nope')).toBe(false);
  });
});

describe('createPool / withTransaction (real database)', () => {
  let db: TestSchema;
  let pool: Pool;

  beforeAll(async () => {
    db = await freshSchema('test_db');
    pool = createPool({ connectionString: db.url, max: 2 });
    await pool.query('CREATE TABLE t (id bigint PRIMARY KEY, n bigint)');
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('returns bigint and count(*) as numbers', async () => {
    await pool.query('INSERT INTO t VALUES (1000001, 42)');
    const { rows } = await pool.query(
      'SELECT id, n, (SELECT count(*) FROM t) AS c, 9007199254740993::bigint AS big FROM t',
    );
    expect(rows).toEqual([{ id: 1000001, n: 42, c: 1, big: '9007199254740993' }]);
  });

  it('commits what fn did and returns its value', async () => {
    const value = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO t VALUES (2, 2)');
      return 'done';
    });
    expect(value).toBe('done');
    expect((await pool.query('SELECT n FROM t WHERE id = 2')).rows).toEqual([{ n: 2 }]);
  });

  it('rolls back and rethrows when fn throws', async () => {
    await expect(
      withTransaction(pool, async (client) => {
        await client.query('INSERT INTO t VALUES (3, 3)');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    await expect(
      withTransaction(pool, (client) => client.query('INSERT INTO t VALUES (1000001, 0)')),
    ).rejects.toMatchObject({ code: '23505' });
    expect((await pool.query('SELECT id FROM t ORDER BY id')).rows).toEqual([{ id: 2 }, { id: 1000001 }]);
    expect(pool.totalCount).toBeLessThanOrEqual(2);
  });

  it('survives its connection failing while fn waits between statements (a database restart): rejects, and the pool goes on', async () => {
    const other = createPool({ connectionString: db.url, max: 1 });
    try {
      await expect(
        withTransaction(pool, async (client) => {
          await client.query('INSERT INTO t VALUES (4, 4)');
          const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          // The server ends this session while no statement of it runs, as a restart does while
          // the scheduler waits for Kafka: the client emits 'error' and 'end'.
          const ended = new Promise((resolve) => client.once('end', resolve));
          await other.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
          await ended;
          await client.query('SELECT 1');
        }),
      ).rejects.toThrow();
    } finally {
      await other.end();
    }
    expect((await pool.query('SELECT id FROM t ORDER BY id')).rows).toEqual([{ id: 2 }, { id: 1000001 }]);
  });
});
