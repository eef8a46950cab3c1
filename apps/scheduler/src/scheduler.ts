/**
 * The Scheduler: on every tick, claims the influencers whose slot is due and produces one fetch
 * job per slot to Kafka, committing the claim only once Kafka acknowledged the jobs.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
import type { KafkaProducer as Producer } from '@mockstagram/shared';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  encodeFetchJob,
  injectTraceHeaders,
  produceMany,
  Registry,
  SPAN_ATTRIBUTES as A,
  withTransaction,
  type Logger,
  type Pool,
} from '@mockstagram/shared';
import { createSchedulerMetrics, type SchedulerMetrics } from './metrics';
import { claimDueInfluencers } from './sql/claimDueInfluencers';
import { getRegistryStats, type RegistryStats } from './sql/getRegistryStats';
import { getSchedulerLag } from './sql/getSchedulerLag';

/** The scheduler's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('scheduler');

/**
 * The scheduler's settings from the configuration (`schedulerSettings(config)` in src/config.ts;
 * `SCHEDULER_DEFAULTS` there for the schema's defaults).
 */
export interface SchedulerSettings {
  /** When ticks run, a node-cron expression (6 fields = with seconds). */
  tickCron: string;
  /** Influencers claimed, produced and committed per transaction. */
  batchSize: number;
  /**
   * Cap on the jobs one tick emits, so a backlog (after downtime, or a big registration without
   * spreading) drains over several ticks instead of flooding the fetchers. `'auto'`:
   *
   *     max(batchSize, ceil(2 × tickSeconds × Σ over active influencers of 1 / fetch_interval_seconds))
   *
   * i.e. twice the steady-state rate: on time, a tick emits about half the cap; with a backlog,
   * it drains at one extra steady-state rate, oldest slots first. `tickSeconds` is the longest
   * gap between runs of `tickCron`; the sum is refreshed every `statsRefreshMs`.
   */
  maxJobsPerTick: number | 'auto';
  /**
   * How long a batch waits for Kafka's acknowledgement before it is rolled back (its slots stay
   * due). The claim's transaction stays open meanwhile, so keep this short.
   */
  produceTimeoutMs: number;
  /** How often the active count and job rate (for the `auto` cap and the gauge) are re-read, ms. */
  statsRefreshMs: number;
}

export interface SchedulerOptions extends SchedulerSettings {
  /** Database holding `influencers`. */
  pool: Pool;
  /** A connected producer from `createProducer` (idempotent, acks = all). Not closed by the scheduler. */
  producer: Producer;
  /** Topic for fetch jobs (`TOPIC_FETCH_JOBS`). */
  topic: string;
  logger: Logger;
  /** Where the `scheduler_*` metrics go. Default: a registry of its own (see {@link Scheduler.registry}). */
  registry?: Registry;
}

/** What one call of {@link Scheduler.tick} did. */
export interface TickResult {
  /** `ran`; `skipped` (the previous tick was still running); `failed` (see `error`; the open batch was rolled back). */
  status: 'ran' | 'skipped' | 'failed';
  /** Jobs produced and committed. */
  jobs: number;
  /** Transactions committed. */
  batches: number;
  /** The cap in force for this tick. */
  maxJobs: number;
  /** Seconds behind after the tick (see `scheduler_lag_seconds`); undefined when not measured. */
  lagSeconds?: number;
  durationMs: number;
  error?: Error;
}

export class Scheduler {
  /** The registry holding this scheduler's metrics. */
  readonly registry: Registry;
  readonly tickCron: string;
  readonly batchSize: number;
  /** Longest gap between two ticks of `tickCron`, in seconds. */
  readonly tickSeconds: number;

  private readonly pool: Pool;
  private readonly producer: Producer;
  private readonly topic: string;
  private readonly logger: Logger;
  private readonly metrics: SchedulerMetrics;
  private readonly maxJobsOption: number | 'auto';
  private readonly produceTimeoutMs: number;
  private readonly statsRefreshMs: number;

  private task: ScheduledTask | undefined;
  private current: Promise<TickResult> | undefined;
  private stopping = false;
  private stats: { value: RegistryStats; at: number } | undefined;

