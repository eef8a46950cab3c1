import { collectConsumerLag, CONSUMER_LAG_HELP, Counter, Gauge, Histogram, Registry } from '@mockstagram/shared';
import type { RequestOutcomeLabel } from './retry-policy';

/** The fetcher's Prometheus metrics (registered on the registry given to {@link createFetcherMetrics}). */
export interface FetcherMetrics {
  readonly registry: Registry;
  /** `fetcher_requests_total{outcome}`: HTTP attempts by outcome (2xx, 4xx, 429, 5xx, timeout, error, ...). */
  readonly requests: Counter<'outcome'>;
  /** `fetcher_request_duration_seconds`: time of one HTTP attempt, pool queueing included. */
  readonly requestDuration: Histogram;
  /** `fetcher_retries_total`: attempts after the first (each one followed a transient failure). */
  readonly retries: Counter;
  readonly held: Counter;
  /** `fetcher_results_produced_total`: results acknowledged by Kafka. */
  readonly resultsProduced: Counter;
  /** `fetcher_dlq_messages_total{reason}`: dead letters acknowledged by Kafka. */
  readonly dlqMessages: Counter<'reason'>;
  /** `fetcher_jobs_consumed_total`: job messages taken from the topic (redeliveries count again). */
  readonly jobsConsumed: Counter;
  /** `fetcher_inflight_requests`: HTTP attempts issued and not finished (queued in the pool included). */
  readonly inflight: Gauge;
  /**
   * `kafka_consumer_lag{topic,partition}`: jobs of each assigned partition not yet committed
   * (end offset − committed offset), read when scraped; the shared stage's gauge, as the
   * result-handler's, so one dashboard panel shows both consumer groups (told apart by `service`).
   */
  readonly consumerLag: Gauge<'topic' | 'partition'>;
}

/**
 * Creates the metrics on `registry` (use the service registry from `createRegistry('fetcher')`;
 * tests pass a fresh `new Registry()` per Fetcher, since a name can be registered once per registry).
 */
export function createFetcherMetrics(registry: Registry = new Registry()): FetcherMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: 'fetcher_requests_total',
    help: 'HTTP attempts to the Mockstagram API, by outcome: status class (2xx, 4xx, 5xx), 429, timeout, or error (connection failed)',
    labelNames: ['outcome'] as const,
    registers,
  });
  // Children exist from the start, so dashboards and rate() see zeros rather than gaps.
  for (const outcome of ['2xx', '4xx', '429', '5xx', 'timeout', 'error'] satisfies RequestOutcomeLabel[])
    requests.labels(outcome);
  const dlqMessages = new Counter({
    name: 'fetcher_dlq_messages_total',
    help: 'Jobs sent to the dead-letter topic (acknowledged), by x-dlq-reason',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of [
    'not-json',
    'invalid',
    'not-found',
    'upstream-4xx',
    'malformed-response',
    'retries-exhausted',
  ]) {
    dlqMessages.labels(reason);
  }
  return {
    registry,
    requests,
    requestDuration: new Histogram({
      name: 'fetcher_request_duration_seconds',
      help: 'Duration of one HTTP attempt to the Mockstagram API (from issuing it, pool queueing included, to the whole body or the failure)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    retries: new Counter({
      name: 'fetcher_retries_total',
      help: 'HTTP attempts that were retries after a transient failure (5xx, 408, 429, timeout, connection error)',
      registers,
    }),
    held: new Counter({
      name: 'fetcher_jobs_held_total',
      help: 'Times a job ran out of attempts while the upstream was in an outage (FETCHER_OUTAGE_FAILURE_RATE) and was held for another round instead of dead-lettered',
      registers,
    }),
    resultsProduced: new Counter({
      name: 'fetcher_results_produced_total',
      help: 'Fetch results produced and acknowledged by Kafka',
      registers,
    }),
    dlqMessages,
    jobsConsumed: new Counter({
      name: 'fetcher_jobs_consumed_total',
      help: 'Fetch job messages consumed (a redelivered message counts again)',
      registers,
    }),
    inflight: new Gauge({
      name: 'fetcher_inflight_requests',
      help: 'HTTP attempts issued and not yet finished (including those waiting for a pooled connection)',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'kafka_consumer_lag',
      help: CONSUMER_LAG_HELP,
      labelNames: ['topic', 'partition'] as const,
      registers,
      collect: collectConsumerLag,
    }),
  };
}
