import { envVar, kafkaEnv, loadConfig, logEnv, telemetryEnv, type Env } from '@mockstagram/shared';
import { z } from 'zod';

/**
 * Every environment variable the fetcher reads, with its default (the only place the defaults
 * are written; `Fetcher` and `ApiClient` take the parsed result).
 *
 * Kafka (from the shared `kafkaEnv`): `KAFKA_BROKERS` (127.0.0.1:9092), `KAFKA_CLIENT_ID`
 * (fetcher), `TOPIC_FETCH_JOBS`, `TOPIC_FETCH_RESULTS`, `TOPIC_DLQ`, `TOPIC_PARTITIONS` (12).
 * Logging: `LOG_LEVEL` (info). Tracing (from the shared `telemetryEnv`, read first by
 * src/telemetry.ts): `OTEL_EXPORTER_OTLP_ENDPOINT` (unset: not exported), `OTEL_SERVICE_NAME`
 * (fetcher), `OTEL_TRACES_SAMPLER` (parentbased_traceidratio), `OTEL_TRACES_SAMPLER_ARG` (1),
 * `DEPLOYMENT_ENVIRONMENT` (development).
 *
 * - `FETCHER_GROUP_ID` (mockstagram-fetchers): consumer group; instances with the same id share
 *   the job topic's partitions.
 * - `FETCHER_HTTP_PORT` (8082): /metrics, /healthz, /readyz.
 * - `FETCHER_HTTP_HOST` (127.0.0.1): the address it listens on (compose: 0.0.0.0, inside the container).
 * - `MOCK_API_URL` (http://127.0.0.1:3001): base URL of the Mockstagram API.
 * - `FETCH_CONCURRENCY` (256): jobs in process at once, over all partitions. A job holds its slot
 *   while it waits for a connection, is on the wire, or waits out a retry backoff.
 * - `FETCH_CONNECTIONS` (64): keep-alive connections to the API (undici Pool, no pipelining), so
 *   at most this many requests on the wire; the others queue in the pool.
 * - `FETCH_TIMEOUT_MS` (2000): per attempt, from the request being written on a connection to the
 *   response headers, and again between body chunks (undici's `headersTimeout` / `bodyTimeout`;
 *   time spent waiting for a free connection is not counted); then the request is aborted and
 *   counts as a transient failure.
 * - `FETCH_MAX_ATTEMPTS` (5): attempts per job (first try included) for transient failures
 *   (5xx, 408, 429, timeout, connection error); then the job goes to the DLQ as `retries-exhausted`.
 * - `FETCH_BACKOFF_BASE_MS` (100) / `FETCH_BACKOFF_MAX_MS` (5000): exponential backoff with full
 *   jitter: before retry n the wait is uniform in [0, min(max, base * 2^(n-1))).
 * - `FETCH_RETRY_AFTER_MAX_MS` (30000): a `Retry-After` is always honoured, but one asking for a
 *   longer wait than this ends the retries at once (`retries-exhausted`) instead of holding the
 *   partition.
 * - `FETCH_OUTAGE_FAILURE_RATE` (0.2) / `FETCH_OUTAGE_MIN_REQUESTS` (20): a job out of attempts
 *   while at least that many of the fetcher's attempts were made since its first, and more than
 *   that share of them failed transiently, is held (the upstream is down, not the job) and tried
 *   again after `FETCH_BACKOFF_MAX_MS` instead of dead-lettered (1: never hold).
 * - `FETCH_CHUNK_SIZE` (500): results and dead letters produced in one send, at most (the jobs
 *   looked up meanwhile wait for the next send). Jobs taken from Kafka and not yet committed are
 *   bounded by `FETCH_CONCURRENCY` + 4 × `FETCH_CHUNK_SIZE`: above that fetching pauses.
 * - `FETCHER_KAFKA_MAX_BYTES_PER_PARTITION` (65536) / `FETCHER_KAFKA_MAX_BYTES` (524288): how much
 *   one fetch from the jobs topic may return per partition / in all. Small fetches bound the
 *   memory a backlog takes.
 * - `FETCHER_SESSION_TIMEOUT_MS` (30000): Kafka group session timeout; an instance that died
 *   without leaving the group keeps its partitions this long before the others take them over.
 * - `FETCHER_SHUTDOWN_GRACE_MS` (5000): on stop, how long the open chunks may finish before their
 *   in-flight requests are aborted (aborted jobs are neither produced nor committed).
 */
export const fetcherEnv = z.object({
  ...kafkaEnv.shape,
  ...logEnv.shape,
  ...telemetryEnv.shape,
  FETCHER_GROUP_ID: envVar.string('mockstagram-fetchers'),
  FETCHER_HTTP_PORT: envVar.port(8082),
  FETCHER_HTTP_HOST: envVar.host('127.0.0.1'),
  MOCK_API_URL: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/)
    .describe('an http:// base URL without a path, e.g. "http://127.0.0.1:3001"')
    .default('http://127.0.0.1:3001'),
  FETCH_CONCURRENCY: envVar.positiveInt(256),
  FETCH_CONNECTIONS: envVar.positiveInt(64),
  FETCH_TIMEOUT_MS: envVar.positiveInt(2000),
  FETCH_MAX_ATTEMPTS: envVar.positiveInt(5),
  FETCH_BACKOFF_BASE_MS: envVar.nonNegativeInt(100),
  FETCH_BACKOFF_MAX_MS: envVar.nonNegativeInt(5000),
  FETCH_RETRY_AFTER_MAX_MS: envVar.nonNegativeInt(30_000),
  FETCH_OUTAGE_FAILURE_RATE: envVar.ratio(0.2),
  FETCH_OUTAGE_MIN_REQUESTS: envVar.positiveInt(20),
  FETCH_CHUNK_SIZE: envVar.positiveInt(500),
  FETCHER_KAFKA_MAX_BYTES_PER_PARTITION: envVar.positiveInt(65_536),
  FETCHER_KAFKA_MAX_BYTES: envVar.positiveInt(524_288),
  FETCHER_SESSION_TIMEOUT_MS: envVar.positiveInt(30_000),
  FETCHER_SHUTDOWN_GRACE_MS: envVar.nonNegativeInt(5000),
});

export type FetcherConfig = z.output<typeof fetcherEnv>;

/**
 * Parses `env` (default `process.env`) into a {@link FetcherConfig}; unset variables take their
 * defaults. Tests pass a plain object: `loadFetcherConfig({ MOCK_API_URL: base, TOPIC_FETCH_JOBS: t })`.
 *
 * @throws ConfigError naming every bad variable.
 */
export function loadFetcherConfig(env: Env = process.env): FetcherConfig {
  return loadConfig(fetcherEnv, env);
}
