/**
 * Every environment variable the scheduler reads; its defaults are written here only (the
 * classes take the parsed values: {@link schedulerSettings}, {@link registrySettings}).
 *
 * - `SCHEDULER_HTTP_PORT` / `SCHEDULER_HTTP_HOST`: /influencers API, /metrics, /healthz, /readyz.
 * - `SCHEDULER_TICK_CRON`: when ticks run (node-cron, seconds first).
 * - `SCHEDULER_BATCH_SIZE`: influencers claimed + produced + committed per transaction.
 * - `SCHEDULER_MAX_JOBS_PER_TICK`: cap on jobs per tick; `auto` = max(batch size,
 *   2 × tick seconds × Σ 1/interval over active influencers), twice the steady-state rate.
 * - `SCHEDULER_PRODUCE_TIMEOUT_MS`: a batch not acknowledged by Kafka by then is rolled back.
 * - `SCHEDULER_STATS_REFRESH_SECONDS`: how often the active count / job rate are re-read.
 * - `SCHEDULER_DEFAULT_INTERVAL_SECONDS`: fetch interval of influencers registered without one.
 * - Kafka (`KAFKA_BROKERS`, `KAFKA_CLIENT_ID`, `TOPIC_FETCH_JOBS`, `TOPIC_PARTITIONS`, ...),
 *   database (`DATABASE_URL`, `DATABASE_POOL_SIZE`) and `LOG_LEVEL`: see @mockstagram/shared.
 * - Tracing (the service, not the CLI): `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
 *   `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `DEPLOYMENT_ENVIRONMENT` (`telemetryEnv` in
 *   @mockstagram/shared; read first by src/telemetry.ts).
 *
 * @module
 */
import { databaseEnv, envVar, kafkaEnv, loadConfig, logEnv, telemetryEnv } from '@mockstagram/shared';
import { z } from 'zod';
import { cronProblem, type SchedulerSettings } from './scheduler';
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
  KAFKA_CLIENT_ID: envVar.string('scheduler'),
  SCHEDULER_HTTP_PORT: envVar.port(8081),
  SCHEDULER_HTTP_HOST: envVar.host('127.0.0.1'),
  SCHEDULER_TICK_CRON: z
    .string()
    .refine((s) => cronProblem(s) === undefined)
    .describe('a node-cron expression such as "*/5 * * * * *" (seconds first; every 5 s)')
    .default('*/5 * * * * *'),
  SCHEDULER_BATCH_SIZE: envVar.positiveInt(5000),
  SCHEDULER_MAX_JOBS_PER_TICK: z
    .union([z.literal('auto'), z.coerce.number().int().positive()])
    .describe('a positive integer or "auto"')
    .default('auto'),
  SCHEDULER_PRODUCE_TIMEOUT_MS: envVar.positiveInt(10_000),
  SCHEDULER_STATS_REFRESH_SECONDS: envVar.positiveInt(30),
});

export type SchedulerConfig = z.output<typeof schedulerEnv>;
export type RegistryConfig = z.output<typeof registryEnv>;

/** The {@link SchedulerSettings} a parsed configuration gives. */
export function schedulerSettings(config: SchedulerConfig): SchedulerSettings {
  return {
    tickCron: config.SCHEDULER_TICK_CRON,
    batchSize: config.SCHEDULER_BATCH_SIZE,
    maxJobsPerTick: config.SCHEDULER_MAX_JOBS_PER_TICK,
    produceTimeoutMs: config.SCHEDULER_PRODUCE_TIMEOUT_MS,
    statsRefreshMs: config.SCHEDULER_STATS_REFRESH_SECONDS * 1000,
  };
}

/** What an `InfluencerRegistry` takes from the configuration. */
export function registrySettings(config: RegistryConfig): { defaultIntervalSeconds: number } {
  return { defaultIntervalSeconds: config.SCHEDULER_DEFAULT_INTERVAL_SECONDS };
}

/**
 * The settings with every variable unset: the schema's defaults, for code that builds a
 * `Scheduler` or an `InfluencerRegistry` itself (tests, benchmarks).
 */
export const SCHEDULER_DEFAULTS: Readonly<SchedulerSettings> = Object.freeze(
  schedulerSettings(loadConfig(schedulerEnv, {})),
);
export const REGISTRY_DEFAULTS: Readonly<{ defaultIntervalSeconds: number }> = Object.freeze(
  registrySettings(loadConfig(registryEnv, {})),
);
