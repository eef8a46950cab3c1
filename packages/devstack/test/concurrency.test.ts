import { randomBytes } from 'node:crypto';
import { Client, Pool, PoolClient } from 'pg';

/**
 * Many connections sharing the devstack's single PGlite session through the wire front:
 * interleaved transactions stay isolated, a client that vanishes mid-transaction is rolled back
 * and does not hold the others up, per-connection state (settings, prepared statements) stays
 * per connection. Real engine over TCP with `pg`, in a schema of its own.
 */

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';
const schema = `conc_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

function urlWithSearchPath(url: string, searchPath: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${searchPath}`);
  return u.toString();
}

const schemaUrl = () => urlWithSearchPath(databaseUrl, `${schema},public`);

beforeAll(async () => {
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.ledger (id int PRIMARY KEY, part int NOT NULL, note text NOT NULL)`);
  await admin.end();
});

afterAll(async () => {
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('concurrent connections', () => {
  test('a pool of 8 runs 400 interleaved transactions (commit and rollback) and plain queries; exactly the committed rows remain', async () => {
    const pool = new Pool({ connectionString: schemaUrl(), max: 8 });
    const poolErrors: Error[] = [];
    pool.on('error', (err) => poolErrors.push(err));
    const TRANSACTIONS = 400;
    const committed: number[] = [];
    const counts: number[] = [];

    const transaction = async (t: number) => {
      const client: PoolClient = await pool.connect();
      try {
        await client.query('BEGIN');
        // Two rows per transaction, parameterized (extended protocol), one read in between.
        await client.query('INSERT INTO ledger (id, part, note) VALUES ($1, 0, $2)', [t * 2, `tx ${t}`]);
        const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger WHERE id = $1', [
          t * 2,
        ]);
        expect(rows[0].n).toBe(1); // its own uncommitted row
        await client.query('INSERT INTO ledger (id, part, note) VALUES ($1, 1, $2)', [t * 2 + 1, `tx ${t}`]);
        if (t % 3 === 0) {
          await client.query('ROLLBACK');
        } else {
          await client.query('COMMIT');
          committed.push(t * 2, t * 2 + 1);
        }
      } finally {
        client.release();
      }
    };
    const plainQuery = async () => {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger');
      counts.push(rows[0].n);
      // A simple-protocol query too.
      await pool.query('SELECT 1');
    };

    const work: Array<Promise<void>> = [];
    for (let t = 0; t < TRANSACTIONS; t++) {
      work.push(transaction(t));
      if (t % 4 === 0) work.push(plainQuery());
    }
    const results = await Promise.allSettled(work);
    const failures = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => String(r.reason));
    expect(failures).toEqual([]);
    expect(poolErrors).toEqual([]);

    const { rows } = await pool.query<{ id: number }>('SELECT id FROM ledger ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(committed.sort((a, b) => a - b));
    expect(rows).toHaveLength((TRANSACTIONS - Math.ceil(TRANSACTIONS / 3)) * 2);
    // Plain queries only ever saw committed pairs.
    for (const n of counts) expect(n % 2).toBe(0);
    await pool.end();
  });

  test('a client that drops in the middle of an extended-protocol sequence leaves nothing behind', async () => {
    const dropped = new Client({ connectionString: schemaUrl() });
    dropped.on('error', () => undefined);
    await dropped.connect();
    // Parse/Bind/Execute of an INSERT with no Sync: an implicit transaction the Sync would commit.
    const stream = (
      dropped as unknown as { connection: { stream: { write: (b: Buffer) => void; destroy: () => void } } }
    ).connection.stream;
    const msg = (type: string, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.write(type, 0, 'latin1');
      head.writeInt32BE(body.length + 4, 1);
      return Buffer.concat([head, body]);
    };
    const cstr = (s: string) => Buffer.from(`${s}\0`);
    stream.write(
      Buffer.concat([
        msg(
          'P',
          Buffer.concat([
            cstr(''),
            cstr(`INSERT INTO ledger (id, part, note) VALUES (-3, 9, 'half a sequence')`),
            Buffer.from([0, 0]),
          ]),
        ),
        msg('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 0, 0])])),
        msg('E', Buffer.concat([cstr(''), Buffer.from([0, 0, 0, 0])])),
        msg('H', Buffer.alloc(0)),
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    stream.destroy();

    const other = new Client({ connectionString: schemaUrl() });
    await other.connect();
    const started = Date.now();
    const { rows } = await other.query('SELECT id FROM ledger WHERE part = 9');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(rows).toEqual([]);
    await other.end();
  });

  test('session settings and named prepared statements stay per connection', async () => {
    const a = new Client({ connectionString: schemaUrl() });
    const b = new Client({ connectionString: schemaUrl() });
    await a.connect();
    await b.connect();
    try {
      await settingsAndStatements(a, b);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  async function settingsAndStatements(a: Client, b: Client): Promise<void> {
    const searchPath = async (c: Client) =>
      ((await c.query('SHOW search_path')).rows[0].search_path as string).replace(/\s/g, '');

    // A SET by one connection does not leak into another.
    await a.query(`SET search_path TO pg_catalog`);
    await a.query(`SET TIME ZONE 'Asia/Kolkata'`);
    const [sa, sb] = await Promise.all([searchPath(a), searchPath(b)]);
    expect(sa).toBe('pg_catalog');
    expect(sb).toBe(`${schema},public`);
    const [ta, tb] = await Promise.all([a.query('SHOW timezone'), b.query('SHOW timezone')]);
    expect(ta.rows[0].TimeZone).toBe('Asia/Kolkata');
    expect(tb.rows[0].TimeZone).not.toBe('Asia/Kolkata');
    await a.query('RESET search_path');
    expect(await searchPath(a)).toBe(`${schema},public`);

    // Both prepare a statement of the same name with different SQL.
    const [ra, rb] = await Promise.all([
      a.query({ name: 'which', text: 'SELECT $1::int + 1 AS v', values: [1] }),
      b.query({ name: 'which', text: 'SELECT $1::int * 10 AS v', values: [1] }),
    ]);
    expect(ra.rows[0].v).toBe(2);
    expect(rb.rows[0].v).toBe(10);
    // Reused (Bind only) on each connection.
    const [ra2, rb2] = await Promise.all([
      a.query({ name: 'which', text: 'SELECT $1::int + 1 AS v', values: [5] }),
      b.query({ name: 'which', text: 'SELECT $1::int * 10 AS v', values: [5] }),
    ]);
    expect(ra2.rows[0].v).toBe(6);
    expect(rb2.rows[0].v).toBe(50);
  }
});
