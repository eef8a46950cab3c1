/**
 * The result-handler: consumes `mockstagram.fetch-results`, writes rows to TimescaleDB in
 * batches, dead-letters what can never be stored.
 *
 * Flow of one message:
 *
 * 1. `eachBatch` (one call per partition batch, all partitions concurrently) decodes its
 *    messages, in slices of 1,000 with the event loop let through in between (so a large fetch
 *    does not hold up the running flush's database I/O), and adds them to the shared
 *    {@link Batcher}. It moves kafkajs' *fetch position* past them at once (`resolveOffset`;
 *    nothing is committed by that, autoCommit is off), so the next fetch and its decoding overlap
 *    with the database write. Backpressure: when more than `maxPendingMessages` are waiting,
 *    `eachBatch` waits until the backlog is back down to that, and so holds the next fetch.
 * 2. A flush (one at a time, ≤ `batchSize` messages, at latest `flushMs` after its first one):
 *    a. one database transaction (`storeResults`): ONE statement that inserts into
 *       `follower_counts` (ON CONFLICT DO NOTHING) and upserts `influencer_latest`;
 *    then, in `finish`, while the NEXT batch's transaction already runs (finishes run one at a
 *    time, in batch order, and a flush waits for the previous batch's finish before it returns,
 *    so at most one transaction and one finish are under way):
 *    b. the batch's dead letters (undecodable messages, rows the database refused) are produced
 *       to the DLQ and acknowledged by all in-sync replicas;
 *    c. the offsets of every partition in the batch are committed (one request): for each
 *       partition, one past its last message in this batch.
 *
 * Why this keeps "no loss, no duplicate rows": flushes and finishes run in order and a
 * partition's messages reach them in offset order, so when a finish commits offset N of a
 * partition, every earlier message of it is stored (a) or dead-lettered (b), durably. A crash
 * before (c) redelivers the messages; the rows are absorbed by the unique key (`rows_duplicate` counts them) and
 * `influencer_latest` never moves backwards; a dead letter may then be produced twice (DLQ
 * delivery is at-least-once; each copy names its source partition and offset). Producing the
 * dead letters before the transaction would be as safe, but the rows the database refuses are
 * only known after trying, so one produce after the commit covers both kinds.
 *
 * Steps (a) and (b) never give up: when the database (or the broker) fails, the step is
 * retried with exponential backoff and jitter, without limit, the topic is paused, and the group
 * membership kept alive with heartbeats; nothing is dead-lettered for it. A flush therefore only
 * fails when {@link ResultHandler.stop} abandons it; every later flush and finish then fails
 * too, so no later offset is committed past the abandoned messages.
 *
 * Tracing: each message gets a `fetch-result process` span (CONSUMER), child of the fetcher's
 * publish span found in its headers, so it belongs to the job's trace. It starts when the
 * message is decoded and ends when its flush is done (stored or dead-lettered, offsets
 * committed), so the job's trace shows how long the sample waited for its batch and the write;
 * a dead letter's span has status ERROR. The transaction of a flush is a `follower_counts insert`
 * span in a trace of its own, linked to the messages it stored (see `store`).
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  contextFromHeaders,
  kafkaProcessAttributes,
  decodeFetchResult,
  dlqMessage,
  isSampled,
  isTransientDbError,
  produceMany,
  createProducer,
  createAdmin,
  kafkajsClient,
  SPAN_ATTRIBUTES as A,
  type FetchResult,
  type KafkaClient,
  type KafkaProducer,
  type Logger,
  type Message,
  type Pool,
  type Registry,
} from '@mockstagram/shared';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link, type Span } from '@opentelemetry/api';
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { Batcher } from './batcher';
import { RESULT_HANDLER_DEFAULTS } from './config';
import { createResultHandlerMetrics, type ResultHandlerMetrics } from './metrics';
import { resultParameters, type ResultParameters } from './sql/writeResults';
import { storeResults, type StoreOutcome } from './store';

export interface ResultHandlerOptions {
  /** Kafka settings (`createKafka` from `@mockstagram/shared`). */
  kafka: KafkaClient;
  /** Database pool (`createPool`); not closed by {@link ResultHandler.stop}. */
  pool: Pool;
  logger: Logger;
  /** The metrics are registered here (once per registry: give each handler its own). */
  registry: Registry;
  /** `TOPIC_FETCH_RESULTS`. */
  resultsTopic: string;
  /** `TOPIC_DLQ`. */
  dlqTopic: string;
  /** Consumer group. Default `mockstagram-result-handlers`. */
  groupId?: string;
  /** Messages per flush (one transaction), at most. Default 10000. */
  batchSize?: number;
  /** A batch that did not fill up is flushed this long after its first message. Default 1000 ms. */
  flushMs?: number;
  /**
   * Messages consumed but not yet stored above which `eachBatch` waits (and so fetching stops)
   * until the backlog is down to this. Default 2 × `batchSize`; at least `batchSize`.
   */
  maxPendingMessages?: number;
  /**
   * Partition batches handled at once. Default: the results topic's partition count, so that
   * one fetch's batches of every partition can join the same flush.
   */
  partitionsConsumedConcurrently?: number;
  /** Fetch size per partition, bytes. Default 1 MiB (kafkajs' default). */
  maxBytesPerPartition?: number;
  /** Fetch size per broker request, bytes. Default 10 MiB (kafkajs' default). */
  maxBytes?: number;
  /** Group session timeout. Default 30 000 ms. */
  sessionTimeoutMs?: number;
  /** Group heartbeat interval, also while a flush waits for the database. Default 3000 ms. */
  heartbeatIntervalMs?: number;
  /** A new group starts at the earliest offset (true) or the latest (false). Default true. */
  fromBeginning?: boolean;
  /** First backoff before retrying a failed database write. Default 200 ms. */
  retryInitialDelayMs?: number;
  /** Longest backoff between database retries. Default 5000 ms. */
  retryMaxDelayMs?: number;
  /**
   * On {@link ResultHandler.stop}, how long a flush may keep retrying a failing database before
   * it is abandoned (its messages stay uncommitted and are redelivered later). Default 10 000 ms.
   */
  stopTimeoutMs?: number;
  /** Called when the consumer crashed and kafkajs will not restart it (main.ts exits 1). */
  onCrash?: (err: Error) => void;
  /**
   * Test hook: awaited after a batch's transaction committed and before its dead letters and
   * offsets are written. A hook that never resolves simulates a crash between the two.
   */
  afterStore?: () => Promise<void>;
}

