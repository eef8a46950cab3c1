/**
 * The fetcher: fetch jobs in (consumer group), Mockstagram lookups, results or dead letters out.
 *
 * Delivery: a batch of jobs is handled in chunks (`FETCH_CHUNK_SIZE`). A chunk's lookups run
 * concurrently (bounded by `FETCH_CONCURRENCY` over the whole process), then its results and dead
 * letters go out in ONE `sendBatch` (idempotent producer, acks = all), and only after Kafka
 * acknowledged them is the chunk's last offset resolved and committed. While a chunk is being
 * produced and committed, the next chunk's lookups already run (one chunk delivering at a time, so
 * commits stay in offset order). A crash before that
 * redelivers the chunk's jobs, which are fetched again (at least once; the result-handler's
 * unique key absorbs duplicates). Instances with the same group id share the partitions.
 *
 * @module
 */
import {
  contextFromHeaders,
  kafkaProcessAttributes,
  createKafka,
  createProducer,
  decodeFetchJob,
  dlqMessage,
  ensureTopics,
  topicReplication,
  injectTraceHeaders,
  produceMany,
  serializeFetchResult,
  SPAN_ATTRIBUTES as A,
  TRACE_HEADERS,
  type FetchJob,
  type Logger,
} from '@mockstagram/shared';
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { ApiClient, apiClientOptionsFrom, FetchAbortedError, type FetchOutcome } from './api-client';
import type { FetcherConfig } from './config';
import { createFetcherMetrics, type FetcherMetrics } from './metrics';
import { Semaphore } from './semaphore';

export interface FetcherOptions {
  /** Parsed configuration (`loadFetcherConfig()`); every default lives in its schema. */
  config: FetcherConfig;
  logger: Logger;
  /** Metrics to update. Default: a fresh set on a private registry. */
  metrics?: FetcherMetrics;
  /** Kafka client. Default: `createKafka` with `KAFKA_BROKERS` and client id `KAFKA_CLIENT_ID ?? 'fetcher'`. */
  kafka?: Kafka;
  /** API client. Default: one built from the config (and closed by `stop()`). */
  api?: ApiClient;
  /**
   * Called when the consumer crashed and kafkajs will not restart it (the process should exit
   * non-zero). Default: log only.
   */
  onFatal?: (err: Error) => void;
}

/** The fetcher's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('fetcher');

/** What one job message turned into. */
type Outcome = { kind: 'result'; message: Message } | { kind: 'dlq'; reason: string; message: Message };

