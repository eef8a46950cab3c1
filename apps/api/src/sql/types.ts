import type { Pool, PoolClient } from '@mockstagram/shared/db';

/** A pool or a client: anything with node-postgres' `query`. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;
