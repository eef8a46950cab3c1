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
 * const emitted = await withTransaction(pool, async (client) => {
 *   const claimed = await claimDueInfluencers(client, limit);
 *   await produceMany(producer, { topic, messages: jobsFor(claimed) }); // COMMIT only after the ack
 *   return claimed.length;
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
 * What a database error means for the caller, decided here once:
 *
 * - `transient`: worth retrying as is. The connection or server failed (SQLSTATE class 08,
 *   57P01–57P03, 53xxx, 58xxx, network errors, pool timeouts) or the transaction lost a race
 *   (40001 serialization failure, 40P01 deadlock).
 * - `duplicate`: 23505 unique violation: a row with that key is stored already.
 * - `data`: the values of some row were refused (the rest of class 22 "data exception" and 23
 *   "integrity constraint violation"): the same row fails again, other rows can succeed.
 * - `permanent`: anything else (syntax, missing table 42xxx, authentication 28xxx, an unknown
 *   error): it happens again until someone changes the database or the configuration.
 */
export type DbErrorClass = 'transient' | 'duplicate' | 'data' | 'permanent';

const TRANSIENT_SQLSTATE = /^(08|53|57P0[123]|40001|40P01|58)/;
const TRANSIENT_NETWORK_CODE = /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|AI_AGAIN|NOTFOUND)$/;
const TRANSIENT_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/i;

/** Classifies a database error (see {@link DbErrorClass}). */
export function classifyDbError(err: unknown): DbErrorClass {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string') {
    if (code === '23505') return 'duplicate';
    if (/^2[23][0-9A-Z]{3}$/.test(code)) return 'data';
    if (err instanceof Error && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NETWORK_CODE.test(code)))
      return 'transient';
    if (/^[0-9A-Z]{5}$/.test(code)) return 'permanent';
  }
  return err instanceof Error && TRANSIENT_MESSAGE.test(err.message) ? 'transient' : 'permanent';
}

/** `classifyDbError(err) === 'transient'`: worth retrying as is. */
export function isTransientDbError(err: unknown): boolean {
  return classifyDbError(err) === 'transient';
}
