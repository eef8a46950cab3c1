/**
 * `yarn detect-suspicious`: one pass of suspicious detection now against DATABASE_URL, with the
 * settings of the scheduled job (its TimescaleDB config), then a refresh of the rank snapshot.
 * Prints the run's record as JSON. Exit codes: 0 done, 1 failed, 2 bad configuration.
 */
import { configOrExit } from '@mockstagram/shared/config';
import { createPool } from '@mockstagram/shared/db';
import { createLogger } from '@mockstagram/shared/logger';
import { detectEnv } from './config';
import { detectSuspicious, getDetectionJobSettings } from './sql/detectSuspicious';
import { refreshRankings } from './sql/refreshRankings';

async function main(): Promise<void> {
  const config = configOrExit(detectEnv);
  const logger = createLogger('detect-suspicious', config.LOG_LEVEL);
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: 1,
    logger,
    applicationName: 'detect-suspicious',
  });
  try {
    const settings = await getDetectionJobSettings(pool);
    const run = await detectSuspicious(pool, settings);
    const snapshot = await refreshRankings(pool);
    logger.info(
      { run, rankingsRefreshMs: snapshot.durationMs },
      `detection: ${run.evaluated} judged, ${run.flagged} flagged, ${run.cleared} cleared, ${run.suspicious} suspicious now (${Math.round(run.durationMs)} ms)`,
    );
    process.stdout.write(`${JSON.stringify(run)}\n`);
  } catch (err) {
    logger.error({ err }, 'detection failed');
    const hint =
      (err as { code?: string }).code === '42883' ? ' (no detect_suspicious() here: run "yarn migrate" first)' : '';
    process.stderr.write(`detect-suspicious: ${(err as Error).message}${hint}\n`);
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

void main();
