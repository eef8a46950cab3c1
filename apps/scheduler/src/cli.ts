/**
 * `yarn workspace @mockstagram/scheduler register 1000000-1099999` (and activate, deactivate, show).
 * Talks to the database directly; the scheduler service need not run. See `USAGE` in ./commands.
 */
import { configOrExit, createLogger, createPool } from '@mockstagram/shared';
import { parseCommand, runCommand, USAGE, UsageError, type Command } from './commands';
import { registryEnv, registrySettings } from './config';
import { InfluencerRegistry } from './registry';

async function main(): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (cmd.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const config = configOrExit(registryEnv);
  const logger = createLogger('scheduler-cli', config.LOG_LEVEL);
  const pool = createPool({ connectionString: config.DATABASE_URL, max: 1, logger, applicationName: 'scheduler-cli' });
  try {
    const registry = new InfluencerRegistry({ pool, ...registrySettings(config) });
    return await runCommand(cmd, registry, (line) => process.stdout.write(`${line}\n`));
  } catch (err) {
    process.stderr.write(`error: ${explain(err)}\n`);
    return 1;
  } finally {
    await pool.end();
  }
}

function explain(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === '42P01') return `${e.message}: the database has no influencers table yet; run "yarn migrate" first`;
  if (e.code === 'ECONNREFUSED')
    return `cannot reach the database (${e.message}); start it ("yarn devstack up") or set DATABASE_URL`;
  return e.message ?? String(err);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${explain(err)}\n`);
    process.exit(1);
  },
);
