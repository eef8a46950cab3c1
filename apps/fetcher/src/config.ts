import { envVar, kafkaEnv, loadConfig, logEnv, telemetryEnv, type Env, type Renamed } from '@mockstagram/shared';
import { z } from 'zod';

/**
 * Every environment variable the fetcher reads; its defaults are written here only (`Fetcher`
 * and `ApiClient` take the parsed result; .env.example lists them all). Besides Kafka, logging
 * and tracing (the shared `kafkaEnv`, `logEnv`, `telemetryEnv`):
 *
 * - `FETCHER_GROUP_ID`: consumer group; instances with the same id share the job topic's partitions.
 * - `FETCHER_HTTP_PORT` / `FETCHER_HTTP_HOST`: /metrics, /healthz, /readyz.
 * - `MOCK_API_URL`: base URL of the Mockstagram API.
 * - `FETCHER_CONCURRENCY`: jobs in process at once, over all partitions. A job holds its slot
 *   while it waits for a connection, is on the wire, or waits out a retry backoff.
 * - `FETCHER_CONNECTIONS`: keep-alive connections to the API (no pipelining): at most this many
 *   requests on the wire, the others queue.
 * - `FETCHER_TIMEOUT_MS`: per attempt, until the response headers and again between body chunks
 *   (waiting for a free connection not counted); then the attempt fails transiently.
 * - `FETCHER_MAX_ATTEMPTS`: attempts per job, first included, for transient failures (5xx, 408,
 *   429, timeout, connection error); then the job is dead-lettered as `retries-exhausted`.
 * - `FETCHER_BACKOFF_BASE_MS` / `FETCHER_BACKOFF_MAX_MS`: full-jitter backoff: before retry n the
 *   wait is uniform in [0, min(max, base × 2^(n-1))).
 * - `FETCHER_RETRY_AFTER_MAX_MS`: a `Retry-After` longer than this ends the retries at once.
 * - `FETCHER_OUTAGE_FAILURE_RATE` / `FETCHER_OUTAGE_MIN_REQUESTS`: a job out of attempts while
 *   more than that share of at least that many of the fetcher's attempts since its first failed
 *   transiently is held (the upstream is down, not the job) and tried again after
 *   `FETCHER_BACKOFF_MAX_MS` (rate 1: never hold).
 * - `FETCHER_CHUNK_SIZE`: results and dead letters produced in one send, at most. Jobs taken and
 *   not yet committed are bounded by `FETCHER_CONCURRENCY` + 4 × `FETCHER_CHUNK_SIZE`.
 * - `FETCHER_KAFKA_MAX_BYTES_PER_PARTITION` / `FETCHER_KAFKA_MAX_BYTES`: bytes one fetch from the
 *   jobs topic may return per partition / in all (small fetches bound a backlog's memory).
 * - `FETCHER_SESSION_TIMEOUT_MS`: Kafka group session timeout (how long a dead instance keeps
 *   its partitions).
 * - `FETCHER_SHUTDOWN_GRACE_MS`: on stop, how long open chunks may finish before their requests
 *   are aborted (aborted jobs are neither produced nor committed).
 */
export const fetcherEnv = z.object({
  ...kafkaEnv.shape,
  ...logEnv.shape,
  ...telemetryEnv.shape,
  KAFKA_CLIENT_ID: envVar.string('fetcher'),
  FETCHER_GROUP_ID: envVar.string('mockstagram-fetchers'),
  FETCHER_HTTP_PORT: envVar.port(8082),
  FETCHER_HTTP_HOST: envVar.host('127.0.0.1'),
  MOCK_API_URL: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/)
    .describe('an http:// base URL without a path, e.g. "http://127.0.0.1:3001"')
    .default('http://127.0.0.1:3001'),
  FETCHER_CONCURRENCY: envVar.positiveInt(256),
  FETCHER_CONNECTIONS: envVar.positiveInt(64),
  FETCHER_TIMEOUT_MS: envVar.positiveInt(2000),
  FETCHER_MAX_ATTEMPTS: envVar.positiveInt(5),
  FETCHER_BACKOFF_BASE_MS: envVar.nonNegativeInt(100),
  FETCHER_BACKOFF_MAX_MS: envVar.nonNegativeInt(5000),
  FETCHER_RETRY_AFTER_MAX_MS: envVar.nonNegativeInt(30_000),
  FETCHER_OUTAGE_FAILURE_RATE: envVar.ratio(0.2),
  FETCHER_OUTAGE_MIN_REQUESTS: envVar.positiveInt(20),
  FETCHER_CHUNK_SIZE: envVar.positiveInt(500),
  FETCHER_KAFKA_MAX_BYTES_PER_PARTITION: envVar.positiveInt(65_536),
  FETCHER_KAFKA_MAX_BYTES: envVar.positiveInt(524_288),
  FETCHER_SESSION_TIMEOUT_MS: envVar.positiveInt(30_000),
  FETCHER_SHUTDOWN_GRACE_MS: envVar.nonNegativeInt(5000),
});

export type FetcherConfig = z.output<typeof fetcherEnv>;

/** The fetcher's variables named `FETCH_*` before they took the app's prefix; read for this release only. */
export const FETCHER_RENAMED: Renamed = Object.fromEntries(
  [
    'CONCURRENCY',
    'CONNECTIONS',
    'TIMEOUT_MS',
    'MAX_ATTEMPTS',
    'BACKOFF_BASE_MS',
    'BACKOFF_MAX_MS',
    'RETRY_AFTER_MAX_MS',
    'OUTAGE_FAILURE_RATE',
    'OUTAGE_MIN_REQUESTS',
    'CHUNK_SIZE',
  ].map((name) => [`FETCH_${name}`, `FETCHER_${name}`]),
);

/**
 * Parses `env` (default `process.env`) into a {@link FetcherConfig}; unset variables take their
 * defaults, the old `FETCH_*` names are read with a deprecation line on stderr. Tests pass a
 * plain object: `loadFetcherConfig({ MOCK_API_URL: base, TOPIC_FETCH_JOBS: t })`.
 *
 * @throws ConfigError naming every bad variable.
 */
export function loadFetcherConfig(env: Env = process.env): FetcherConfig {
  return loadConfig(fetcherEnv, env, { renamed: FETCHER_RENAMED });
}
