import { databaseEnv, envVar, kafkaEnv, loadConfig, logEnv, telemetryEnv } from '@mockstagram/shared';
import { z } from 'zod';

/**
 * Every environment variable the result-handler reads; its defaults are written here only.
 *
 * - `RESULT_HANDLER_GROUP_ID`: Kafka consumer group; instances with the same id share the
 *   partitions of `TOPIC_FETCH_RESULTS`.
 * - `RESULT_HANDLER_BATCH_SIZE`: rows per database transaction, at most.
 * - `RESULT_HANDLER_FLUSH_MS`: a batch that has not filled up is written this long after its
 *   first message arrived (the worst-case delay added to a sample).
 * - `RESULT_HANDLER_DB_RETRY_INITIAL_MS` / `RESULT_HANDLER_DB_RETRY_MAX_MS`: first and longest
 *   backoff between retries of a failed database write (retried without limit).
 * - `RESULT_HANDLER_STOP_TIMEOUT_MS`: on stop, how long a batch may keep retrying a failing
 *   database before it is abandoned (left uncommitted, redelivered to the next member).
 * - `RESULT_HANDLER_HTTP_PORT` / `RESULT_HANDLER_HTTP_HOST`: `/metrics`, `/healthz`, `/readyz`.
 * - Kafka, database, `LOG_LEVEL` and tracing: the shared `kafkaEnv`, `databaseEnv`, `logEnv`,
 *   `telemetryEnv` (read first by src/telemetry.ts).
 */
export const resultHandlerEnv = z.object({
  ...kafkaEnv.shape,
  ...databaseEnv.shape,
  ...logEnv.shape,
  ...telemetryEnv.shape,
  KAFKA_CLIENT_ID: envVar.string('result-handler'),
  RESULT_HANDLER_GROUP_ID: envVar.string('mockstagram-result-handlers'),
  RESULT_HANDLER_BATCH_SIZE: envVar.positiveInt(10_000),
  RESULT_HANDLER_FLUSH_MS: envVar.positiveInt(1000),
  RESULT_HANDLER_DB_RETRY_INITIAL_MS: envVar.positiveInt(200),
  RESULT_HANDLER_DB_RETRY_MAX_MS: envVar.positiveInt(5000),
  RESULT_HANDLER_STOP_TIMEOUT_MS: envVar.nonNegativeInt(10_000),
  RESULT_HANDLER_HTTP_PORT: envVar.port(8083),
  RESULT_HANDLER_HTTP_HOST: envVar.host('127.0.0.1'),
});

export type ResultHandlerConfig = z.output<typeof resultHandlerEnv>;

/** The settings of a {@link ResultHandler} that come from the configuration. */
export interface ResultHandlerSettings {
  /** Consumer group. */
  groupId: string;
  /** Messages per batch (one transaction), at most. */
  batchSize: number;
  /** A batch that did not fill up is stored this long after its first message, ms. */
  flushMs: number;
  /** First backoff before retrying a failed database write, ms. */
  retryInitialDelayMs: number;
  /** Longest backoff between database retries, ms. */
  retryMaxDelayMs: number;
  /**
   * On {@link ResultHandler.stop}, how long a batch may keep retrying a failing database before
   * it is abandoned (its messages stay uncommitted and are redelivered later), ms.
   */
  stopTimeoutMs: number;
}

/** The {@link ResultHandlerSettings} a parsed configuration gives. */
export function resultHandlerSettings(config: ResultHandlerConfig): ResultHandlerSettings {
  return {
    groupId: config.RESULT_HANDLER_GROUP_ID,
    batchSize: config.RESULT_HANDLER_BATCH_SIZE,
    flushMs: config.RESULT_HANDLER_FLUSH_MS,
    retryInitialDelayMs: config.RESULT_HANDLER_DB_RETRY_INITIAL_MS,
    retryMaxDelayMs: config.RESULT_HANDLER_DB_RETRY_MAX_MS,
    stopTimeoutMs: config.RESULT_HANDLER_STOP_TIMEOUT_MS,
  };
}

/**
 * The settings with every variable unset: the schema's defaults, for code that builds a
 * {@link ResultHandler} itself (tests, benchmarks).
 */
export const RESULT_HANDLER_DEFAULTS: Readonly<ResultHandlerSettings> = Object.freeze(
  resultHandlerSettings(loadConfig(resultHandlerEnv, {})),
);
