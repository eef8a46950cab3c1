/**
 * The result-handler: consumes `mockstagram.fetch-results`, writes rows to TimescaleDB in
 * batches, dead-letters what can never be stored. It is "batch → store" on the shared
 * consume–process–commit {@link Stage} (batch mode), which owns the consumer group membership,
 * batching (`batchSize`, `flushMs`), backpressure, producing the dead letters and committing
 * offsets in order.
 *
 * Flow of one batch (batches are stored one at a time, in order; a partition's messages reach
 * them in offset order):
 *
 * 1. decode every message (undecodable ones become dead letters);
 * 2. `storeResults` (src/store.ts): one statement that inserts into `follower_counts` and
 *    upserts `influencer_latest` (without ON CONFLICT on `follower_counts`; a batch holding a
 *    stored sample is written again with a statement that skips it), retried with backoff and
 *    without limit while the database fails (fetching paused meanwhile, the group membership
 *    kept by the client's heartbeats; nothing is dead-lettered for it);
 * 3. then, while the NEXT batch's transaction already runs, the stage produces the batch's dead
 *    letters (undecodable messages, rows the database refused; acknowledged by all in-sync
 *    replicas) and commits the offsets of every partition in the batch.
 *
 * Why this keeps "no loss, no duplicate rows": the stage commits a partition's offset N only
 * when every earlier message of it is stored or dead-lettered, durably. A crash before the
 * commit redelivers the messages; the rows are absorbed by the unique key
 * (`result_handler_rows_duplicate_total` counts them) and `influencer_latest` never moves
 * backwards; a dead letter may then be produced twice (DLQ delivery is at least once; each copy
 * names its source partition and offset). A store only fails when {@link ResultHandler.stop}
 * gives up on it after `stopTimeoutMs`; its messages are then left uncommitted for the next
 * member.
 *
 * Tracing: each message gets a `fetch-result process` span (CONSUMER), child of the fetcher's
 * publish span found in its headers, so it belongs to the job's trace. It starts when the
 * message is decoded and ends when its batch is done (stored or dead-lettered, offsets
 * committed), so the job's trace shows how long the sample waited for its batch and the write;
 * a dead letter's span has status ERROR. The transaction of a batch is a `follower_counts insert`
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
  endSpan,
  isSampled,
  classifyDbError,
  Stage,
  SPAN_ATTRIBUTES as A,
  type ConsumedMessage,
  type Decoded,
  type FetchResult,
  type KafkaClient,
  type Logger,
  type Message,
  type Pool,
  type Registry,
  type StageResult,
} from '@mockstagram/shared';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link, type Span } from '@opentelemetry/api';
import { MAX_LINKS_PER_SPAN } from '@mockstagram/shared/telemetry';
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import type { ResultHandlerSettings } from './config';
import { createResultHandlerMetrics, type ResultHandlerMetrics } from './metrics';
import { resultParameters, type ResultParameters } from './sql/writeResults';
import { storeResults, type StoreOutcome } from './store';

/**
 * What a {@link ResultHandler} needs. The settings from the configuration are required: main.ts
 * takes them from `resultHandlerSettings(config)`, tests and benchmarks from
 * `RESULT_HANDLER_DEFAULTS` (src/config.ts, the schema's defaults).
 */
export interface ResultHandlerOptions extends ResultHandlerSettings {
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
  /**
   * Messages consumed but not yet committed above which fetching pauses, until they are back
   * under it. Unset: 2 × `batchSize`; at least `batchSize`.
   */
  maxPendingMessages?: number;
  /** Fetch size per partition, bytes. Default: the stage's. */
  maxBytesPerPartition?: number;
  /** Fetch size per broker request, bytes. Default: the stage's. */
  maxBytes?: number;
  /** Group session timeout. Default: the stage's. */
  sessionTimeoutMs?: number;
  /** Group heartbeat interval (the client keeps sending them while a store waits). Default: the stage's. */
  heartbeatIntervalMs?: number;
  /** A new group starts at the earliest offset (true) or the latest (false). Default: the stage's. */
  fromBeginning?: boolean;
  /** Called when consuming failed for good (main.ts exits 1). */
  onFatal?: (err: Error) => void;
  /**
   * Test hook: awaited after a batch's transaction committed and before its dead letters and
   * offsets are written. A hook that never resolves simulates a crash between the two.
   */
  afterStore?: () => Promise<void>;
}

/** Where a consumed message came from, and its span. */
interface Delivery {
  topic: string;
  partition: number;
  message: ConsumedMessage;
  /** Its `fetch-result process` span; ends when its batch is done (see {@link ResultHandler}). */
  span: Span;
}

/**
 * One consumed message on its way through a batch: decoded (`ok`, its result in `value`) or
 * not (`reason`, `error`: it goes to the DLQ).
 */
