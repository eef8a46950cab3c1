/**
 * The fetcher: fetch jobs in (consumer group), Mockstagram lookups, results or dead letters out.
 *
 * It is "job → result or dead letter" on the shared consume–process–commit {@link Stage}
 * (message mode): each job is looked up as it arrives (at most `FETCHER_CONCURRENCY` at once over
 * the whole process, and `FETCHER_CONCURRENCY` + 4 × `FETCHER_CHUNK_SIZE` jobs taken and not yet
 * committed); its result or dead letter is produced (idempotent producer, acks = all, up to
 * `FETCHER_CHUNK_SIZE` messages per send) once every earlier job of its partition is looked up,
 * and a partition's offset is committed only past jobs whose outputs Kafka acknowledged. A crash
 * before that redelivers the jobs, which are fetched again (at least once; the result-handler's
 * unique key absorbs duplicates). Instances with the same group id share the partitions.
 *
 * @module
 */
import {
  contextFromHeaders,
  kafkaProcessAttributes,
  createKafka,
  decodeFetchJob,
  dlqMessage,
  endSpan,
  ensureTopics,
  topicReplication,
  injectTraceHeaders,
  serializeFetchResult,
  Stage,
  SPAN_ATTRIBUTES as A,
  TRACE_HEADERS,
  type ConsumedMessage,
  type FetchJob,
  type KafkaClient,
  type Logger,
  type Message,
  type MessageHeaders as IHeaders,
  type StageResult,
} from '@mockstagram/shared';
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { ApiClient, apiClientOptionsFrom, type FetchOutcome } from './api-client';
import type { FetcherConfig } from './config';
import { createFetcherMetrics, type FetcherMetrics } from './metrics';

export interface FetcherOptions {
  /** Parsed configuration (`loadFetcherConfig()`); every default lives in its schema. */
  config: FetcherConfig;
  logger: Logger;
  /** Metrics to update. Default: a fresh set on a private registry. */
  metrics?: FetcherMetrics;
  /** Kafka settings. Default: `createKafka` with `KAFKA_BROKERS` and client id `KAFKA_CLIENT_ID`. */
  kafka?: KafkaClient;
  /** API client. Default: one built from the config (and closed by `stop()`). */
  api?: ApiClient;
  /** Called when consuming failed for good (the process should exit non-zero). Default: log only. */
  onFatal?: (err: Error) => void;
}

/** The fetcher's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('fetcher');

/** What one job message turned into. */
type Outcome = { kind: 'result'; message: Message } | { kind: 'dlq'; reason: string; message: Message };

/**
 * Consumes `TOPIC_FETCH_JOBS` as group `FETCHER_GROUP_ID` and answers every job with a
 * `FetchResult` on `TOPIC_FETCH_RESULTS` or a dead letter on `TOPIC_DLQ`.
 *
 * @example
 * const fetcher = new Fetcher({ config: loadFetcherConfig(), logger });
 * await fetcher.start();
 * // ...
 * await fetcher.stop();
 */
export class Fetcher {
  readonly config: FetcherConfig;
  readonly metrics: FetcherMetrics;
  readonly api: ApiClient;

  private readonly logger: Logger;
  private readonly kafka: KafkaClient;
  private readonly ownsApi: boolean;
  private readonly stage: Stage;
  private starting: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;

