/**
 * Database ceilings: rows/s of the result-handler's own write statement (`writeNewResults`, imported,
 * not copied: `follower_counts` + `influencer_latest` in one statement) and of COPY FROM STDIN into
 * `follower_counts` alone (pg-copy-streams), one client, fixed-size pre-built batches.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { FetchResult, PoolClient } from '@mockstagram/shared';
import { from as copyFrom } from 'pg-copy-streams';
import { resultParameters, writeNewResults, type ResultParameters } from '@mockstagram/result-handler';
import { repoRoot } from './report';

export const COLUMNS = 'influencer_id, observed_at, follower_count, following_count, job_id';
export const COPY_SQL = (table: string) => `COPY ${table} (${COLUMNS}) FROM STDIN`;

/**
 * migrations/003_follower_counts.sql without its `create_hypertable` call,
 * migrations/004_influencer_latest.sql, and the columns later migrations add to either table
 * (their `ALTER TABLE … ADD COLUMN` statements): the tables the result-handler writes, as plain
 * PostgreSQL tables (for native PostgreSQL, and for the front without TimescaleDB's insert path).
 */
export function plainTablesDdl(): string {
  const dir = path.join(repoRoot, 'migrations');
  const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
  const addedColumns = fs
    .readdirSync(dir)
    .filter((f) => /^\d+_.*\.sql$/.test(f) && f > '004_')
    .sort()
    .flatMap((f) => read(f).match(/^ALTER TABLE (?:follower_counts|influencer_latest) ADD COLUMN [^;]*;/gm) ?? []);
  return [
    read('003_follower_counts.sql').replace(/^SELECT create_hypertable\([^;]*\);\s*$/m, ''),
    read('004_influencer_latest.sql'),
    ...addedColumns,
  ].join('\n');
}

/** Empties both tables (before every run). */
export const TRUNCATE_SQL = 'TRUNCATE follower_counts, influencer_latest';

export interface Batch {
  /** The rows, as the result-handler hands them to writeNewResults. */
  rows: FetchResult[];
  /** Their statement parameters, pre-built as the result-handler does while the previous batch is written. */
  parameters: ResultParameters;
  /** The same rows' follower_counts columns as COPY text format lines. */
  copyText: Buffer;
}

/**
 * `rows` distinct samples in batches of `batchSize`, observed within one day starting at `dayMs`
 * (one hypertable chunk): rows / 2 influencers × 2 samples a minute apart, in that order, like the
 * sink benchmark's topic (1,000,000 influencers × 2 samples), so the first half of the rows
 * inserts `influencer_latest` rows and the second half updates them.
 */
export function makeBatches(rows: number, batchSize: number, dayMs: number): Batch[] {
  const influencers = Math.max(1, Math.ceil(rows / 2));
  const batches: Batch[] = [];
  for (let from = 0; from < rows; from += batchSize) {
    const batch: FetchResult[] = [];
    const lines: string[] = [];
    for (let i = from; i < Math.min(rows, from + batchSize); i++) {
      const influencerId = 1_000_000 + (i % influencers);
      const r: FetchResult = {
        jobId: randomUUID(),
        influencerId,
        username: `user_${influencerId}`,
        followerCount: 10_000 + ((i * 7919) % 1_000_000),
        followingCount: 100 + (i % 500),
        observedAt: new Date(dayMs + Math.floor(i / influencers) * 60_000 + (influencerId % 1000)).toISOString(),
      };
      batch.push(r);
      lines.push(`${r.influencerId}\t${r.observedAt}\t${r.followerCount}\t${r.followingCount}\t${r.jobId}\n`);
    }
    batches.push({ rows: batch, parameters: resultParameters(batch), copyText: Buffer.from(lines.join('')) });
  }
  return batches;
}

/**
 * Runs writeNewResults once per batch (one statement, so each batch its own transaction, as the
 * result-handler does); returns rows/s.
 */
export async function writeRate(client: PoolClient, batches: Batch[]): Promise<number> {
  let rows = 0;
  const t0 = performance.now();
  for (const b of batches) rows += await writeNewResults(client, b.rows, b.parameters);
  const seconds = (performance.now() - t0) / 1000;
  const expected = batches.reduce((s, b) => s + b.rows.length, 0);
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
  const expected = batches.reduce((s, b) => s + b.rows.length, 0);
  if (rows !== expected) throw new Error(`copied ${rows} rows, expected ${expected}`);
  return rows / seconds;
}
