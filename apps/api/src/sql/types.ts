import type { Pool, PoolClient } from '@mockstagram/shared/src/db';

/** A pool or a client: anything with node-postgres' `query`. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;