  constructor(options: FetcherOptions) {
    const { config, logger } = options;
    this.config = config;
    this.logger = logger;
    this.metrics = options.metrics ?? createFetcherMetrics();
    this.kafka =
      options.kafka ?? createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, logger });
    this.ownsApi = options.api === undefined;
    this.api = options.api ?? new ApiClient(apiClientOptionsFrom(config, this.metrics));
    this.stage = new Stage({
      name: 'fetcher',
      kafka: this.kafka,
      groupId: config.FETCHER_GROUP_ID,
      topics: [config.TOPIC_FETCH_JOBS],
      logger,
      consumerLag: this.metrics.consumerLag,
      onFatal: options.onFatal,
      settings: {
        sessionTimeoutMs: config.FETCHER_SESSION_TIMEOUT_MS,
        heartbeatIntervalMs: Math.min(3_000, Math.floor(config.FETCHER_SESSION_TIMEOUT_MS / 3)),
        maxBytesPerPartition: config.FETCHER_KAFKA_MAX_BYTES_PER_PARTITION,
        maxBytes: config.FETCHER_KAFKA_MAX_BYTES,
        concurrency: config.FETCHER_CONCURRENCY,
        // Backpressure: the lookups under way plus four sends' worth waiting to be produced and committed.
        maxInFlight: config.FETCHER_CONCURRENCY + 4 * config.FETCHER_CHUNK_SIZE,
        produceBatchSize: config.FETCHER_CHUNK_SIZE,
        stopGraceMs: config.FETCHER_SHUTDOWN_GRACE_MS,
      },
      work: { mode: 'message', process: (message, signal) => this.handle(message, signal) },
    });
  }

  /** True once the consumer has joined its group (for /readyz). */
  isReady(): Promise<boolean> {
    return Promise.resolve(this.stage.ready);
  }

  /**
   * Makes sure the topics exist (`TOPIC_PARTITIONS`), joins the group (a new group starts at the
   * earliest offset) and starts consuming.
   */
  start(): Promise<void> {
    if (this.starting) throw new Error('Fetcher already started');
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { config, logger } = this;
    await ensureTopics(
      this.kafka,
      [config.TOPIC_FETCH_JOBS, config.TOPIC_FETCH_RESULTS, config.TOPIC_DLQ].map((topic) => ({
        topic,
        numPartitions: config.TOPIC_PARTITIONS,
      })),
      { ...topicReplication(config), logger },
    );
    if (this.stopped) throw new Error('Fetcher stopped while starting');
    await this.stage.start();
    logger.info(
      {
        topic: config.TOPIC_FETCH_JOBS,
        groupId: config.FETCHER_GROUP_ID,
        api: config.MOCK_API_URL,
        concurrency: config.FETCHER_CONCURRENCY,
        connections: config.FETCHER_CONNECTIONS,
      },
      'fetcher consuming',
    );
  }

  /**
   * Stops taking work, lets the jobs under way finish for up to `FETCHER_SHUTDOWN_GRACE_MS`, then
   * aborts their remaining lookups (what was fetched by then is still produced and committed up
   * to the first unfinished job of each partition; the rest is redelivered later), leaves the
   * group and closes the producer and, if it built it, the API client. Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    await this.starting?.catch(() => undefined); // a start in progress gets as far as it can first
    const { abandoned } = await this.stage.stop();
    if (abandoned > 0)
      this.logger.info({ uncommitted: abandoned }, 'fetcher stopped; the uncommitted jobs will be redelivered');
    if (this.ownsApi) await this.api.close();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * One job message → its output, inside the job's `fetch-job process` span (CONSUMER, child of
   * the scheduler's publish span found in the message headers): the HTTP call to the API is its
   * child, and log lines written meanwhile carry its trace id. The output gets a PRODUCER span
   * (`fetch-result publish`, or `dead-letter publish`), child of the process span; its context
   * replaces the trace headers the message carried, so the result-handler continues the job's
   * trace below it. Both spans end once the output is acknowledged and the offset committed.
   * Rejects only when the stage aborts the lookup (shutdown).
   */
  private async handle(message: ConsumedMessage, signal: AbortSignal): Promise<StageResult> {
    this.metrics.jobsConsumed.inc();
    const parent = contextFromHeaders(message.headers);
    const span = tracer.startSpan('fetch-job process', { kind: SpanKind.CONSUMER }, parent);
    if (span.isRecording()) {
      span.setAttributes(
        kafkaProcessAttributes(message.topic, message.partition, message.offset, this.config.FETCHER_GROUP_ID),
      );
    }
    const ctx = trace.setSpan(parent, span);
    // The context goes to the HTTP client explicitly. It is also made active (for the trace ids
    // in log lines) only when sampled: AsyncLocalStorage, once used, slows every promise of the
    // process, and an unsampled job should cost next to nothing.
    const run = () => this.process(message, span, ctx, signal);
    let outcome: Outcome;
    try {
      outcome = await (span.isRecording() ? context.with(ctx, run) : run());
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    if (outcome.kind === 'dlq')
      span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${outcome.reason}` });
    const topic = outcome.kind === 'result' ? this.config.TOPIC_FETCH_RESULTS : this.config.TOPIC_DLQ;
    const publish = tracer.startSpan(
      outcome.kind === 'result' ? 'fetch-result publish' : 'dead-letter publish',
      { kind: SpanKind.PRODUCER },
      ctx,
    );
    if (publish.isRecording()) {
      publish.setAttributes({
        [A.messagingSystem]: 'kafka',
        [A.messagingDestination]: topic,
        [A.messagingOperationType]: 'send',
        [A.messagingOperationName]: 'send',
        [A.messagingKafkaKey]: outcome.message.key?.toString() ?? '',
      });
    }
    injectTraceHeaders(trace.setSpan(ctx, publish), (outcome.message.headers ??= {}));
    return {
      produce: [{ topic, messages: [outcome.message] }],
      acknowledged: () => {
        if (outcome.kind === 'result') this.metrics.resultsProduced.inc();
        else this.metrics.dlqMessages.labels(outcome.reason).inc();
      },
      settled: (problem) => {
        if (problem === undefined) {
          publish.end();
          span.end();
          return;
        }
        endSpan(publish, problem);
        endSpan(span, problem);
      },
    };
  }

  private async process(message: ConsumedMessage, span: Span, ctx: Context, signal: AbortSignal): Promise<Outcome> {
    const decoded = decodeFetchJob(message.value);
    if (!decoded.ok) {
      return {
        kind: 'dlq',
        reason: decoded.reason,
        message: dlqMessage({
          source: sourceOf(message),
          stage: 'fetcher',
          reason: decoded.reason,
          error: decoded.error,
          attempts: 1,
        }),
      };
    }
    const job = decoded.value;
    if (span.isRecording()) span.setAttributes({ [A.influencerId]: job.influencerId, [A.jobId]: job.jobId });

    const outcome: FetchOutcome = await this.api.fetchInfluencer(job.influencerId, signal, ctx);

    if (outcome.ok) {
      // Every field was validated on its way in (the job's jobId, the response against
      // FetchResultSchema's field schemas, observedAt a plain ISO date), so no second check.
      const result = { jobId: job.jobId, ...outcome.observation, scheduledFor: job.scheduledFor };
      return {
        kind: 'result',
        message: {
          key: String(job.influencerId),
          value: serializeFetchResult(result),
          headers: traceHeaders(message.headers),
        },
      };
    }
    return this.dead(sourceOf(message), job, outcome.reason, outcome.error, outcome.attempts);
  }

  private dead(
    source: Parameters<typeof dlqMessage>[0]['source'],
    job: FetchJob,
    reason: string,
    error: string,
    attempts: number,
  ): Outcome {
    this.logger.warn(
      { influencer_id: job.influencerId, job_id: job.jobId, reason, attempts, error },
      `job dead-lettered: ${reason}`,
    );
    return { kind: 'dlq', reason, message: dlqMessage({ source, stage: 'fetcher', reason, error, attempts }) };
  }
}

/** Where a dead letter came from (its `x-dlq-source-*` headers and original payload). */
function sourceOf(message: ConsumedMessage): Parameters<typeof dlqMessage>[0]['source'] {
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: message.headers,
  };
}

/**
 * The job's trace headers, copied to its result. With tracing on, `handle` then overwrites them
 * with its own span's context; without a started SDK they carry the job's context on unchanged.
 */
function traceHeaders(headers: IHeaders | undefined): IHeaders | undefined {
  if (!headers) return undefined;
  let out: IHeaders | undefined;
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (value !== undefined) (out ??= {})[name] = value;
  }
  return out;
}
