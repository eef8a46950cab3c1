/**
 * The scheduler service: wiring only. config → logger → pool → Kafka producer → topic →
 * Scheduler → HTTP (/influencers, /metrics, /healthz, /readyz) → signal handling.
 */
// First: starts tracing before anything else is loaded (see ./telemetry).
import { telemetry } from './telemetry';
import {
  configOrExit,
  createKafka,
  createLogger,
  createPool,
  createProducer,
  createRegistry,
  ensureTopics,
  topicReplication,
  onShutdown,
  startServiceHttp,
  type Logger,
  type Pool,
} from '@mockstagram/shared';
import { registrySettings, schedulerEnv, schedulerSettings } from './config';
import { influencerRoutes } from './http';
import { InfluencerRegistry } from './registry';
import { Scheduler } from './scheduler';

async function main(): Promise<void> {
  const config = configOrExit(schedulerEnv);
  const logger = createLogger('scheduler', config.LOG_LEVEL);

  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    logger,
    applicationName: 'scheduler',
  });
  await waitForRegistryTable(pool, logger);

  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, logger });
  const producer = createProducer(kafka);
  await ensureTopics(kafka, [{ topic: config.TOPIC_FETCH_JOBS, numPartitions: config.TOPIC_PARTITIONS }], {
    ...topicReplication(config),
    logger,
  });
  await producer.connect();

  const metricsRegistry = createRegistry('scheduler');
  const scheduler = new Scheduler({
    pool,
    producer,
    topic: config.TOPIC_FETCH_JOBS,
    logger,
    registry: metricsRegistry,
    ...schedulerSettings(config),
  });
  const influencers = new InfluencerRegistry({ pool, ...registrySettings(config) });

  const http = await startServiceHttp({
    port: config.SCHEDULER_HTTP_PORT,
    portVariable: 'SCHEDULER_HTTP_PORT',
    host: config.SCHEDULER_HTTP_HOST,
    registry: metricsRegistry,
    logger,
    routes: influencerRoutes(influencers, logger, { onChange: () => scheduler.refreshStats() }),
    ready: async () => {
      if (!producer.connected) return false;
      await pool.query('SELECT 1');
      return true;
    },
  });

  onShutdown(logger, [
    { name: 'scheduler (stop ticking, finish the running batch)', run: () => scheduler.stop() },
    { name: 'http', run: () => http.close() },
    { name: 'kafka producer', run: () => producer.disconnect() },
    { name: 'database pool', run: () => pool.end() },
    { name: 'telemetry (export the last spans)', run: () => telemetry.shutdown() },
  ]);
  scheduler.start();
}

/** Waits up to 60 s for the database, then checks that `yarn migrate` has created the registry. */
async function waitForRegistryTable(pool: Pool, logger: Logger): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ table: string | null }>(`SELECT to_regclass('influencers')::text AS "table"`);
      if (rows[0]?.table) return;
      throw new Error('the database has no influencers table; run "yarn migrate" first');
    } catch (err) {
      const code = (err as { code?: string }).code;
      const unreachable = code === undefined || /^(08|57P0|ECONN|ETIMEDOUT|ENOTFOUND)/.test(code);
      if (!unreachable || (err as Error).message.includes('yarn migrate') || Date.now() > deadline) throw err;
      logger.warn({ err, attempt }, 'database not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`scheduler: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
