/**
 * Writes a batch of results to TimescaleDB: `follower_counts` and `influencer_latest` in one
 * transaction.
 *
 * A row the database refuses for its own sake (a data or constraint error, SQLSTATE class 22 or
 * 23, e.g. a date PostgreSQL cannot represent or a NUL character in a username) would fail the
 * whole statement; the batch is then written again inside one transaction, bisecting with
 * savepoints until each refused row stands alone. Those rows come back in
 * {@link StoreOutcome.rejected}; the others are stored. With k bad rows among n this costs
 * about 2·k·log2(n) extra statements, and nothing when all rows are good.
 *
 * Any other error (connection lost, database restarting, missing table...) is thrown as is: the
 * caller retries the batch as a whole.
 *
 * @module
 */
import { withTransaction, type FetchResult, type Pool, type PoolClient } from '@mockstagram/shared';
import { insertFollowerCounts, type FollowerCountColumns } from './sql/insertFollowerCounts';
import { upsertInfluencerLatest, type InfluencerLatestColumns } from './sql/upsertInfluencerLatest';

/** The columns both statements take (built once per batch). */
export type ResultColumns = FollowerCountColumns & InfluencerLatestColumns;

export interface RejectedRow {
  /** Index of the row in the `rows` given to {@link storeResults}. */
  index: number;
  /** The database's error for this row alone. */
  error: Error;
}

export interface StoreOutcome {
  /** Rows inserted into `follower_counts` (the rest were already there or rejected). */
  inserted: number;
  /** Rows the database refused; empty in the normal case. */
  rejected: RejectedRow[];
}

/**
 * Stores `rows` (already validated results) and returns what happened. Resolves only after
 * COMMIT. Throws for anything but per-row data errors (see the module comment).
 */
export async function storeResults(pool: Pool, rows: readonly FetchResult[]): Promise<StoreOutcome> {
  if (rows.length === 0) return { inserted: 0, rejected: [] };
  const columns = toColumns(rows);
  try {
    const inserted = await withTransaction(pool, (client) => writeRows(client, columns));
    return { inserted, rejected: [] };
  } catch (err) {
    if (!isRowDataError(err)) throw err;
  }
  return withTransaction(pool, async (client) => {
    const outcome: StoreOutcome = { inserted: 0, rejected: [] };
    // The whole range just failed; a single row is tried once more to get its own error.
    await bisect(client, columns, 0, rows.length, outcome, rows.length > 1);
    return outcome;
  });
}

/**
 * True for errors caused by the values of some row (SQLSTATE class 22 "data exception" or 23
 * "integrity constraint violation"): retrying the same row cannot succeed, other rows can.
 */
export function isRowDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

/** One pass over the rows, straight into pre-sized column arrays. */
export function toColumns(rows: readonly FetchResult[]): ResultColumns {
  const n = rows.length;
  const influencerIds = new Array<number>(n);
  const observedAts = new Array<string>(n);
  const followerCounts = new Array<number>(n);
  const followingCounts = new Array<number>(n);
  const jobIds = new Array<string>(n);
  const usernames = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    influencerIds[i] = r.influencerId;
    observedAts[i] = r.observedAt;
    followerCounts[i] = r.followerCount;
    followingCounts[i] = r.followingCount;
    jobIds[i] = r.jobId;
    usernames[i] = r.username;
  }
  return { influencerIds, observedAts, followerCounts, followingCounts, jobIds, usernames };
}

async function writeRows(client: PoolClient, columns: ResultColumns): Promise<number> {
  const inserted = await insertFollowerCounts(client, columns);
  await upsertInfluencerLatest(client, columns);
  return inserted;
}

/**
 * Writes rows [lo, hi) under a savepoint; on a data error rolls back to it and splits the range.
 * `knownBad`: the range is known to fail (skip trying it whole).
 */
async function bisect(
  client: PoolClient,
  columns: ResultColumns,
  lo: number,
  hi: number,
  outcome: StoreOutcome,
  knownBad = false,
): Promise<void> {
  if (lo >= hi) return;
  if (!knownBad) {
    const part = lo === 0 && hi === columns.influencerIds.length ? columns : sliceColumns(columns, lo, hi);
    await client.query('SAVEPOINT store_rows');
    try {
      outcome.inserted += await writeRows(client, part);
      await client.query('RELEASE SAVEPOINT store_rows');
      return;
    } catch (err) {
      if (!isRowDataError(err)) throw err;
      await client.query('ROLLBACK TO SAVEPOINT store_rows; RELEASE SAVEPOINT store_rows');
      if (hi - lo === 1) {
        outcome.rejected.push({ index: lo, error: err as Error });
        return;
      }
    }
  }
  const mid = lo + ((hi - lo) >>> 1);
  await bisect(client, columns, lo, mid, outcome);
  await bisect(client, columns, mid, hi, outcome);
}

function sliceColumns(c: ResultColumns, lo: number, hi: number): ResultColumns {
  return {
    influencerIds: c.influencerIds.slice(lo, hi),
    observedAts: c.observedAts.slice(lo, hi),
    followerCounts: c.followerCounts.slice(lo, hi),
    followingCounts: c.followingCounts.slice(lo, hi),
    jobIds: c.jobIds.slice(lo, hi),
    usernames: c.usernames.slice(lo, hi),
  };
}
