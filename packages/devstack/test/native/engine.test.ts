/**
 * A real server as the native engine runs it: TimescaleDB preloaded, its scheduler running for
 * the database, and a job run by the background job runner (the probe `up` makes on a first
 * start, which is how the PostgreSQL 15.20 break is detected).
 */
import { Client } from 'pg';
import { probeJobRunner } from '../../src/native-timescale';

const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres');

test('the server preloads TimescaleDB, its scheduler runs, and a job runs in the background', async () => {
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT current_setting('shared_preload_libraries') AS preload,
      (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'TimescaleDB Background Worker Scheduler' AND datname = current_database()) AS schedulers`);
    expect(rows[0]).toEqual({ preload: expect.stringContaining('timescaledb'), schedulers: 1 });
  } finally {
    await client.end();
  }
  await probeJobRunner(url.hostname, Number(url.port || 5432));
});
