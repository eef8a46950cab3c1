import { Client } from 'pg';

/** A connection to the devstack's database as `postgres`, connect errors thrown, later ones ignored. */
export async function connectAsPostgres(host: string, port: number): Promise<Client> {
  const client = new Client({ host, port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Whether a PostgreSQL server on host:port answers `SELECT 1` (throws the reason when not). */
export async function answers(host: string, port: number): Promise<boolean> {
  const client = await connectAsPostgres(host, port);
  try {
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}
