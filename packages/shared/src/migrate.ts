/**
 * A small migration runner for the raw SQL files in `migrations/`.
 *
 * Why not node-pg-migrate (or similar): our migrations are plain numbered SQL files, we never
 * migrate down, and a few TimescaleDB statements need special handling; ~200 lines we can read
 * beat a dependency with a JS DSL we do not use.
 *
 * Rules:
 * - Files are `NNN_name.sql` (e.g. `003_follower_counts.sql`), applied in numeric order.
 * - Each file runs in its own transaction, recorded in `schema_migrations` (version, name,
 *   sha256 checksum, applied_at, duration) in the same transaction: it applies fully or not at all.
 * - A file whose first line is `-- migrate:no-transaction` runs statement by statement outside a
 *   transaction (for statements PostgreSQL/TimescaleDB refuse inside one, e.g. a continuous
 *   aggregate created `WITH DATA`). If such a file fails half-way it is not recorded; write it
 *   so that running it again finishes the job (`IF NOT EXISTS`, `if_not_exists => true`).
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
  /** False when the file starts with `-- migrate:no-transaction`. */
  transactional: boolean;
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

/** Reads and orders the migration files. @throws {@link MigrationError} on a badly named or duplicate file. */
export function readMigrations(directory: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const byVersion = new Map<number, Migration>();
  for (const name of fs.readdirSync(directory)) {
    if (!name.endsWith('.sql')) continue;
    const match = FILE_PATTERN.exec(name);
    if (!match) {
      throw new MigrationError(`${path.join(directory, name)}: migration files must be named NNN_name.sql (e.g. 007_add_index.sql)`);
    }
    const version = Number(match[1]);
    const other = byVersion.get(version);
    if (other) throw new MigrationError(`${name} and ${other.name} have the same number ${version}`);
    const sql = fs.readFileSync(path.join(directory, name), 'utf8');
    byVersion.set(version, {
      version,
      name,
      sql,
      checksum: crypto.createHash('sha256').update(sql).digest('hex'),
      transactional: !NO_TRANSACTION_MARKER.test(sql),
    });
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
        if (!known.has(version)) logger?.warn({ version, name: row.name }, `applied migration ${row.name} has no file here (database newer than this code?)`);
      }

      for (const m of prepared) {
        if (applied.has(m.version)) {
          result.skipped.push(m.name);
          continue;
        }
        const started = Date.now();
        const didApply = m.transactional ? await applyInTransaction(client, m, m.text) : await applyWithoutTransaction(client, m, m.text);
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
  logger?.info({ schema: result.schema, applied: result.applied, skipped: result.skipped.length }, result.applied.length > 0 ? `applied ${result.applied.length} migration(s)` : 'database is up to date');
  return result;
}

/** Splits SQL text into statements at top-level semicolons (quotes, dollar quotes and comments respected). */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2; // doubled quote
          else break;
        } else i++;
      }
      i++;
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
      } else i++;
    } else if (c === ';') {
      statements.push(sql.slice(start, i));
      i++;
      start = i;
    } else i++;
  }
  statements.push(sql.slice(start));
  return statements.map((s) => s.trim()).filter((s) => splitStatementsHasCode(s));
}

// ---------------------------------------------------------------------------------------------

function splitStatementsHasCode(statement: string): boolean {
  return statement.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '').trim().length > 0;
}

function defaultVariables(): Record<string, string> {
  return { ...loadConfig(migrationEnv, {}) };
}

function substitute(m: Migration, variables: Record<string, string>): string {
  return m.sql.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
    const value = variables[name];
    if (value === undefined) {
      throw new MigrationError(`${m.name} uses \${${name}} but no value was given for it (known: ${Object.keys(variables).join(', ') || 'none'})`);
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
  const { schema, path: searchPath } = rows[0]!;
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
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK_ID]);
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
    const { rows } = await client.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE version = $1', [m.version]);
    if (rows.length > 0) {
      verify(m, { name: m.name, checksum: rows[0]!.checksum });
      await client.query('ROLLBACK');
      return false;
    }
    const started = Date.now();
    await client.query(text).catch((err: Error) => Promise.reject(withFile(err, m)));
    await record(client, m, Date.now() - started, false);
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function applyWithoutTransaction(client: PoolClient, m: Migration, text: string): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
  if (rows.length > 0) return false;
  const started = Date.now();
  for (const statement of splitStatements(text)) {
    await client.query(statement).catch((err: Error) => Promise.reject(withFile(err, m, statement)));
  }
  return record(client, m, Date.now() - started, true);
}

async function record(client: PoolClient, m: Migration, durationMs: number, ignoreConflict: boolean): Promise<boolean> {
  const { rowCount } = await client.query(
    `INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)
     ${ignoreConflict ? 'ON CONFLICT (version) DO NOTHING' : ''}`,
    [m.version, m.name, m.checksum, durationMs],
  );
  return rowCount === 1;
}

function withFile(err: Error, m: Migration, statement?: string): Error {
  err.message = `${m.name}: ${err.message}${statement ? ` (in: ${statement.slice(0, 120)})` : ''}`;
  return err;
}