  constructor(options: SchedulerOptions) {
    this.pool = options.pool;
    this.producer = options.producer;
    this.topic = options.topic;
    this.logger = options.logger;
    this.registry = options.registry ?? new Registry();
    this.metrics = createSchedulerMetrics(this.registry);
    this.tickCron = options.tickCron;
    this.batchSize = options.batchSize;
    this.maxJobsOption = options.maxJobsPerTick;
    this.produceTimeoutMs = options.produceTimeoutMs;
    this.statsRefreshMs = options.statsRefreshMs;

    const problem = cronProblem(this.tickCron);
    if (problem) throw new Error(`invalid tick cron expression "${this.tickCron}": ${problem}`);
    if (!(Number.isInteger(this.batchSize) && this.batchSize > 0))
      throw new Error(`batchSize must be a positive integer, got ${this.batchSize}`);
    if (this.maxJobsOption !== 'auto' && !(Number.isInteger(this.maxJobsOption) && this.maxJobsOption > 0)) {
      throw new Error(`maxJobsPerTick must be a positive integer or "auto", got ${this.maxJobsOption}`);
    }
    this.tickSeconds = longestGapSeconds(this.tickCron);
  }

  /** Starts ticking on `tickCron`. Ticks never overlap: one due while the previous still runs is skipped (logged, counted). */
  start(): void {
    if (this.task) return;
    this.stopping = false;
    this.task = cron.createTask(this.tickCron, () => this.tick().then(() => undefined), {
      name: 'scheduler-tick',
      noOverlap: false, // overlap is handled (and counted) by tick() itself
      logger: cronLogger(this.logger),
    });
    void this.task.start();
    this.logger.info(
      {
        tickCron: this.tickCron,
        tickSeconds: this.tickSeconds,
        batchSize: this.batchSize,
        maxJobsPerTick: this.maxJobsOption,
        topic: this.topic,
      },
      'scheduler started',
    );
  }

  /**
   * Stops ticking and waits for a running tick to finish its current batch (Kafka acknowledged,
   * transaction committed or rolled back); later batches of that tick are left for the next run.
   * Does not close the pool or the producer.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const task = this.task;
    this.task = undefined;
    if (task) await task.destroy();
    if (this.current) await this.current;
    this.logger.info('scheduler stopped');
  }

  /**
   * Makes the next tick re-read the active count and job rate (for the `auto` cap and the
   * `scheduler_active_influencers` gauge) instead of waiting for `statsRefreshMs`; call it after
   * registering or (de)activating influencers.
   */
  refreshStats(): void {
    this.stats = undefined;
  }

  /** True while a tick runs. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /**
   * Runs one tick now (the cron calls this; tests call it directly): claims due slots batch by
   * batch, produces their jobs, commits each batch after Kafka's acknowledgement, until nothing
   * is due or the cap is reached; then measures the lag. Never throws: a failure is logged,
   * counted and returned.
   */
  async tick(): Promise<TickResult> {
    if (this.current) {
      this.metrics.ticksSkipped.inc();
      this.logger.warn('previous tick still running; skipping this one');
      return { status: 'skipped', jobs: 0, batches: 0, maxJobs: 0, durationMs: 0 };
    }
    const run = this.runTick();
    this.current = run;
    try {
      return await run;
    } finally {
      this.current = undefined;
    }
  }

  private async runTick(): Promise<TickResult> {
    const started = performance.now();
    const endTimer = this.metrics.tickDuration.startTimer();
    let jobs = 0;
    let batches = 0;
    let maxJobs = 0;
    try {
      maxJobs = await this.maxJobsForTick();
      while (jobs < maxJobs && !this.stopping) {
        const limit = Math.min(this.batchSize, maxJobs - jobs);
        const emitted = await this.emitBatch(limit);
        if (emitted === 0) break;
        jobs += emitted;
        batches += 1;
        if (emitted < limit) break;
      }
      const lagSeconds = await getSchedulerLag(this.pool);
      this.metrics.lag.set(lagSeconds);
      const durationMs = performance.now() - started;
      const summary = { jobs, batches, maxJobs, lagSeconds: round(lagSeconds), durationMs: Math.round(durationMs) };
      if (jobs >= maxJobs)
        this.logger.info(summary, `tick emitted its cap of ${maxJobs} jobs; the backlog continues next tick`);
      else this.logger.debug(summary, 'tick done');
      return { status: 'ran', jobs, batches, maxJobs, lagSeconds, durationMs };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.metrics.tickErrors.inc();
      this.logger.error(
        { err: error, jobs, batches },
        `tick failed after ${jobs} jobs; the failed batch was rolled back and stays due`,
      );
      return { status: 'failed', jobs, batches, maxJobs, durationMs: performance.now() - started, error };
    } finally {
      endTimer();
    }
  }

