/**
 * A small migration runner for the raw SQL files in `migrations/`.
 *
 * Why not node-pg-migrate (or similar): our migrations are plain numbered SQL files and we never
 * migrate down; a short runner we can read beats a dependency with a JS DSL we do not use.
 *
 * Not part of the `@mockstagram/shared` barrel (the apps never migrate): import it from
 * `@mockstagram/shared/migrate`.
 *
 * Rules:
 * - Files are `NNN_name.sql` (e.g. `003_follower_counts.sql`), applied in numeric order.
 * - Each file runs in its own transaction, recorded in `schema_migrations` (version, name,
 *   sha256 checksum, applied_at, duration) in the same transaction: it applies fully or not at all.
 * - There is no mode without a transaction: a file that starts with `-- migrate:no-transaction`
 *   is refused. A statement PostgreSQL refuses inside a transaction (a continuous aggregate
 *   created `WITH DATA`) is written `WITH NO DATA` plus a refresh policy instead.
 * - `${NAME}` placeholders are replaced by `variables[NAME]` (single quotes doubled, so they are
 *   meant for inside '...' literals); an unknown placeholder is an error. The checksum covers the
 *   file as written, so changing a variable later does not re-apply or flag the file.
 * - An applied file that has since changed is an error naming the file. Never edit an applied
 *   migration; add a new one.
 * - Runs are serialized by a PostgreSQL advisory lock ({@link MIGRATION_LOCK_ID}), and each file's
 *   transaction re-checks `schema_migrations` first, so concurrent runners (several services
 *   starting at once, or a connection pooler that shares sessions) apply each file once.
 * - Tables are created in the connection's `search_path` (nothing is qualified with `public.`):
 *   `postgres://...?options=-c search_path=myschema,public` puts everything in `myschema`.
 *   TimescaleDB's functions must stay reachable, so keep the extension's schema (public) on the path.
 *
 * @module
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, migrationEnv } from './config';
import type { Pool, PoolClient } from './db';
import type { Logger } from './logger';

/** Key of the advisory lock held while migrating (`pg_advisory_lock(1836016491)`; 0x6d6f636b = "mock"). */
export const MIGRATION_LOCK_ID = 1836016491;

/** `<repo>/migrations`. */
export const DEFAULT_MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', '..', 'migrations');

const NO_TRANSACTION_MARKER = /^--\s*migrate:no-transaction\b/;
const FILE_PATTERN = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/;

export interface Migration {
  version: number;
  /** File name, e.g. `003_follower_counts.sql`. */
  name: string;
  /** The file's text as written (placeholders not yet replaced). */
  sql: string;
  /** sha256 of `sql`, hex. */
  checksum: string;
}

export interface MigrateOptions {
  pool: Pool;
  /** Directory of `NNN_name.sql` files. Default {@link DEFAULT_MIGRATIONS_DIR}. */
  directory?: string;
  /**
   * Values for `${NAME}` placeholders, over the defaults of {@link migrationEnv}
   * (`FOLLOWER_COUNTS_COMPRESS_AFTER`, `FOLLOWER_COUNTS_RETAIN_FOR`, `RANKINGS_REFRESH_EVERY`, ...):
   * a variable not given takes its default.
   */
  variables?: Record<string, string>;
  logger?: Logger;
  /** Give up waiting for another runner's lock after this long. Default 300 000 ms. */
  lockTimeoutMs?: number;
}

export interface MigrateResult {
  /** The schema the tables are in (first existing schema of the search_path). */
  schema: string;
  /** Files applied by this run, in order. */
  applied: string[];
  /** Files that were already applied (by an earlier or a concurrent run). */
  skipped: string[];
}

/** Thrown for anything wrong with the migration files or their recorded state. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/**
 * Reads and orders the migration files.
 * @throws {@link MigrationError} on a badly named or duplicate file, or one marked `-- migrate:no-transaction`.
 */
