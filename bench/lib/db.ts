/**
 * Database ceilings: rows/s of the result-handler's own insert statement (imported, not copied)
 * and of COPY FROM STDIN (pg-copy-streams), one client, fixed-size batches.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PoolClient } from '@mockstagram/shared';
import { from as copyFrom } from 'pg-copy-streams';
import { insertFollowerCounts, type FollowerCountColumns } from '../../apps/result-handler/src/sql/insertFollowerCounts';
import { repoRoot } from './report';

export const COLUMNS = 'influencer_id, observed_at, follower_count, following_count, job_id';
export const COPY_SQL = (table: string) => `COPY ${table} (${COLUMNS}) FROM STDIN`;

/**
 * migrations/003_follower_counts.sql without its `create_hypertable` call: the same table as a
 * plain PostgreSQL table (for native PostgreSQL, and for the front without TimescaleDB's insert path).
 */
export function plainFollowerCountsDdl(): string {
  const sql = fs.readFileSync(path.join(repoRoot, 'migrations', '003_follower_counts.sql'), 'utf8');
  return sql.replace(/^SELECT create_hypertable\([^;]*\);\s*$/m, '');
}

export interface Batch {
  columns: FollowerCountColumns;
  /** The same rows as COPY text format lines. */
  copyText: Buffer;
}

/**
 * `rows` distinct samples in batches of `batchSize`, observed within one day starting at `dayMs`
 * (one hypertable chunk), ids cycling over 1,000,000 influencers.
 */
export function makeBatches(rows: number, batchSize: number, dayMs: number): Batch[] {
  const batches: Batch[] = [];
  for (let from = 0; from < rows; from += batchSize) {
    const c: FollowerCountColumns = { influencerIds: [], observedAts: [], followerCounts: [], followingCounts: [], jobIds: [] };
    const lines: string[] = [];
    for (let i = from; i < Math.min(rows, from + batchSize); i++) {
      const id = 1_000_000 + (i % 1_000_000);
      const at = new Date(dayMs + Math.floor(i / 1_000_000) * 60_000 + (i % 60_000)).toISOString();
      const followers = 10_000 + ((i * 7919) % 1_000_000);
      const following = 100 + (i % 500);
      const job = randomUUID();
      c.influencerIds.push(id);
      c.observedAts.push(at);
      c.followerCounts.push(followers);
      c.followingCounts.push(following);
      c.jobIds.push(job);
      lines.push(`${id}\t${at}\t${followers}\t${following}\t${job}\n`);
    }
    batches.push({ columns: c, copyText: Buffer.from(lines.join('')) });
  }
  return batches;
}

/** Runs insertFollowerCounts once per batch (each its own implicit transaction); returns rows/s. */
export async function insertRate(client: PoolClient, batches: Batch[]): Promise<number> {
  let rows = 0;
  const t0 = performance.now();
  for (const b of batches) rows += await insertFollowerCounts(client, b.columns);
  const seconds = (performance.now() - t0) / 1000;
  const expected = batches.reduce((s, b) => s + b.columns.influencerIds.length, 0);
  if (rows !== expected) throw new Error(`inserted ${rows} rows, expected ${expected} (table not empty?)`);
  return rows / seconds;
}

/** One `COPY ... FROM STDIN` (text format) per batch; returns rows/s. */
export async function copyRate(client: PoolClient, table: string, batches: Batch[]): Promise<number> {
  let rows = 0;
  const t0 = performance.now();
  for (const b of batches) {
    const stream = client.query(copyFrom(COPY_SQL(table)));
    await pipeline(Readable.from([b.copyText]), stream);
    rows += stream.rowCount ?? 0;
  }
  const seconds = (performance.now() - t0) / 1000;
  const expected = batches.reduce((s, b) => s + b.columns.influencerIds.length, 0);
  if (rows !== expected) throw new Error(`copied ${rows} rows, expected ${expected}`);
  return rows / seconds;
}