  /** One transaction: claim up to `limit` due slots, produce their jobs, commit after the ack. Returns the jobs emitted. */
  private async emitBatch(limit: number): Promise<number> {
    const emitted = await withTransaction(this.pool, async (client) => {
      const claimed = await claimDueInfluencers(client, limit);
      if (claimed.length === 0) return 0;
      const spans = new Array<Span>(claimed.length);
      const messages = claimed.map((c, i) => {
        const jobId = randomUUID();
        const span = publishSpan(this.topic, c.id, jobId);
        spans[i] = span;
        return {
          key: String(c.id),
          value: encodeFetchJob({ jobId, influencerId: c.id, scheduledFor: c.slot.toISOString(), attempt: 1 }),
          headers: injectTraceHeaders(trace.setSpan(ROOT_CONTEXT, span), {}),
        };
      });
      try {
        await withTimeout(
          produceMany(this.producer, { topic: this.topic, messages }),
          this.produceTimeoutMs,
          () =>
            `Kafka did not acknowledge ${messages.length} jobs on "${this.topic}" within ${this.produceTimeoutMs} ms`,
          (lateError) => this.logger.warn({ err: lateError }, 'a timed-out produce failed later too'),
        );
      } catch (err) {
        endSpans(spans, err);
        throw err;
      }
      endSpans(spans);
      return claimed.length;
    });
    this.metrics.jobsScheduled.inc(emitted);
    return emitted;
  }

  private async maxJobsForTick(): Promise<number> {
    const now = Date.now();
    if (!this.stats || now - this.stats.at >= this.statsRefreshMs) {
      const value = await getRegistryStats(this.pool);
      this.stats = { value, at: now };
      this.metrics.activeInfluencers.set(value.active);
    }
    const cap =
      this.maxJobsOption === 'auto'
        ? Math.max(this.batchSize, Math.ceil(2 * this.tickSeconds * this.stats.value.jobsPerSecond))
        : this.maxJobsOption;
    this.metrics.maxJobsPerTick.set(cap);
    return cap;
  }
}

/**
 * The span of one job: `fetch-job publish` (PRODUCER), the root of the job's trace, from just
 * before its batch is sent until Kafka acknowledged the batch. Its context goes into the job's
 * headers, so the fetcher's and the result-handler's spans join the trace. An unsampled span is
 * non-recording (ids only), so its attributes are not built.
 */
function publishSpan(topic: string, influencerId: number, jobId: string): Span {
  const span = tracer.startSpan('fetch-job publish', { kind: SpanKind.PRODUCER, root: true }, ROOT_CONTEXT);
  if (span.isRecording()) {
    span.setAttributes({
      [A.messagingSystem]: 'kafka',
      [A.messagingDestination]: topic,
      [A.messagingOperationType]: 'send',
      [A.messagingOperationName]: 'send',
      [A.messagingKafkaKey]: String(influencerId),
      [A.influencerId]: influencerId,
      [A.jobId]: jobId,
    });
  }
  return span;
}

/** Ends a batch's publish spans, as failed when `err` is given. */
function endSpans(spans: Span[], err?: unknown): void {
  for (const span of spans) {
    if (err !== undefined && span.isRecording()) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    }
    span.end();
  }
}

/** Why `expression` is not a valid node-cron expression, or undefined when it is. */
export function cronProblem(expression: string): string | undefined {
  const result = cron.validateDetailed(expression);
  if (result.valid) return undefined;
  return result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'not a cron expression';
}

/** Longest gap between consecutive runs of a cron expression over its next 50 runs, in seconds. */
function longestGapSeconds(expression: string): number {
  const probe = cron.createTask(expression, () => undefined);
  try {
    const runs = probe.getNextRuns(50).map((d) => d.getTime());
    let longest = 0;
    for (let i = 1; i < runs.length; i++) longest = Math.max(longest, runs[i] - runs[i - 1]);
    return longest > 0 ? longest / 1000 : 60;
  } finally {
    void probe.destroy();
  }
}

/**
 * Rejects when `promise` has not settled within `ms`. The promise itself cannot be cancelled; if
 * it rejects later, `onLateError` hears of it (instead of an unhandled rejection).
 */
function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: () => string,
  onLateError: (err: unknown) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(message()));
    }, ms);
  });
  promise.catch((err: unknown) => {
    if (timedOut) onLateError(err);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function cronLogger(logger: Logger) {
  const log = logger.child({ component: 'node-cron' });
  return {
    info: (message: string) => log.debug(message),
    warn: (message: string) => log.warn(message),
    error: (message: string | Error, err?: Error) => log.error({ err: err ?? message }, String(message)),
    debug: (message: string | Error, err?: Error) => log.debug({ err }, String(message)),
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
