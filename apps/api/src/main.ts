/**
 * The api service: wiring only. config → logger → pool → HTTP (/api/v1, the page at /,
 * /metrics, /healthz, /readyz) → signal handling. It reads TimescaleDB only (no Kafka).
 */
// First: starts tracing before anything else is loaded (see ./telemetry).
import { telemetry } from './telemetry';
import { configOrExit } from '@mockstagram/shared/config';
import { createPool } from '@mockstagram/shared/db';
import { createLogger } from '@mockstagram/shared/logger';
import { createRegistry } from '@mockstagram/shared/metrics';
import { onShutdown } from '@mockstagram/shared/shutdown';
import { apiEnv } from './config';
import { startApiServer } from './server';

async function main(): Promise<void> {
  const config = configOrExit(apiEnv);
  const logger = createLogger('api', config.LOG_LEVEL);
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    logger,
    applicationName: 'api',
  });
  const http = await startApiServer({
    db: pool,
    port: config.API_HTTP_PORT,
    host: config.API_HTTP_HOST,
    registry: createRegistry('api'),
    logger,
  });
  onShutdown(logger, [
    { name: 'http', run: () => http.close() },
    { name: 'database pool', run: () => pool.end() },
    { name: 'telemetry (export the last spans)', run: () => telemetry.shutdown() },
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(`api: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
