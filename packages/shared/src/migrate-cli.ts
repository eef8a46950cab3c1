/**
 * `yarn migrate`: applies pending migrations to DATABASE_URL.
 *
 * Reads DATABASE_URL, LOG_LEVEL, the migration variables of `migrationEnv` and MIGRATIONS_DIR
 * (default <repo>/migrations). Exit codes: 0 done (or nothing to do), 1 a migration failed, 2 bad
 * configuration.
 */
import { z } from 'zod';
import { configOrExit, databaseEnv, logEnv, migrationEnv } from './config';
import { createPool } from './db';
import { createLogger } from './logger';
import { DEFAULT_MIGRATIONS_DIR, migrate } from './migrate';

const schema = z.object({
  ...databaseEnv.shape,
  ...logEnv.shape,
  ...migrationEnv.shape,
  MIGRATIONS_DIR: z.string().min(1).describe('a directory of NNN_name.sql files').default(DEFAULT_MIGRATIONS_DIR),
});

async function main(): Promise<void> {
  const config = configOrExit(schema);
  const logger = createLogger('migrate', config.LOG_LEVEL);
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: 1,
    logger,
    applicationName: 'mockstagram-migrate',
  });
  try {
    await migrate({
      pool,
      directory: config.MIGRATIONS_DIR,
      logger,
      variables: Object.fromEntries(
        Object.keys(migrationEnv.shape).map((name) => [name, config[name as keyof typeof migrationEnv.shape]]),
      ),
    });
  } catch (err) {
    logger.error({ err }, 'migration failed');
    process.stderr.write(`migrate: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

void main();
