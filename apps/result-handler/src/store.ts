/**
 * Writes a batch of results to TimescaleDB: `follower_counts` and `influencer_latest` in one
 * transaction, which is one statement (`sql/writeResults.ts`): a single round trip to the
 * database per batch. First `writeNewResults` (no ON CONFLICT on `follower_counts`: the normal
 * case, where no sample is stored yet); if a sample is stored already (unique violation 23505: a
 * redelivery), the batch is written again with `writeResults`, which skips stored samples.
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
import { classifyDbError, withTransaction, type FetchResult, type Pool, type PoolClient } from '@mockstagram/shared';
import { resultParameters, writeNewResults, writeResults, type ResultParameters } from './sql/writeResults';

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
 * COMMIT. Throws for anything but per-row data errors (see the module comment). `parameters`:
 * `resultParameters(rows)` if the caller built them already.
 */
export async function storeResults(
  pool: Pool,
  rows: readonly FetchResult[],
  parameters: ResultParameters = resultParameters(rows),
): Promise<StoreOutcome> {
  if (rows.length === 0) return { inserted: 0, rejected: [] };
  // One statement, so its own transaction: one round trip to the database. (pool.query discards
  // a connection that failed.)
  try {
    return { inserted: await writeNewResults(pool, rows, parameters), rejected: [] };
  } catch (err) {
    const kind = classifyDbError(err);
    if (kind === 'data') return bisectAll(pool, rows); // a refused value: it would fail again
    if (kind !== 'duplicate') throw err;
  }
  // Some samples are stored already (a redelivery): the statement that skips them.
  try {
    return { inserted: await writeResults(pool, rows, parameters), rejected: [] };
  } catch (err) {
    if (!isRowDataError(err)) throw err;
  }
  return bisectAll(pool, rows);
}

/** The batch failed with a row data error: one transaction that isolates the refused rows. */
function bisectAll(pool: Pool, rows: readonly FetchResult[]): Promise<StoreOutcome> {
  return withTransaction(pool, async (client) => {
    const outcome: StoreOutcome = { inserted: 0, rejected: [] };
    // The whole range just failed; a single row is tried once more to get its own error.
    await bisect(client, rows, 0, rows.length, outcome, rows.length > 1);
    return outcome;
  });
}

/**
 * True for errors caused by the values of some row (`data` or `duplicate` in
 * {@link classifyDbError}): retrying the same row cannot succeed, other rows can.
 */
export function isRowDataError(err: unknown): boolean {
  const kind = classifyDbError(err);
  return kind === 'data' || kind === 'duplicate';
}

/**
 * Writes rows [lo, hi) under a savepoint; on a data error rolls back to it and splits the range.
 * `knownBad`: the range is known to fail (skip trying it whole).
 */
async function bisect(
  client: PoolClient,
  rows: readonly FetchResult[],
  lo: number,
  hi: number,
  outcome: StoreOutcome,
  knownBad = false,
): Promise<void> {
  if (lo >= hi) return;
  if (!knownBad) {
    await client.query('SAVEPOINT store_rows');
    try {
      outcome.inserted += await writeResults(client, lo === 0 && hi === rows.length ? rows : rows.slice(lo, hi));
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
  await bisect(client, rows, lo, mid, outcome);
  await bisect(client, rows, mid, hi, outcome);
}
