import type { Pool, PoolClient } from '@mockstagram/shared';

/** A pool or a client inside a transaction: anything with node-postgres' `query`. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;

/** What a registration statement did. */
export interface RegisterCounts {
  /** Ids that were not known and were added. */
  inserted: number;
  /** Known ids that were re-activated or got a new interval. */
  updated: number;
}

/** What an activation / deactivation statement did. */
export interface SetActiveCounts {
  /** Selected ids that exist in the registry. */
  found: number;
  /** Of those, the ones whose `active` flag flipped. */
  changed: number;
}

/** One row of `influencers`, as the API shows it. */
export interface InfluencerRow {
  id: number;
  username: string | null;
  active: boolean;
  fetchIntervalSeconds: number;
  nextFetchAt: Date;
  createdAt: Date;
  updatedAt: Date;
}
