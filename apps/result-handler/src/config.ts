import { databaseEnv, envVar, kafkaEnv, logEnv, telemetryEnv } from '@mockstagram/shared';
import { z } from 'zod';

/**
 * Defaults of the result-handler's own settings, written once: the env schema below and
 * {@link ResultHandlerOptions} (for in-process use) both take them from here.
 */
export const RESULT_HANDLER_DEFAULTS = {
  groupId: 'mockstagram-result-handlers',
  /** Rows per database transaction, at most. */
  batchSize: 10000,
  /** A batch that has not filled up is written this long after its first message arrived. */
  flushMs: 1000,
  httpPort: 8083,
} as const;

/**
 * Every environment variable the result-handler reads, with its default.
 *
 * - `RESULT_HANDLER_GROUP_ID` (`mockstagram-result-handlers`): Kafka consumer group; run more
 *   instances with the same id to share the partitions of `TOPIC_FETCH_RESULTS`.
 * - `RESULT_HANDLER_BATCH_SIZE` (10000): rows per database transaction, at most.
 * - `RESULT_HANDLER_FLUSH_MS` (1000): a batch that has not filled up is written this long after
 *   its first message arrived (the worst-case delay added to a sample).
 * - `RESULT_HANDLER_HTTP_PORT` (8083): `/metrics`, `/healthz`, `/readyz`.
 * - `RESULT_HANDLER_HTTP_HOST` (127.0.0.1): the address it listens on (compose: 0.0.0.0, inside the container).
 * - Kafka: `KAFKA_BROKERS`, `KAFKA_CLIENT_ID`, `TOPIC_FETCH_RESULTS`, `TOPIC_DLQ`, `TOPIC_PARTITIONS`
 *   (see `kafkaEnv` in `@mockstagram/shared`); database: `DATABASE_URL`, `DATABASE_POOL_SIZE`;
 *   `LOG_LEVEL`; tracing: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
 *   `OTEL_TRACES_SAMPLER_ARG`, `DEPLOYMENT_ENVIRONMENT` (`telemetryEnv`; read first by src/telemetry.ts).
 */
export const resultHandlerEnv = z.object({
  ...kafkaEnv.shape,
  ...databaseEnv.shape,
  ...logEnv.shape,
  ...telemetryEnv.shape,
  RESULT_HANDLER_GROUP_ID: envVar.string(RESULT_HANDLER_DEFAULTS.groupId),
  RESULT_HANDLER_BATCH_SIZE: envVar.positiveInt(RESULT_HANDLER_DEFAULTS.batchSize),
  RESULT_HANDLER_FLUSH_MS: envVar.positiveInt(RESULT_HANDLER_DEFAULTS.flushMs),
  RESULT_HANDLER_HTTP_PORT: envVar.port(RESULT_HANDLER_DEFAULTS.httpPort),
  RESULT_HANDLER_HTTP_HOST: envVar.host('127.0.0.1'),
});

export type ResultHandlerConfig = z.output<typeof resultHandlerEnv>;
