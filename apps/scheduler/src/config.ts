/**
 * Every environment variable the scheduler reads, with its default (the one place they are
 * written; the scheduler's own come from SCHEDULER_DEFAULTS).
 *
 * - `SCHEDULER_HTTP_PORT` (8081): /influencers API, /metrics, /healthz, /readyz.
 * - `SCHEDULER_HTTP_HOST` (127.0.0.1): the address it listens on (compose: 0.0.0.0, inside the container).
 * - `SCHEDULER_TICK_CRON` (`*\/5 * * * * *`, every 5 s): when ticks run (node-cron, seconds first).
 * - `SCHEDULER_BATCH_SIZE` (5000): influencers claimed + produced + committed per transaction.
 * - `SCHEDULER_MAX_JOBS_PER_TICK` (`auto`): cap on jobs per tick; `auto` = max(batch size,
 *   2 × tick seconds × Σ 1/interval over active influencers), twice the steady-state rate.
 * - `SCHEDULER_PRODUCE_TIMEOUT_MS` (10000): a batch not acknowledged by Kafka by then is rolled back.
 * - `SCHEDULER_STATS_REFRESH_SECONDS` (30): how often the active count / job rate are re-read.
 * - `SCHEDULER_DEFAULT_INTERVAL_SECONDS` (60): fetch interval of influencers registered without one.
 * - Kafka (`KAFKA_BROKERS`, `KAFKA_CLIENT_ID`, `TOPIC_FETCH_JOBS`, `TOPIC_PARTITIONS`, ...),
 *   database (`DATABASE_URL`, `DATABASE_POOL_SIZE`) and `LOG_LEVEL`: see @mockstagram/shared.
 * - Tracing (the service, not the CLI): `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
 *   `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `DEPLOYMENT_ENVIRONMENT` (`telemetryEnv` in
 *   @mockstagram/shared; read first by src/telemetry.ts).
 *
 * @module
 */
import { databaseEnv, envVar, kafkaEnv, logEnv, telemetryEnv } from '@mockstagram/shared';
import { z } from 'zod';
import { cronProblem, SCHEDULER_DEFAULTS } from './scheduler';
import { MAX_INTERVAL_SECONDS } from './selection';

/** What the registration CLI reads. */
export const registryEnv = z.object({
  ...databaseEnv.shape,
  ...logEnv.shape,
  SCHEDULER_DEFAULT_INTERVAL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .max(MAX_INTERVAL_SECONDS)
    .describe(`a whole number of seconds from 1 to ${MAX_INTERVAL_SECONDS}`)
    .default(60),
});

/** What the scheduler service reads. */
export const schedulerEnv = z.object({
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  ...telemetryEnv.shape,
  SCHEDULER_HTTP_PORT: envVar.port(8081),
  SCHEDULER_HTTP_HOST: envVar.host('127.0.0.1'),
  SCHEDULER_TICK_CRON: z
    .string()
    .refine((s) => cronProblem(s) === undefined)
    .describe('a node-cron expression such as "*/5 * * * * *" (seconds first; every 5 s)')
    .default(SCHEDULER_DEFAULTS.tickCron),
  SCHEDULER_BATCH_SIZE: envVar.positiveInt(SCHEDULER_DEFAULTS.batchSize),
  SCHEDULER_MAX_JOBS_PER_TICK: z
    .union([z.literal('auto'), z.coerce.number().int().positive()])
    .describe('a positive integer or "auto"')
    .default(SCHEDULER_DEFAULTS.maxJobsPerTick),
  SCHEDULER_PRODUCE_TIMEOUT_MS: envVar.positiveInt(SCHEDULER_DEFAULTS.produceTimeoutMs),
  SCHEDULER_STATS_REFRESH_SECONDS: envVar.positiveInt(SCHEDULER_DEFAULTS.statsRefreshMs / 1000),
});

export type SchedulerConfig = z.output<typeof schedulerEnv>;
export type RegistryConfig = z.output<typeof registryEnv>;
