/**
 * Result-handler: wiring only. Configuration: src/config.ts (every variable with its default);
 * behaviour: src/result-handler.ts.
 */
// First: starts tracing before anything else is loaded (see ./telemetry).
import { telemetry } from './telemetry';
import {
  configOrExit,
  createKafka,
  createLogger,
  createPool,
  createRegistry,
  ensureTopics,
  topicReplication,
  onShutdown,
  startServiceHttp,
  type ServiceHttp,
} from '@mockstagram/shared';
import { resultHandlerEnv, resultHandlerSettings } from './config';
import { ResultHandler } from './result-handler';

const SERVICE = 'result-handler';

async function main(): Promise<void> {
  const config = configOrExit(resultHandlerEnv);
  const logger = createLogger(SERVICE, config.LOG_LEVEL);
  const registry = createRegistry(SERVICE);

  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, logger });
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    logger,
    applicationName: SERVICE,
  });
  const handler = new ResultHandler({
    kafka,
    pool,
    logger,
    registry,
    resultsTopic: config.TOPIC_FETCH_RESULTS,
    dlqTopic: config.TOPIC_DLQ,
    ...resultHandlerSettings(config),
    onFatal: () => void shutdown.shutdown('kafka consumer failed', 1),
  });

  let http: ServiceHttp | undefined;
  // Order: stop taking work and flush (commits offsets, leaves the group), then the rest.
  const shutdown = onShutdown(logger, [
    { name: 'result handler (flush, commit, disconnect)', run: () => handler.stop() },
    { name: 'http server', run: async () => http?.close() },
    { name: 'database pool', run: () => pool.end() },
    { name: 'telemetry (export the last spans)', run: () => telemetry.shutdown() },
  ]);

  http = await startServiceHttp({
    port: config.RESULT_HANDLER_HTTP_PORT,
    portVariable: 'RESULT_HANDLER_HTTP_PORT',
    host: config.RESULT_HANDLER_HTTP_HOST,
    registry,
    ready: () => handler.isReady(),
    logger,
  });

  await ensureTopics(
    kafka,
    [
      { topic: config.TOPIC_FETCH_RESULTS, numPartitions: config.TOPIC_PARTITIONS },
      { topic: config.TOPIC_DLQ, numPartitions: config.TOPIC_PARTITIONS },
    ],
    { ...topicReplication(config), logger },
  );
  await handler.start();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `result-handler failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