/** One consumed message, decoded or not, on its way through a flush. */
interface Consumed {
  topic: string;
  partition: number;
  message: KafkaMessage;
  /** Its `fetch-result process` span; ends when its flush is done (see {@link ResultHandler}). */
  span: Span;
  /** The decoded result; undefined when the message goes to the DLQ. */
  result: FetchResult | undefined;
  reason?: string;
  error?: string;
}

class FlushAbortedError extends Error {
  override readonly name = 'FlushAbortedError';
}

/** The broker's limit is per partition batch (1 MiB); dead letters are produced in slices. */
const DLQ_MESSAGES_PER_REQUEST = 1000;

/**
 * Most links one `follower_counts insert` span carries (links to the sampled messages it stored,
 * in consumption order); `mockstagram.links_dropped` counts those beyond. Equal to the span
 * limit `startTelemetry` sets (MAX_LINKS_PER_SPAN in @mockstagram/shared/src/telemetry).
 */
export const MAX_INSERT_LINKS = 1000;

/** The result-handler's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('result-handler');

const noop = (): void => undefined;

/** Messages decoded between two yields to the event loop (see eachBatch). */
const DECODE_SLICE = 1000;

/** Resolves after pending I/O callbacks have run. */
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ResultHandler {
  readonly metrics: ResultHandlerMetrics;

  private readonly options: ResultHandlerOptions;
  private readonly logger: Logger;
  private readonly consumer: Consumer;
  private readonly producer: KafkaProducer;
  private readonly batcher: Batcher<Consumed>;
  private readonly retryPolicy: RetryPolicy;
  private readonly abort = new AbortController();
  private readonly heartbeatIntervalMs: number;
  private readonly maxPendingMessages: number;

  /** From the latest eachBatch call: they act on the consumer group, not on one partition. */
  private heartbeat: (() => Promise<void>) | undefined;
  private commit: EachBatchPayload['commitOffsetsIfNecessary'] | undefined;
  /** Partitions of the current assignment, as `topic|partition`. */
  private assigned = new Set<string>();
  /** Stored (and dead-lettered) but not yet committed: `topic|partition` → next offset. */
  private readonly uncommitted = new Map<string, { topic: string; partition: number; offset: string }>();

  private joined = false;
  private started = false;
  private stopping: Promise<void> | undefined;
  private pausedSince: number | undefined;
  /**
   * The {@link withRetry} calls whose latest attempt failed. Consumption is paused while any is
   * and resumed when the last of them succeeds: a batch's finish may succeed while the next
   * batch's store is still failing.
   */
  private readonly failing = new Set<symbol>();
  /** What the retry policy is retrying, for its log lines. */
  private step = 'database write';
  /** Messages whose flush was abandoned at stop (database still failing). */
  private abandoned = 0;
  /** The `follower_counts insert` span of the running flush, for retry events. */
  private storeSpan: Span | undefined;
  /** Statement parameters built for sealed batches (see the Batcher's onSeal). */
  private readonly prepared = new WeakMap<Consumed[], PreparedWrite>();
  /** The latest stored batch's {@link finish} (dead letters, offset commit); they run in order. */
  private finishing: Promise<void> = Promise.resolve();

  constructor(options: ResultHandlerOptions) {
    this.options = options;
    this.logger = options.logger;
    this.metrics = createResultHandlerMetrics(options.registry);
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3000;
    const batchSize = options.batchSize ?? RESULT_HANDLER_DEFAULTS.batchSize;
    const flushMs = options.flushMs ?? RESULT_HANDLER_DEFAULTS.flushMs;
    this.maxPendingMessages = Math.max(batchSize, options.maxPendingMessages ?? 2 * batchSize);

    this.consumer = kafkajsClient(options.kafka).consumer({
      groupId: options.groupId ?? RESULT_HANDLER_DEFAULTS.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.heartbeatIntervalMs,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
      maxBytes: options.maxBytes ?? 10 * 1024 * 1024,
      // A fetch on an idle topic returns after this long; it bounds how long stop() waits for it.
      maxWaitTimeInMs: Math.min(1000, flushMs),
      allowAutoTopicCreation: false,
    });
    this.producer = createProducer(options.kafka);
    this.batcher = new Batcher<Consumed>({
      maxSize: batchSize,
      maxWaitMs: flushMs,
      flush: (items) => this.flush(items),
      // A full batch usually waits for the running flush: build its statement parameters now,
      // while the database writes the batch before it, rather than when it is its turn.
      onSeal: (items) => this.prepared.set(items, prepareWrite(items)),
    });

    // Backoff: cockatiel's ExponentialBackoff with its default "decorrelated jitter" generator
    // (AWS' recommendation): delays grow ~×2 from initialDelay up to maxDelay, randomized so that
    // several handlers do not hit a recovering database in lockstep. cockatiel is maintained,
    // has no dependencies, ships CommonJS (3.x; 4.x is ESM-only and needs Node 22), takes an
    // AbortSignal (used by stop()) and reports each retry (metrics, pause). The fetcher uses the
    // same version.
    this.retryPolicy = retry(
      handleWhen((err) => !(err instanceof FlushAbortedError)),
      {
        maxAttempts: Number.POSITIVE_INFINITY,
        backoff: new ExponentialBackoff({
          initialDelay: options.retryInitialDelayMs ?? 200,
          maxDelay: options.retryMaxDelayMs ?? 5000,
        }),
      },
    );
    this.retryPolicy.onRetry((event) => {
      this.metrics.dbRetries.inc();
      const err = 'error' in event ? event.error : undefined;
      this.storeSpan?.addEvent('retry', {
        'mockstagram.step': this.step,
        'mockstagram.attempt': event.attempt,
        'mockstagram.retry_in_ms': Math.round(event.delay),
        'exception.message': err instanceof Error ? err.message : String(err),
      });
      this.pause(err);
      const fields = { err, step: this.step, attempt: event.attempt, retryInMs: Math.round(event.delay) };
      if (isTransientDbError(err)) this.logger.warn(fields, `${this.step} failed (unavailable); retrying`);
      else this.logger.error(fields, `${this.step} failed; retrying${hint(err)}`);
    });

    const { GROUP_JOIN, CRASH, STOP, DISCONNECT } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, ({ payload }) => {
      this.joined = true;
      this.assigned = new Set(
        Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}|${p}`)),
      );
      for (const key of this.uncommitted.keys()) if (!this.assigned.has(key)) this.uncommitted.delete(key);
      this.logger.info({ groupId: payload.groupId, assignment: payload.memberAssignment }, 'joined consumer group');
    });
    this.consumer.on(CRASH, ({ payload }) => {
      this.joined = false;
      if (payload.restart) {
        this.logger.warn({ err: payload.error }, 'kafka consumer crashed; kafkajs restarts it');
        return;
      }
      this.logger.error({ err: payload.error }, 'kafka consumer crashed and will not restart');
      options.onCrash?.(payload.error);
    });
    this.consumer.on(STOP, () => {
      this.joined = false;
    });
    this.consumer.on(DISCONNECT, () => {
      this.joined = false;
    });
  }

  /**
   * Connects, joins the group and starts consuming. Resolves once the group is joined (kafkajs'
   * `run` joins before it returns).
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('ResultHandler already started');
    this.started = true;
    const { resultsTopic } = this.options;
    const concurrency = this.options.partitionsConsumedConcurrently ?? (await this.partitionCount(resultsTopic));
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [resultsTopic], fromBeginning: this.options.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    this.logger.info(
      {
        topic: resultsTopic,
        dlqTopic: this.options.dlqTopic,
        groupId: this.options.groupId ?? RESULT_HANDLER_DEFAULTS.groupId,
        batchSize: this.options.batchSize ?? RESULT_HANDLER_DEFAULTS.batchSize,
        flushMs: this.options.flushMs ?? RESULT_HANDLER_DEFAULTS.flushMs,
        maxPendingMessages: this.maxPendingMessages,
        partitionsConsumedConcurrently: concurrency,
      },
      'result-handler consuming',
    );
  }

  /**
   * Stops taking work, flushes what was consumed right away (without waiting for `flushMs`),
   * commits its offsets, then leaves the group and disconnects. If the database keeps failing
   * for `stopTimeoutMs`, the pending messages are abandoned (left uncommitted: redelivered to
   * the next member) and this rejects saying so. The pool is not closed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Ready: member of the group, not stopping, and the database answers `SELECT 1` within 2 s. */
  async isReady(): Promise<boolean> {
    if (!this.joined || this.stopping) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 2000);
    });
    try {
      const query = this.options.pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** True while consumption is paused because the database (or the DLQ) is failing. */
  get paused(): boolean {
    return this.pausedSince !== undefined;
  }

  /** Messages consumed and not yet stored. */
  get pendingMessages(): number {
    return this.batcher.size;
  }

  // -------------------------------------------------------------------------------------------

  private async doStop(): Promise<void> {
    this.logger.info({ pending: this.batcher.size }, 'result-handler stopping: flushing what was consumed');
    const giveUp = setTimeout(() => this.abort.abort(), this.options.stopTimeoutMs ?? 10_000);
    try {
      // No new fetches; a fetch already under way still arrives, and its eachBatch calls wait
      // for their (immediate) flush because we are stopping.
      try {
        this.consumer.pause([{ topic: this.options.resultsTopic }]);
      } catch {
        // not running (start() failed or was never called): nothing to pause
      }
      // Flush and commit while still a member of the group (a commit after leaving is refused).
      await this.batcher.drain();
      await this.finishing.catch(noop);
      // Waits for running eachBatch calls, then leaves the group.
      await this.consumer.disconnect();
      await this.batcher.drain();
      await this.finishing.catch(noop);
    } finally {
      clearTimeout(giveUp);
      this.batcher.close();
      await this.producer.disconnect();
    }
    if (this.abandoned > 0) {
      throw new Error(
        `${this.abandoned} messages were not stored (the database kept failing during shutdown); their offsets are not committed, so they will be redelivered`,
      );
    }
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    this.heartbeat = payload.heartbeat;
    this.commit = payload.commitOffsetsIfNecessary;
    const { topic, partition, messages } = batch;
    const n = messages.length;
    if (n === 0) return;

    const groupId = this.options.groupId ?? RESULT_HANDLER_DEFAULTS.groupId;
    const added: Promise<void>[] = [];
    for (let from = 0; from < n; from += DECODE_SLICE) {
      // Decoding a whole fetch at once (tens of thousands of messages, ~2 µs each) would keep the
      // event loop from the running flush's database round trips for that long, and the database
      // would wait: decode in slices and let I/O in between.
      if (from > 0) await yieldToIo();
      const to = Math.min(n, from + DECODE_SLICE);
      const items = new Array<Consumed>(to - from);
      for (let i = from; i < to; i++) {
        const message = messages[i]!;
        const span = tracer.startSpan('fetch-result process', { kind: SpanKind.CONSUMER }, contextFromHeaders(message.headers));
        const decoded = decodeFetchResult(message.value);
        if (span.isRecording()) {
          span.setAttributes(kafkaProcessAttributes(topic, partition, message.offset, groupId));
          if (decoded.ok) span.setAttributes({ [A.influencerId]: decoded.value.influencerId, [A.jobId]: decoded.value.jobId });
        }
        items[i - from] = decoded.ok
          ? { topic, partition, message, span, result: decoded.value }
          : { topic, partition, message, span, result: undefined, reason: decoded.reason, error: decoded.error };
      }
      this.metrics.messagesConsumed.inc(items.length);
      // A partition's slices reach the batcher in offset order (one eachBatch per partition at a time).
      added.push(this.batcher.add(items));
    }
    const flushed = added.length === 1 ? added[0]! : Promise.all(added).then(noop);

    // Only kafkajs' fetch position; the committed offset moves in flush(), after the write.
    const last = messages[n - 1]!.offset;
    payload.resolveOffset(last);
    this.metrics.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));

    if (this.stopping) {
      await flushed;
      return;
    }
    flushed.catch(noop); // a flush only fails when stop() abandons it, and stop() reports that
    // Backpressure: wait for room rather than for our own messages, which may sit in a batch
    // that only fills with the next fetch.
    if (this.batcher.size > this.maxPendingMessages) await this.batcher.whenSizeAtMost(this.maxPendingMessages);
  }

  /**
   * One batch: store, then (in {@link finish}) dead letters → offset commit. Called by the
   * batcher, one at a time, in order. It resolves once the batch is stored AND the previous
   * batch's dead letters and offsets are written, so the next batch's transaction runs while
   * this one's offsets are committed (at most one transaction in flight; finishes in order).
   */
  private async flush(items: Consumed[]): Promise<void> {
    const started = performance.now();
    const { rows, rowItems, parameters } = this.prepared.get(items) ?? prepareWrite(items);
    this.prepared.delete(items);
    const dead = items.filter((item) => !item.result);
    let outcome: StoreOutcome;
    try {
      outcome = rows.length === 0 ? { inserted: 0, rejected: [] } : await this.store(rows, rowItems, items.length, parameters);
    } catch (err) {
      this.abandon(items, err);
      // No later batch may commit offsets past these messages.
      this.finishing = Promise.reject(err);
      this.finishing.catch(noop);
      throw err;
    }
    this.metrics.rowsWritten.inc(outcome.inserted);
    this.metrics.rowsDuplicate.inc(rows.length - outcome.rejected.length - outcome.inserted);

    const previous = this.finishing;
    const finished = previous.then(
      () => this.finish(items, rowItems, dead, outcome, started),
      (err: unknown) => {
        // An earlier batch was abandoned: this one is not committed either.
        this.abandon(items, err);
        throw err;
      },
    );
    finished.catch(noop); // observed by the next flush and by stop()
    this.finishing = finished;
    await previous;
  }

  /** After the batch is stored: its dead letters, then the offsets, then spans and metrics. */
  private async finish(items: Consumed[], rowItems: Consumed[], dead: Consumed[], outcome: StoreOutcome, started: number): Promise<void> {
    try {
      if (this.options.afterStore) await this.options.afterStore();

      const letters: Message[] = [];
      const reasons: string[] = [];
      for (const item of dead) {
        letters.push(this.deadLetter(item, item.reason!, item.error!));
        reasons.push(item.reason!);
        item.span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${item.reason}` });
      }
      for (const { index, error } of outcome.rejected) {
        const item = rowItems[index]!;
        const code = (error as { code?: string }).code;
        const detail = code ? `${code}: ${error.message}` : error.message;
        letters.push(this.deadLetter(item, 'db-rejected', detail));
        reasons.push('db-rejected');
        item.span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: db-rejected (${detail})` });
        // Written inside the message's span: the line carries the job's trace id.
        context.with(trace.setSpan(ROOT_CONTEXT, item.span), () =>
          this.logger.warn(
            { err: error, influencer_id: item.result!.influencerId, topic: item.topic, partition: item.partition, offset: item.message.offset },
            'database refused a result; sent to the DLQ',
          ),
        );
      }
      if (letters.length > 0) {
        await this.withRetry('dead-letter produce', async () => {
          for (let i = 0; i < letters.length; i += DLQ_MESSAGES_PER_REQUEST) {
            await produceMany(this.producer, { topic: this.options.dlqTopic, messages: letters.slice(i, i + DLQ_MESSAGES_PER_REQUEST) });
          }
        });
        for (const reason of reasons) this.metrics.dlqMessages.inc({ reason });
      }

      // A partition's items are in offset order: the last one seen is its highest.
      const last = new Map<string, Consumed>();
      for (const item of items) last.set(`${item.topic}|${item.partition}`, item);
      for (const [key, item] of last) {
        if (!this.assigned.has(key)) continue; // revoked meanwhile: its new owner commits it
        this.uncommitted.set(key, { topic: item.topic, partition: item.partition, offset: String(BigInt(item.message.offset) + 1n) });
      }
      await this.commitStored();
      for (const item of items) item.span.end();

      this.metrics.batchSize.observe(items.length);
      const seconds = (performance.now() - started) / 1000;
      this.metrics.flushDuration.observe(seconds);
      this.logger.debug(
        { messages: items.length, inserted: outcome.inserted, dlq: letters.length, ms: Math.round(seconds * 1000) },
        'flushed batch',
      );
    } catch (err) {
      this.abandon(items, err);
      throw err;
    }
  }

  /** Counts and logs messages left uncommitted (stop() gave up on a failing write). */
  private abandon(items: Consumed[], err: unknown): void {
    this.abandoned += items.length;
    this.logger.error({ err, messages: items.length }, 'batch abandoned; its messages are not committed and will be redelivered');
    for (const item of items) endFailed(item.span, 'not stored: the batch was abandoned at shutdown; it will be redelivered');
  }

  /**
   * The database transaction of a flush (retried until it succeeds), inside a
   * `follower_counts insert` span: CLIENT, the root of a trace of its own (it stores rows of many
   * jobs), with links to the `fetch-result process` spans of the sampled messages it stores (at
   * most {@link MAX_INSERT_LINKS}). Its trace is sampled when any linked one is (see
   * `createSampler`). Each stored message's span gets the insert's trace id as
   * `mockstagram.insert_trace_id`, to jump from a job's trace to the insert.
   */
  private async store(rows: FetchResult[], rowItems: Consumed[], messages: number, parameters: ResultParameters | undefined): Promise<StoreOutcome> {
    const links: Link[] = [];
    let sampled = 0;
    for (const item of rowItems) {
      const spanContext = item.span.spanContext();
      if (!isSampled(spanContext)) continue;
      sampled += 1;
      if (links.length < MAX_INSERT_LINKS) links.push({ context: spanContext });
    }
    const span = tracer.startSpan('follower_counts insert', { kind: SpanKind.CLIENT, root: true, links }, ROOT_CONTEXT);
    if (span.isRecording()) {
      span.setAttributes({
        [A.dbSystem]: 'postgresql',
        [A.dbSystemName]: 'postgresql',
        [A.dbOperation]: 'INSERT',
        [A.dbCollection]: 'follower_counts',
        [A.messagingBatchCount]: messages,
        'mockstagram.rows': rows.length,
        'mockstagram.links_dropped': sampled - links.length,
      });
      const insertTraceId = span.spanContext().traceId;
      for (const item of rowItems) if (item.span.isRecording()) item.span.setAttribute('mockstagram.insert_trace_id', insertTraceId);
    }
    this.storeSpan = span;
    try {
      const outcome = await context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
        this.withRetry('database write', () => storeResults(this.options.pool, rows, parameters)),
      );
      if (span.isRecording()) span.setAttributes({ 'mockstagram.rows_inserted': outcome.inserted, 'mockstagram.rows_rejected': outcome.rejected.length });
      span.end();
      return outcome;
    } catch (err) {
      endFailed(span, err);
      throw err;
    } finally {
      this.storeSpan = undefined;
    }
  }

  /**
   * Runs `fn` until it succeeds (see the retry policy in the constructor), pausing consumption
   * while it fails and heart-beating all along; rejects only when stop() gives up.
   */
  private async withRetry<T>(step: string, fn: () => Promise<T>): Promise<T> {
    // Keep the group membership alive while a write is slow or retried (it otherwise takes
    // milliseconds). kafkajs only sends a heartbeat once heartbeatInterval has passed.
    const beat = setInterval(() => {
      this.heartbeat?.().catch((err: unknown) => this.logger.warn({ err }, 'heartbeat failed while waiting to write'));
    }, this.heartbeatIntervalMs);
    const call = Symbol(step);
    try {
      return await this.retryPolicy.execute(async ({ signal }) => {
        if (signal.aborted) throw new FlushAbortedError(`${step} abandoned: stopping while it keeps failing`);
        this.step = step;
        let value: T;
        try {
          value = await fn();
        } catch (err) {
          this.failing.add(call);
          throw err;
        }
        if (this.failing.delete(call) && this.failing.size === 0) this.resume(step);
        return value;
      }, this.abort.signal);
    } finally {
      this.failing.delete(call);
      clearInterval(beat);
    }
  }

  /** Commits every stored offset not yet committed. A failure is logged; the next flush retries. */
  private async commitStored(): Promise<void> {
    if (this.uncommitted.size === 0 || !this.commit) return;
    const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
    const sent = [...this.uncommitted.entries()];
    for (const [, { topic, partition, offset }] of sent) {
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push({ partition, offset });
    }
    try {
      await this.commit({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
      for (const [key, value] of sent) {
        if (this.uncommitted.get(key) === value) this.uncommitted.delete(key);
      }
    } catch (err) {
      // E.g. a rebalance under way: the rows are stored; whoever consumes these partitions next
      // re-reads from the last committed offset and the unique key absorbs the duplicates.
      this.logger.warn({ err, partitions: sent.length }, 'offset commit failed; will retry with the next batch');
    }
  }

  private deadLetter(item: Consumed, reason: string, error: string): Message {
    const { message } = item;
    return dlqMessage({
      source: {
        topic: item.topic,
        partition: item.partition,
        offset: message.offset,
        key: message.key,
        value: message.value,
        headers: message.headers,
      },
      stage: 'result-handler',
      reason,
      error,
      attempts: 1,
    });
  }

  private pause(err: unknown): void {
    if (this.pausedSince !== undefined) return;
    this.pausedSince = Date.now();
    this.metrics.paused.set(1);
    this.consumer.pause([{ topic: this.options.resultsTopic }]);
    this.logger.warn({ err, step: this.step }, `${this.step} failed; consumption paused until it succeeds`);
  }

  /** Resumes consumption once `step`, the last of the failing ones, has succeeded. */
  private resume(step: string): void {
    if (this.pausedSince === undefined) return;
    const pausedMs = Date.now() - this.pausedSince;
    this.pausedSince = undefined;
    this.metrics.paused.set(0);
    if (!this.stopping) this.consumer.resume([{ topic: this.options.resultsTopic }]);
    this.logger.info({ pausedMs }, `${step} succeeded; consumption resumed`);
  }

  private async partitionCount(topic: string): Promise<number> {
    const admin = createAdmin(this.options.kafka);
    try {
      const metadata = await admin.metadata({ topics: [topic] });
      return Math.max(1, metadata.topics.get(topic)?.partitionsCount ?? 1);
    } finally {
      await admin.close();
    }
  }
}

/** What a flush stores: the decoded results of a batch and their statement parameters. */
interface PreparedWrite {
  /** The items with a decoded result, sorted by influencer id (stable: offset order within one). */
  rowItems: Consumed[];
  /** Their results, in the same order (a rejected row's index points into both). */
  rows: FetchResult[];
  parameters: ResultParameters;
}

/**
 * The rows of a batch in influencer order, not in the interleaving of the partitions they came
 * from: the database then inserts into the unique index of `follower_counts` and updates
 * `influencer_latest` in key order, walking its B-trees forward instead of all over them
 * (10,000-row batches of ids spread over 200,000 influencers: 56-60k → 65-66k rows/s for the
 * statement alone). Sorting 10,000 rows costs the handler ~3 ms, usually while the previous
 * batch is written (onSeal).
 */
function prepareWrite(items: readonly Consumed[]): PreparedWrite {
  const rowItems = items.filter((item) => item.result !== undefined);
  rowItems.sort((a, b) => a.result!.influencerId - b.result!.influencerId);
  const rows = rowItems.map((item) => item.result!);
  return { rowItems, rows, parameters: resultParameters(rows) };
}

/** Ends `span` as failed: `problem` is an error or a message saying why. */
function endFailed(span: Span, problem: unknown): void {
  if (span.isRecording()) {
    if (problem instanceof Error) span.recordException(problem);
    span.setStatus({ code: SpanStatusCode.ERROR, message: problem instanceof Error ? problem.message : String(problem) });
  }
  span.end();
}

/** What to do about errors that will not go away by themselves. */
function hint(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === '42P01') return ' (a table is missing: run the migrations, `yarn migrate`)';
  if (code === '3F000') return ' (the schema in DATABASE_URL does not exist)';
  if (code === '28000' || code === '28P01') return ' (authentication failed: check DATABASE_URL)';
  return '';
}
