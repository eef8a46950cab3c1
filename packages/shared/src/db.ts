/**
 * PostgreSQL / TimescaleDB access with node-postgres: a pool, transactions, error classification.
 *
 * @module
 */
import pg from 'pg';
import type { Logger } from './logger';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface CreatePoolOptions {
  /** `config.DATABASE_URL`. A schema can be chosen with `?options=-c search_path=myschema,public`. */
  connectionString: string;
  /** Max connections (`config.DATABASE_POOL_SIZE`). Default 10. */
  max?: number;
  /** Where errors of idle connections are logged. Default: stderr. */
  logger?: Logger;
  /** Shown in `pg_stat_activity.application_name`, e.g. the service name. */
  applicationName?: string;
  /** Fail a connect attempt after this long. Default 10 000 ms. */
  connectionTimeoutMs?: number;
  /**
   * How `bigint` (int8) columns and `count(*)` come back. Default `'number'`: as JS numbers,
   * exact up to 2^53 (9e15) — our ids and counts stay far below; a value beyond that comes back
   * as its string. `'string'` is node-postgres' own default. (`numeric`, e.g. `avg()`, stays a string.)
   */
  int8?: 'number' | 'string';
}

const INT8_OID = 20;

const parseInt8 = (value: string): number | string => {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value;
};

const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : (pg.types.getTypeParser(oid, format as 'text') as (
          value: string,
        ) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Creates a connection pool. Connections are opened lazily; a query waits for a free one.
 *
 * An error on an *idle* connection (database restarted, network cut) is logged and the
 * connection dropped; without this handler node-postgres would crash the process. Queries
 * running at that moment still reject, so the caller can retry.
 */
export function createPool(options: CreatePoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    ...(options.int8 === 'string' ? {} : { types: int8AsNumber }),
  });
  pool.on('error', (err) => {
    if (options.logger) options.logger.error({ err }, 'idle database connection failed; it was dropped from the pool');
    else process.stderr.write(`idle database connection failed; it was dropped from the pool: ${err.message}\n`);
  });
  return pool;
}

/**
 * Runs `fn` inside `BEGIN` … `COMMIT` on one pooled connection and returns its result.
 * If `fn` (or COMMIT) throws, the transaction is rolled back and the error rethrown. A connection
 * whose ROLLBACK failed too (e.g. it was cut) is destroyed instead of returned to the pool.
 *
 * @example
 * await withTransaction(pool, async (client) => {
 *   await insertFollowerCounts(client, rows);
 *   await upsertInfluencerLatest(client, rows);
 * });
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let destroy = false;
  // A checked-out client has no pool listener: a connection that fails between statements (the
  // server restarted or stopped while fn waits, e.g. for Kafka) emits 'error', which would crash
  // the process unhandled. The next statement rejects anyway; the connection is then destroyed.
  const onError = () => {
    destroy = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      destroy = true;
    }
    throw err;
  } finally {
    client.off('error', onError);
    client.release(destroy);
  }
}

/**
 * True when a database error is worth retrying as is: the connection or server failed
 * (SQLSTATE class 08, 57P01–57P03, 53xxx, network errors, pool timeouts) or the transaction lost
 * a race (40001 serialization failure, 40P01 deadlock). False for errors that will happen again
 * with the same input (bad data 22xxx, constraint violations 23xxx, syntax or missing table 42xxx).
 */
export function isTransientDbError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(08|53|57P0[123]|40001|40P01|58)/.test(code)) return true;
    if (/^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|AI_AGAIN|NOTFOUND)$/.test(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false; // any other SQLSTATE: permanent
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/i.test(
    err.message,
  );
}