type Consumed = Delivery & Decoded<FetchResult>;
/** A message with a result to store. */
type Decodable = Extract<Consumed, { ok: true }>;
/** A message that could not be decoded. */
type Undecodable = Extract<Consumed, { ok: false }>;

class FlushAbortedError extends Error {
  override readonly name = 'FlushAbortedError';
}

/** The result-handler's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('result-handler');

/** Messages decoded between two yields to the event loop (see `decode`). */
const DECODE_SLICE = 1000;

/** Resolves after pending I/O callbacks have run. */
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ResultHandler {
  readonly metrics: ResultHandlerMetrics;

  private readonly options: ResultHandlerOptions;
  private readonly logger: Logger;
  private readonly groupId: string;
  private readonly stage: Stage;
  private readonly retryPolicy: RetryPolicy;
  private started = false;
  private stopping: Promise<void> | undefined;
  private pausedSince: number | undefined;
  /**
   * The {@link withRetry} calls whose latest attempt failed. Fetching is paused while any is and
   * resumed when the last of them succeeds.
   */
  private readonly failing = new Set<symbol>();
  /** What the retry policy is retrying, for its log lines. */
  private step = 'database write';
  /** The `follower_counts insert` span of the running store, for retry events. */
  private storeSpan: Span | undefined;

  constructor(options: ResultHandlerOptions) {
    this.options = options;
    this.logger = options.logger;
    this.metrics = createResultHandlerMetrics(options.registry);
    this.groupId = options.groupId;
    const { batchSize, flushMs } = options;
    this.stage = new Stage({
      name: 'result-handler',
      kafka: options.kafka,
      groupId: this.groupId,
      topics: [options.resultsTopic],
      logger: options.logger,
      consumerLag: this.metrics.consumerLag,
      onTake: () => this.metrics.messagesConsumed.inc(),
      onFatal: options.onFatal,
      settings: {
        batchSize,
        batchWaitMs: flushMs,
        maxInFlight: Math.max(batchSize, options.maxPendingMessages ?? 2 * batchSize),
        // A fetch on an idle topic returns after this long; it bounds how long stop() waits for it.
        maxWaitMs: Math.min(1000, flushMs),
        maxBytesPerPartition: options.maxBytesPerPartition,
        maxBytes: options.maxBytes,
        sessionTimeoutMs: options.sessionTimeoutMs,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        fromBeginning: options.fromBeginning,
        stopGraceMs: options.stopTimeoutMs,
      },
      work: { mode: 'batch', process: (messages, signal) => this.processBatch(messages, signal) },
    });

    // Backoff: cockatiel's ExponentialBackoff with its default "decorrelated jitter": delays grow
    // ~×2 from initialDelay up to maxDelay, randomized so that several handlers do not hit a
    // recovering database in lockstep. It takes the stage's AbortSignal (aborted when stop()
    // gives up) and reports each retry (metrics, pause).
    this.retryPolicy = retry(
      handleWhen((err) => !(err instanceof FlushAbortedError)),
      {
        maxAttempts: Number.POSITIVE_INFINITY,
        backoff: new ExponentialBackoff({
          initialDelay: options.retryInitialDelayMs,
          maxDelay: options.retryMaxDelayMs,
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
      if (classifyDbError(err) === 'transient') this.logger.warn(fields, `${this.step} failed (unavailable); retrying`);
      else this.logger.error(fields, `${this.step} failed; retrying${hint(err)}`);
    });
  }

  /** Joins the group and starts consuming. Resolves once consuming has started. */
  async start(): Promise<void> {
    if (this.started) throw new Error('ResultHandler already started');
    this.started = true;
    await this.stage.start();
    const s = this.stage.settings;
    this.logger.info(
      {
        topic: this.options.resultsTopic,
        dlqTopic: this.options.dlqTopic,
        groupId: this.groupId,
        batchSize: s.batchSize,
        flushMs: s.batchWaitMs,
        maxPendingMessages: s.maxInFlight,
      },
      'result-handler consuming',
    );
  }

  /**
   * Stops taking work, stores what was consumed right away (without waiting for `flushMs`),
   * commits its offsets, then leaves the group. If the database keeps failing for
   * `stopTimeoutMs`, the pending messages are abandoned (left uncommitted: redelivered to the
   * next member) and this rejects saying so. The pool is not closed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Ready: member of the group, not stopping, and the database answers `SELECT 1` within 2 s. */
  async isReady(): Promise<boolean> {
    if (!this.stage.ready || this.stopping) return false;
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

  /** True while consumption is paused because the database is failing. */
  get paused(): boolean {
    return this.pausedSince !== undefined;
  }

  /** Messages consumed and not yet committed. */
  get pendingMessages(): number {
    return this.stage.pending;
  }

  /** Times this member joined its group (1 after start; more after rebalances). */
  get groupJoins(): number {
    return this.stage.joins;
  }

  // -------------------------------------------------------------------------------------------

  private async doStop(): Promise<void> {
    this.logger.info({ pending: this.stage.pending }, 'result-handler stopping: storing what was consumed');
    const { abandoned } = await this.stage.stop();
    if (abandoned > 0) {
      throw new Error(
        `${abandoned} messages were not stored (the database kept failing during shutdown); their offsets are not committed, so they will be redelivered`,
      );
    }
  }

  /** One batch: decode, store (retried), then hand the dead letters to the stage. */
  private async processBatch(messages: ConsumedMessage[], signal: AbortSignal): Promise<StageResult> {
    const started = performance.now();
    const items = await this.decode(messages);
    const { rows, rowItems, parameters } = prepareWrite(items);
    const dead = items.filter((item): item is Undecodable => !item.ok);
    let outcome: StoreOutcome;
    try {
      outcome =
        rows.length === 0
          ? { inserted: 0, rejected: [] }
          : await this.store(rows, rowItems, items.length, parameters, signal);
    } catch (err) {
      this.abandon(items, err);
      throw err;
    }
    this.metrics.rowsWritten.inc(outcome.inserted);
    this.metrics.rowsDuplicate.inc(rows.length - outcome.rejected.length - outcome.inserted);
    const reasons: string[] = [];
    return {
      produce: this.letters(rowItems, dead, outcome, reasons),
      acknowledged: () => {
        for (const reason of reasons) this.metrics.dlqMessages.inc({ reason });
      },
      settled: (problem) => {
        if (problem !== undefined) {
          this.abandon(items, problem);
          return;
        }
        for (const item of items) item.span.end();
        this.metrics.batchSize.observe(items.length);
        const seconds = (performance.now() - started) / 1000;
        this.metrics.flushDuration.observe(seconds);
        this.logger.debug(
          {
            messages: items.length,
            inserted: outcome.inserted,
            dlq: dead.length + outcome.rejected.length,
            ms: Math.round(seconds * 1000),
          },
          'batch stored and committed',
        );
      },
    };
  }

  /**
   * Decodes a batch in slices, letting I/O in between: decoding tens of thousands of messages at
   * once would keep the event loop from the running store's database round trips.
   */
  private async decode(messages: ConsumedMessage[]): Promise<Consumed[]> {
    const items = new Array<Consumed>(messages.length);
    for (let from = 0; from < messages.length; from += DECODE_SLICE) {
      if (from > 0) await yieldToIo();
      const to = Math.min(messages.length, from + DECODE_SLICE);
      for (let i = from; i < to; i++) {
        const message = messages[i];
        const { topic, partition } = message;
        const span = tracer.startSpan(
          'fetch-result process',
          { kind: SpanKind.CONSUMER },
          contextFromHeaders(message.headers),
        );
        const decoded = decodeFetchResult(message.value);
        if (span.isRecording()) {
          span.setAttributes(kafkaProcessAttributes(topic, partition, message.offset, this.groupId));
          if (decoded.ok)
            span.setAttributes({ [A.influencerId]: decoded.value.influencerId, [A.jobId]: decoded.value.jobId });
        }
        items[i] = { topic, partition, message, span, ...decoded };
      }
    }
    return items;
  }

  /**
   * After the batch is stored (and the test hook): its dead letters, for the stage to produce
   * before it commits the batch's offsets. A promise, so the next batch is stored meanwhile.
   */
  private async letters(
    rowItems: Decodable[],
    dead: Undecodable[],
    outcome: StoreOutcome,
    reasons: string[],
  ): Promise<Array<{ topic: string; messages: Message[] }>> {
    if (this.options.afterStore) await this.options.afterStore();
    const letters: Message[] = [];
    for (const item of dead) {
      letters.push(this.deadLetter(item, item.reason, item.error));
      reasons.push(item.reason);
      item.span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${item.reason}` });
    }
    for (const { index, error } of outcome.rejected) {
      const item = rowItems[index];
      const code = (error as { code?: string }).code;
      const detail = code ? `${code}: ${error.message}` : error.message;
      letters.push(this.deadLetter(item, 'db-rejected', detail));
      reasons.push('db-rejected');
      item.span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: db-rejected (${detail})` });
      // Written inside the message's span: the line carries the job's trace id.
      context.with(trace.setSpan(ROOT_CONTEXT, item.span), () =>
        this.logger.warn(
          {
            err: error,
            influencer_id: item.value.influencerId,
            topic: item.topic,
            partition: item.partition,
            offset: item.message.offset,
          },
          'database refused a result; sent to the DLQ',
        ),
      );
    }
    return letters.length === 0 ? [] : [{ topic: this.options.dlqTopic, messages: letters }];
  }

  /** Logs messages left uncommitted (stop() gave up on a failing write). */
  private abandon(items: Consumed[], err: unknown): void {
    if (items.length === 0) return;
    this.logger.error(
      { err, messages: items.length },
      'batch abandoned; its messages are not committed and will be redelivered',
    );
    for (const item of items)
      endSpan(item.span, 'not stored: the batch was abandoned at shutdown; it will be redelivered');
  }

  /**
   * The database transaction of a batch (retried until it succeeds), inside a
   * `follower_counts insert` span: CLIENT, the root of a trace of its own (it stores rows of many
   * jobs), with links to the `fetch-result process` spans of the sampled messages it stores (at
   * most `MAX_LINKS_PER_SPAN`, the span limit `startTelemetry` sets; `mockstagram.links_dropped`
   * counts those beyond). Its trace is sampled when any linked one is (see
   * `createSampler`). Each stored message's span gets the insert's trace id as
   * `mockstagram.insert_trace_id`, to jump from a job's trace to the insert.
   */
  private async store(
    rows: FetchResult[],
    rowItems: Decodable[],
    messages: number,
    parameters: ResultParameters,
    signal: AbortSignal,
  ): Promise<StoreOutcome> {
    const links: Link[] = [];
    let sampled = 0;
    for (const item of rowItems) {
      const spanContext = item.span.spanContext();
      if (!isSampled(spanContext)) continue;
      sampled += 1;
      if (links.length < MAX_LINKS_PER_SPAN) links.push({ context: spanContext });
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
      for (const item of rowItems)
        if (item.span.isRecording()) item.span.setAttribute('mockstagram.insert_trace_id', insertTraceId);
    }
    this.storeSpan = span;
    try {
      const outcome = await context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
        this.withRetry('database write', signal, () => storeResults(this.options.pool, rows, parameters)),
      );
      if (span.isRecording())
        span.setAttributes({
          'mockstagram.rows_inserted': outcome.inserted,
          'mockstagram.rows_rejected': outcome.rejected.length,
        });
      span.end();
      return outcome;
    } catch (err) {
      endSpan(span, err);
      throw err;
    } finally {
      this.storeSpan = undefined;
    }
  }

  /**
   * Runs `fn` until it succeeds (see the retry policy in the constructor), pausing fetching while
   * it fails; rejects only when the stage aborts (stop() gave up).
   */
  private async withRetry<T>(step: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const call = Symbol(step);
    try {
      return await this.retryPolicy.execute(async ({ signal: attemptSignal }) => {
        if (attemptSignal.aborted) throw new FlushAbortedError(`${step} abandoned: stopping while it keeps failing`);
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
      }, signal);
    } finally {
      this.failing.delete(call);
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
    this.stage.pause('database');
    this.logger.warn({ err, step: this.step }, `${this.step} failed; consumption paused until it succeeds`);
  }

  /** Resumes consumption once `step`, the last of the failing ones, has succeeded. */
  private resume(step: string): void {
    if (this.pausedSince === undefined) return;
    const pausedMs = Date.now() - this.pausedSince;
    this.pausedSince = undefined;
    this.metrics.paused.set(0);
    this.stage.resume('database');
    this.logger.info({ pausedMs }, `${step} succeeded; consumption resumed`);
  }
}

/** What a batch stores: the decoded results of a batch and their statement parameters. */
interface PreparedWrite {
  /** The items with a decoded result, sorted by influencer id (stable: offset order within one). */
  rowItems: Decodable[];
  /** Their results, in the same order (a rejected row's index points into both). */
  rows: FetchResult[];
  parameters: ResultParameters;
}

/**
 * The rows of a batch in influencer order, not in the interleaving of the partitions they came
 * from: the database then inserts into the unique index of `follower_counts` and updates
 * `influencer_latest` in key order, walking its B-trees forward instead of all over them (see
 * docs/performance.md for what it gains and costs).
 */
function prepareWrite(items: readonly Consumed[]): PreparedWrite {
  const rowItems = items.filter((item): item is Decodable => item.ok);
  rowItems.sort((a, b) => a.value.influencerId - b.value.influencerId);
  const rows = rowItems.map((item) => item.value);
  return { rowItems, rows, parameters: resultParameters(rows) };
}

/** What to do about errors that will not go away by themselves. */
function hint(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === '42P01') return ' (a table is missing: run the migrations, `yarn migrate`)';
  if (code === '3F000') return ' (the schema in DATABASE_URL does not exist)';
  if (code === '28000' || code === '28P01') return ' (authentication failed: check DATABASE_URL)';
  return '';
}
