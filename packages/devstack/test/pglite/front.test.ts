import { spawnSync } from 'node:child_process';
import { Client } from 'pg';
import { databaseUrl, freshSchema, type TestSchema } from '@mockstagram/testkit';

/**
 * What only the PGlite wire front does (src/pg-front/): one connection owns the single PGlite
 * session from its first message until it is idle, so others wait and a client that vanishes
 * mid-transaction is rolled back and frees it; COPY FROM STDIN is emulated only as the one
 * statement of a simple query. Runs with DEVSTACK_DB=pglite (`yarn test:pglite`); a native
 * server behaves as PostgreSQL does, which the other devstack tests cover.
 */

let db: TestSchema;

beforeAll(async () => {
  db = await freshSchema('front');
  await db.pool.query('CREATE TABLE ledger (id int PRIMARY KEY, part int NOT NULL, note text NOT NULL)');
});

afterAll(async () => {
  await db?.drop();
});

describe('the PGlite wire front', () => {
  test('a client that disconnects inside a transaction is rolled back and the next client proceeds within a second', async () => {
    const dropped = new Client({ connectionString: db.url });
    const next = new Client({ connectionString: db.url });
    const droppedErrors: Error[] = [];
    dropped.on('error', (err) => droppedErrors.push(err));
    await dropped.connect();
    await next.connect();

    await dropped.query('BEGIN');
    await dropped.query('INSERT INTO ledger (id, part, note) VALUES ($1, 9, $2)', [-1, 'never committed']);

    // `next` asks while `dropped` owns the database: it waits.
    let answeredAt = 0;
    const waiting = next
      .query('INSERT INTO ledger (id, part, note) VALUES ($1, 9, $2) RETURNING id', [-2, 'after the drop'])
      .then((r) => {
        answeredAt = Date.now();
        return r;
      });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answeredAt).toBe(0);

    const droppedAt = Date.now();
    // Vanish without Terminate, as a crashed process would.
    (dropped as unknown as { connection: { stream: { destroy: () => void } } }).connection.stream.destroy();
    const result = await waiting;
    expect(result.rows).toEqual([{ id: -2 }]);
    expect(answeredAt - droppedAt).toBeLessThan(1000);

    const { rows } = await next.query<{ id: number }>('SELECT id FROM ledger WHERE part = 9 ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([-2]);
    await next.query('DELETE FROM ledger WHERE part = 9');
    await next.end();
  });

  test('COPY FROM STDIN inside a prepared statement is refused with 0A000 and the connection stays usable', async () => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    await expect(client.query('COPY ledger FROM STDIN WHERE id > $1', [0])).rejects.toMatchObject({ code: '0A000' });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });

  test('COPY FROM STDIN that is not alone in its query is refused clearly (0A000) and psql carries on', () => {
    const refused = spawnSync(
      'psql',
      [
        '-X',
        '-q',
        '-A',
        '-t',
        '-d',
        databaseUrl(),
        '-v',
        'ON_ERROR_STOP=0',
        '-c',
        'SELECT 1; COPY ledger FROM STDIN',
        '-c',
        'SELECT 7',
      ],
      // libpq reads the schema from PGOPTIONS (it does not decode the URL's `+` as a space).
      {
        input: '',
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, PGOPTIONS: `-c search_path=${db.schema},public` },
      },
    );
    expect(refused.stderr).toMatch(/COPY FROM STDIN is supported by the devstack front only as the only statement/);
    expect(refused.stdout).toContain('7');
  });
});