export function readMigrations(directory: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const byVersion = new Map<number, Migration>();
  for (const name of fs.readdirSync(directory)) {
    if (!name.endsWith('.sql')) continue;
    const match = FILE_PATTERN.exec(name);
    if (!match) {
      throw new MigrationError(
        `${path.join(directory, name)}: migration files must be named NNN_name.sql (e.g. 007_add_index.sql)`,
      );
    }
    const version = Number(match[1]);
    const other = byVersion.get(version);
    if (other) throw new MigrationError(`${name} and ${other.name} have the same number ${version}`);
    const sql = fs.readFileSync(path.join(directory, name), 'utf8');
    if (NO_TRANSACTION_MARKER.test(sql)) {
      throw new MigrationError(
        `${name}: "-- migrate:no-transaction" is not supported; every file runs in one transaction. ` +
          'Write the statement so that it runs inside one (a continuous aggregate: WITH NO DATA plus a refresh policy).',
      );
    }
    byVersion.set(version, { version, name, sql, checksum: crypto.createHash('sha256').update(sql).digest('hex') });
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

/**
 * Applies the pending migrations and resolves with what was done. Safe to run any number of
 * times and from several processes at once.
 *
 * @throws {@link MigrationError} for a changed applied file or a bad placeholder; the database's
 *   error (with the file name prefixed to its message) when a statement fails.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const { pool, logger, lockTimeoutMs = 300_000 } = options;
  const migrations = readMigrations(options.directory);
  const variables = { ...defaultVariables(), ...options.variables };
  const prepared = migrations.map((m) => ({ ...m, text: substitute(m, variables) })); // fail before touching the database
  const result: MigrateResult = { schema: '', applied: [], skipped: [] };

  const client = await pool.connect();
  try {
    result.schema = await targetSchema(client);
    await acquireLock(client, lockTimeoutMs, logger);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        duration_ms integer NOT NULL
      )`);
      const applied = await appliedMigrations(client);
      for (const m of migrations) verify(m, applied.get(m.version));
      const known = new Set(migrations.map((m) => m.version));
      for (const [version, row] of applied) {
        if (!known.has(version))
          logger?.warn(
            { version, name: row.name },
            `applied migration ${row.name} has no file here (database newer than this code?)`,
          );
      }

      for (const m of prepared) {
        if (applied.has(m.version)) {
          result.skipped.push(m.name);
          continue;
        }
        const started = Date.now();
        const didApply = await applyInTransaction(client, m, m.text);
        if (didApply) {
          result.applied.push(m.name);
          logger?.info({ migration: m.name, durationMs: Date.now() - started }, `applied ${m.name}`);
        } else {
          result.skipped.push(m.name);
          logger?.info({ migration: m.name }, `${m.name} was applied by a concurrent run`);
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
  logger?.info(
    { schema: result.schema, applied: result.applied, skipped: result.skipped.length },
    result.applied.length > 0 ? `applied ${result.applied.length} migration(s)` : 'database is up to date',
  );
  return result;
}

// ---------------------------------------------------------------------------------------------

function defaultVariables(): Record<string, string> {
  return { ...loadConfig(migrationEnv, {}) };
}

function substitute(m: Migration, variables: Record<string, string>): string {
  return m.sql.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
    const value = variables[name];
    if (value === undefined) {
      throw new MigrationError(
        `${m.name} uses \${${name}} but no value was given for it (known: ${Object.keys(variables).join(', ') || 'none'})`,
      );
    }
    return value.replace(/'/g, "''");
  });
}

interface AppliedRow {
  name: string;
  checksum: string;
}

async function appliedMigrations(client: PoolClient): Promise<Map<number, AppliedRow>> {
  const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  return new Map(rows.map((r) => [Number(r.version), { name: r.name, checksum: r.checksum }]));
}

function verify(m: Migration, row: AppliedRow | undefined): void {
  if (row && row.checksum !== m.checksum) {
    throw new MigrationError(
      `migration ${m.name} was changed after it was applied (recorded checksum ${row.checksum.slice(0, 12)}, ` +
        `file now ${m.checksum.slice(0, 12)}). Restore the file and put the change in a new migration.`,
    );
  }
}

/** The schema unqualified CREATEs go to; refuses when there is none, or it is a system schema. */
async function targetSchema(client: PoolClient): Promise<string> {
  const { rows } = await client.query<{ schema: string | null; path: string }>(
    "SELECT current_schema() AS schema, current_setting('search_path') AS path",
  );
  const { schema, path: searchPath } = rows[0];
  if (schema === null || schema === 'pg_catalog' || schema === 'information_schema') {
    throw new MigrationError(
      `no schema to create tables in: search_path is "${searchPath}"` +
        (schema ? ` (first schema: ${schema})` : ' (none of its schemas exists)') +
        '; create the schema, or set it in DATABASE_URL: ?options=-c%20search_path%3Dmyschema%2Cpublic',
    );
  }
  return schema;
}

async function acquireLock(client: PoolClient, timeoutMs: number, logger: Logger | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let warned = false;
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      MIGRATION_LOCK_ID,
    ]);
    if (rows[0]?.locked) return;
    if (!warned) {
      logger?.info({ lockId: MIGRATION_LOCK_ID }, 'another migration run holds the lock; waiting');
      warned = true;
    }
    if (Date.now() > deadline) {
      throw new MigrationError(
        `waited ${timeoutMs} ms for the migration lock (pg_advisory_lock(${MIGRATION_LOCK_ID})); ` +
          `find its holder with: SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = ${MIGRATION_LOCK_ID}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function applyInTransaction(client: PoolClient, m: Migration, text: string): Promise<boolean> {
  await client.query('BEGIN');
  try {
    // Re-check inside the transaction: a concurrent runner may have applied it meanwhile.
    const { rows } = await client.query<{ checksum: string }>(
      'SELECT checksum FROM schema_migrations WHERE version = $1',
      [m.version],
    );
    if (rows.length > 0) {
      verify(m, { name: m.name, checksum: rows[0].checksum });
      await client.query('ROLLBACK');
      return false;
    }
    const started = Date.now();
    await client.query(text).catch((err: Error) => Promise.reject(withFile(err, m)));
    await record(client, m, Date.now() - started);
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function record(client: PoolClient, m: Migration, durationMs: number): Promise<void> {
  await client.query('INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)', [
    m.version,
    m.name,
    m.checksum,
    durationMs,
  ]);
}

function withFile(err: Error, m: Migration): Error {
  err.message = `${m.name}: ${err.message}`;
  return err;
}