/** An outcome with the job's `fetch-job process` span (ended once the outcome is produced and committed) and its context. */
type Output = Outcome & { span: Span; ctx: Context };

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
  private readonly kafka: Kafka;
  private readonly ownsApi: boolean;
  private readonly slots: Semaphore;
  /** Aborted at the end of the shutdown grace: in-flight lookups stop, their jobs stay uncommitted. */
  private readonly abort = new AbortController();
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private joined = false;
  private stopping = false;
  private starting: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: FetcherOptions) {
    const { config, logger } = options;
    this.config = config;
    this.logger = logger;
    this.metrics = options.metrics ?? createFetcherMetrics();
    this.kafka = options.kafka ?? createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID ?? 'fetcher', logger });
    this.ownsApi = options.api === undefined;
    this.api = options.api ?? new ApiClient(apiClientOptionsFrom(config, this.metrics));
    this.slots = new Semaphore(config.FETCH_CONCURRENCY);
  }

  /** True once the consumer has joined its group and the producer is connected (for /readyz). */
  get ready(): boolean {
    return this.joined && !this.stopping;
  }

  /**
   * Makes sure the topics exist (`TOPIC_PARTITIONS`), connects the producer and the consumer,
   * subscribes (a new group starts at the earliest offset) and starts consuming. Resolves once
   * consuming has started; `ready` turns true when the group is joined.
   */
  start(): Promise<void> {
    if (this.starting) throw new Error('Fetcher already started');
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { config, logger } = this;
    const partitions = config.TOPIC_PARTITIONS;
    await ensureTopics(
      this.kafka,
      [config.TOPIC_FETCH_JOBS, config.TOPIC_FETCH_RESULTS, config.TOPIC_DLQ].map((topic) => ({ topic, numPartitions: partitions })),
      { ...topicReplication(config), logger },
    );

    const producer = createProducer(this.kafka);
    this.producer = producer;
    await producer.connect();
    if (this.stopping) throw new Error('Fetcher stopped while starting');

    const consumer = this.kafka.consumer({
      groupId: config.FETCHER_GROUP_ID,
      allowAutoTopicCreation: false,
      sessionTimeout: config.FETCHER_SESSION_TIMEOUT_MS,
      heartbeatInterval: Math.min(3_000, Math.floor(config.FETCHER_SESSION_TIMEOUT_MS / 3)),
      rebalanceTimeout: 60_000,
      // The broker holds an empty fetch this long; stop() waits for it, so keep it short
      // (an idle fetcher then polls once a second, which costs nothing).
      maxWaitTimeInMs: 1000,
      // Small fetches bound the memory a backlog takes (all 12 partitions' batches are in memory
      // at once); 64 KiB per partition is ~400 jobs, as many as a chunk wants anyway.
      maxBytesPerPartition: config.FETCHER_KAFKA_MAX_BYTES_PER_PARTITION,
      maxBytes: config.FETCHER_KAFKA_MAX_BYTES,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      logger.info({ groupId: e.payload.groupId, memberId: e.payload.memberId, assignment: e.payload.memberAssignment }, 'joined consumer group');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.joined = false;
      const err = e.payload.error;
      if (e.payload.restart) {
        logger.warn({ err }, 'kafka consumer crashed; kafkajs restarts it (uncommitted jobs are redelivered)');
        return;
      }
      logger.error({ err }, 'kafka consumer crashed and will not restart');
      this.options.onFatal?.(err);
    });
    consumer.on(consumer.events.STOP, () => {
      this.joined = false;
    });

    await consumer.connect();
    await consumer.subscribe({ topics: [config.TOPIC_FETCH_JOBS], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: config.FETCH_PARTITIONS_CONCURRENTLY,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    logger.info(
      {
        topic: config.TOPIC_FETCH_JOBS,
        groupId: config.FETCHER_GROUP_ID,
        api: config.MOCK_API_URL,
        concurrency: config.FETCH_CONCURRENCY,
        connections: config.FETCH_CONNECTIONS,
      },
      'fetcher consuming',
    );
  }

  /**
   * Stops taking work, lets the open chunks finish for up to `FETCHER_SHUTDOWN_GRACE_MS`, then
   * aborts their remaining lookups (what was fetched by then is still produced and committed up
   * to the first unfinished job; the rest is redelivered later), leaves the group and closes the
   * producer and, if it built it, the API client. Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined); // a start in progress gets as far as it can first
    const grace = setTimeout(() => {
      this.logger.warn({ graceMs: this.config.FETCHER_SHUTDOWN_GRACE_MS }, 'shutdown grace over; aborting in-flight lookups');
      this.abort.abort(new Error('fetcher stopping'));
    }, this.config.FETCHER_SHUTDOWN_GRACE_MS);
    try {
      // Waits for the running eachBatch calls to return, then leaves the group.
      await this.consumer?.disconnect();
    } finally {
      clearTimeout(grace);
      this.abort.abort(new Error('fetcher stopped'));
      this.joined = false;
    }
    await this.producer?.disconnect();
    if (this.ownsApi) await this.api.close();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * A batch in chunks, two stages overlapping: while chunk k is produced and committed, the
   * lookups of chunk k + 1 run (at most one chunk delivering at a time, so offsets are committed
   * in order and each only after everything before it was acknowledged).
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const size = this.config.FETCH_CHUNK_SIZE;
    if (batch.messages.length > 0) {
      const next = Number(batch.messages[batch.messages.length - 1]!.offset) + 1;
      this.metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - next));
    }
    let delivering: Promise<boolean> | undefined;
    for (let i = 0; i < batch.messages.length; i += size) {
      // Rebalance (or stop): leave the rest uncommitted for whoever owns the partition next.
      if (this.stopping || !payload.isRunning() || payload.isStale()) break;
      const messages = batch.messages.slice(i, i + size);
      const settled = await this.fetchChunk(payload, messages);
      if (delivering !== undefined && !(await delivering)) {
        abandon(settled, 'not produced: an earlier chunk was interrupted; it will be redelivered');
        return;
      }
      delivering = this.deliverChunk(payload, messages, settled);
      // Awaited on the next turn (or below); until then a failure must not count as unhandled.
      delivering.catch(() => undefined);
    }
    if (delivering !== undefined) await delivering;
  }

  /** Runs a chunk's lookups; every job's output (or why it has none) in message order. */
  private async fetchChunk(payload: EachBatchPayload, messages: KafkaMessage[]): Promise<PromiseSettledResult<Output>[]> {
    const { batch } = payload;
    this.metrics.jobsConsumed.inc(messages.length);
    // Keeps the group session alive while lookups wait out backoffs (kafkajs sends a heartbeat
    // only when heartbeatInterval has passed, so calling it often costs nothing).
    const heartbeats = setInterval(() => {
      payload.heartbeat().catch((err: unknown) => this.logger.debug({ err }, 'heartbeat during a chunk failed'));
    }, 1000);
    try {
      return await Promise.allSettled(messages.map((m) => this.handle(batch.topic, batch.partition, m)));
    } finally {
      clearInterval(heartbeats);
    }
  }

  /**
   * Produces a fetched chunk's outputs and commits its offset. Returns false when lookups were
   * aborted (shutdown): then only the jobs before the first unfinished one were produced and
   * committed.
   */
  private async deliverChunk(payload: EachBatchPayload, messages: KafkaMessage[], settled: PromiseSettledResult<Output>[]): Promise<boolean> {
    const { batch } = payload;
    const started = Date.now();
    let done = 0;
    while (done < settled.length && settled[done]!.status === 'fulfilled') done += 1;
    // Jobs fetched after an unfinished one are neither produced nor committed (redelivered later).
    abandon(settled.slice(done + 1), 'not produced: an earlier job of its chunk was interrupted; it will be redelivered');
    if (done > 0) {
      const outputs = settled.slice(0, done).map((s) => (s as PromiseFulfilledResult<Output>).value);
      const last = messages[done - 1]!.offset;
      try {
        await this.produce(outputs);
        payload.resolveOffset(last);
        await payload.commitOffsetsIfNecessary({
          topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }],
        });
      } catch (err) {
        for (const o of outputs) endSpan(o.span, err);
        throw err;
      }
      for (const o of outputs) o.span.end();
      await payload.heartbeat();
      if (this.logger.isLevelEnabled('debug')) {
        const dlq = outputs.filter((o) => o.kind === 'dlq').length;
        this.logger.debug(
          { partition: batch.partition, firstOffset: messages[0]!.offset, lastOffset: last, results: done - dlq, dlq, ms: Date.now() - started },
          'chunk produced and committed',
        );
      }
    }
    if (done === settled.length) return true;
    const failure = (settled[done] as PromiseRejectedResult).reason;
    if (failure instanceof FetchAbortedError || this.abort.signal.aborted) {
      this.logger.info(
        { partition: batch.partition, committedUpTo: done > 0 ? messages[done - 1]!.offset : null, uncommitted: settled.length - done },
        'chunk interrupted by shutdown; the uncommitted jobs will be redelivered',
      );
      return false;
    }
    throw failure; // a bug: kafkajs retries the batch from the last commit
  }

  /**
   * One job message → its output, inside the job's `fetch-job process` span (CONSUMER, child of
   * the scheduler's publish span found in the message headers): the HTTP call to the API is its
   * child, and log lines written meanwhile carry its trace id. The span stays open until the
   * output is produced and its offset committed (runChunk ends it). Rejects only with
   * FetchAbortedError (shutdown).
   */
  private handle(topic: string, partition: number, message: KafkaMessage): Promise<Output> {
    const parent = contextFromHeaders(message.headers);
    const span = tracer.startSpan('fetch-job process', { kind: SpanKind.CONSUMER }, parent);
    if (span.isRecording()) {
      span.setAttributes(kafkaProcessAttributes(topic, partition, message.offset, this.config.FETCHER_GROUP_ID));
    }
    const ctx = trace.setSpan(parent, span);
    // The context goes to the HTTP client explicitly. It is also made active (for the trace ids
    // in log lines) only when sampled: AsyncLocalStorage, once used, slows every promise of the
    // process, and an unsampled job should cost next to nothing.
    const run = () => this.process(topic, partition, message, span, ctx);
    return (span.isRecording() ? context.with(ctx, run) : run()).then(
      (outcome): Output => {
        if (outcome.kind === 'dlq') span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${outcome.reason}` });
        return { ...outcome, span, ctx };
      },
      (err: unknown) => {
        endSpan(span, err);
        throw err;
      },
    );
  }

  private async process(topic: string, partition: number, message: KafkaMessage, span: Span, ctx: Context): Promise<Outcome> {
    const source = { topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers };
    const decoded = decodeFetchJob(message.value);
    if (!decoded.ok) {
      return { kind: 'dlq', reason: decoded.reason, message: dlqMessage({ source, stage: 'fetcher', reason: decoded.reason, error: decoded.error, attempts: 1 }) };
    }
    const job = decoded.value;
    if (span.isRecording()) span.setAttributes({ [A.influencerId]: job.influencerId, [A.jobId]: job.jobId });

    let release: () => void;
    try {
      release = await this.slots.acquire(this.abort.signal);
    } catch {
      throw new FetchAbortedError('fetch aborted while waiting for a slot');
    }
    let outcome: FetchOutcome;
    try {
      outcome = await this.api.fetchInfluencer(job.influencerId, this.abort.signal, ctx);
    } finally {
      release();
    }

    if (outcome.ok) {
      // Every field was validated on its way in (the job's jobId, the response against
      // FetchResultSchema's field schemas, observedAt a plain ISO date), so no second check.
      const result = { jobId: job.jobId, ...outcome.observation, scheduledFor: job.scheduledFor };
      return { kind: 'result', message: { key: String(job.influencerId), value: serializeFetchResult(result), headers: traceHeaders(message.headers) } };
    }
    return this.dead(source, job, outcome.reason, outcome.error, outcome.attempts);
  }

  private dead(source: Parameters<typeof dlqMessage>[0]['source'], job: FetchJob, reason: string, error: string, attempts: number): Outcome {
    this.logger.warn({ influencer_id: job.influencerId, job_id: job.jobId, reason, attempts, error }, `job dead-lettered: ${reason}`);
    return { kind: 'dlq', reason, message: dlqMessage({ source, stage: 'fetcher', reason, error, attempts }) };
  }

  /**
   * Produces a chunk's outputs in one request. Each message gets a PRODUCER span, child of its
   * job's process span (`fetch-result publish`, or `dead-letter publish` for the DLQ), until
   * Kafka's ack; its context replaces the trace headers the message carried, so the
   * result-handler continues the job's trace below it.
   */
  private async produce(outputs: Output[]): Promise<void> {
    const results: Message[] = [];
    const dead: Message[] = [];
    const spans = new Array<Span>(outputs.length);
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i]!;
      const topic = o.kind === 'result' ? this.config.TOPIC_FETCH_RESULTS : this.config.TOPIC_DLQ;
      const span = tracer.startSpan(o.kind === 'result' ? 'fetch-result publish' : 'dead-letter publish', { kind: SpanKind.PRODUCER }, o.ctx);
      if (span.isRecording()) {
        span.setAttributes({
          [A.messagingSystem]: 'kafka',
          [A.messagingDestination]: topic,
          [A.messagingOperationType]: 'send',
          [A.messagingOperationName]: 'send',
          [A.messagingKafkaKey]: o.message.key?.toString() ?? '',
        });
      }
      injectTraceHeaders(trace.setSpan(o.ctx, span), (o.message.headers ??= {}));
      spans[i] = span;
      (o.kind === 'result' ? results : dead).push(o.message);
    }
    try {
      await produceMany(this.producer!, [
        { topic: this.config.TOPIC_FETCH_RESULTS, messages: results },
        { topic: this.config.TOPIC_DLQ, messages: dead },
      ]);
    } catch (err) {
      for (const span of spans) endSpan(span, err);
      throw err;
    }
    for (const span of spans) span.end();
    this.metrics.resultsProduced.inc(results.length);
    for (const o of outputs) if (o.kind === 'dlq') this.metrics.dlqMessages.labels(o.reason).inc();
  }
}

/** Ends the spans of outputs that will not be produced (saying why). */
function abandon(settled: PromiseSettledResult<Output>[], why: string): void {
  for (const s of settled) if (s.status === 'fulfilled') endSpan(s.value.span, why);
}

/** Ends `span` as failed: `problem` is an error or a message saying why. */
function endSpan(span: Span, problem: unknown): void {
  if (span.isRecording()) {
    if (problem instanceof Error) span.recordException(problem);
    span.setStatus({ code: SpanStatusCode.ERROR, message: problem instanceof Error ? problem.message : String(problem) });
  }
  span.end();
}

/**
 * The job's trace headers, copied to its result. With tracing on, `produce` then overwrites them
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
