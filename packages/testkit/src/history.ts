/**
 * History written fast through the pipeline's own storage path: the mock API's counts for a
 * range of ids, one sample per `stepMs` over [from, to), stored by the result-handler's
 * `storeResults` (the statement the service runs per batch). The counts are a pure function of
 * time, so a day of history takes seconds instead of a day.
 */
import { randomUUID } from 'node:crypto';
import { countsAt, type CountsOptions } from '@mockstagram/mock-api';
import { storeResults } from '@mockstagram/result-handler';
import type { FetchResult, Pool } from '@mockstagram/shared';

export interface HistoryOptions {
  /** Influencer ids to write. */
  ids: readonly number[];
  /** First sample time, Unix ms. */
  from: number;
  /** End (exclusive), Unix ms. */
  to: number;
  /** Time between an influencer's samples, ms. Default 60,000 (the polling interval). */
  stepMs?: number;
  /** The mock's count options (seed, share of suspicious...). */
  counts?: Partial<CountsOptions>;
  /** Rows per storeResults call. Default 10,000 (the result-handler's batch size). */
  batchSize?: number;
}

/** Writes the history and resolves with the number of samples inserted. */
export async function writeHistory(pool: Pool, options: HistoryOptions): Promise<number> {
  const { ids, from, to, stepMs = 60_000, counts, batchSize = 10_000 } = options;
  let inserted = 0;
  let batch: FetchResult[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const outcome = await storeResults(pool, batch);
    if (outcome.rejected.length > 0) throw outcome.rejected[0].error;
    inserted += outcome.inserted;
    batch = [];
  };
  for (let t = from; t < to; t += stepMs) {
    const observedAt = new Date(t).toISOString();
    for (const id of ids) {
      const c = countsAt(id, t, counts);
      batch.push({
        jobId: randomUUID(),
        influencerId: id,
        username: c.username,
        followerCount: c.followerCount,
        followingCount: c.followingCount,
        observedAt,
      });
      if (batch.length >= batchSize) await flush();
    }
  }
  await flush();
  return inserted;
}

/** Ids `first, first+1, ..., first+n-1`. */
export function idRange(first: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => first + i);
}
