/**
 * One consume–process–commit stage: a consumer group member that takes messages, runs a
 * callback per message or per batch, produces what the callback returns, and commits each
 * partition's offset strictly in order, only once everything the messages before it produced is
 * acknowledged by all in-sync replicas (and whatever the callback stored is stored: the callback
 * resolves only then).
 *
 * Modes (`work.mode`):
 * - `message`: the callback runs for each message as it arrives, up to `concurrency` at once
 *   (later messages wait, not started). A message's outputs are produced once it and every
 *   earlier message of its partition are processed, so outputs keep the partition's order.
 * - `batch`: messages are gathered into batches (`batchSize`, `batchWaitMs`) over all assigned
 *   partitions; batches are processed one at a time, in order. While one batch's outputs are
 *   produced and its offsets committed, the next batch is already being processed.
 *
 * It owns:
 * - backpressure: above `maxInFlight` messages taken and not done it pauses fetching;
 * - pause and resume for its callers ({@link Stage.pause} with a reason; fetching resumes when
 *   the last reason is gone), e.g. while a database is down; and while a produce keeps failing;
 * - heartbeats: the client sends them on its own timer, so long work keeps the membership;
 * - the lag gauge (`kafka_consumer_lag`: end offset − committed offset per assigned partition,
 *   asked of the broker when scraped; see ./lag);
 * - rebalances: a revoked partition's work is no longer committed (its new owner redelivers what
 *   was not committed); a kept partition's redelivered messages are skipped; a commit refused
 *   because of a rebalance is retried after rejoining, for the partitions still assigned;
 * - stopping: {@link Stage.stop} starts nothing new, finishes and commits the work under way
 *   (for up to `stopGraceMs`, then aborts it), or with `{ abandon: true }` aborts at once; what
 *   is not done stays uncommitted for the next member; then it leaves the group.
 *
 * Delivery is at least once: a crash, an abandoned stop or a revoked partition redelivers what
 * was not committed, so the callback's writes must be idempotent (unique keys) and its outputs
 * tolerate a second copy.
 *
 * @module
 */
import {
  Consumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Message as ClientMessage,
  type MessagesStream,
} from '@platformatic/kafka';
import type { Gauge } from 'prom-client';
import { baseOptions, type KafkaClient } from '../kafka/client';
import { kafkaErrors, needsRejoin } from '../kafka/errors';
import { fromHeaderMap, type ConsumedMessage, type TopicMessages } from '../kafka/messages';
import { createProducer, type KafkaProducer } from '../kafka/producer';
import type { Logger } from '../logger';
import { PartitionProgress, type Entry } from './progress';
import { attachLagSource, detachLagSource } from './lag';
import { resolveStageSettings, type StageSettings, type StageSettingsInput } from './settings';

/**
 * The stage's modes, as a long-lived loop's (graphile-worker's LocalQueue): `created` →
 * `starting` → `consuming` ⇄ `paused` → `stopping` → `stopped`; `failed` when the consumer or a
 * callback failed in a way the stage cannot recover from (see `onFatal`).
 */
export type StageState = 'created' | 'starting' | 'consuming' | 'paused' | 'stopping' | 'stopped' | 'failed';

/** What a callback hands back: messages to produce, and a hook for when they are committed. */
export interface StageResult {
  /**
   * What to produce. A promise is awaited in order, after the units before it were produced, and
   * meanwhile the next units are processed (e.g. a step to run after a store).
   */
  produce?: TopicMessages[] | Promise<TopicMessages[]>;
  /** Called once, right after what `produce` held is acknowledged (before the offsets are committed). */
  acknowledged?: () => void;
  /**
   * Called once, when every message of this unit (message or batch) is committed (no argument),
   * or will not be by this member (with the reason: abandoned at stop, partition revoked).
   */
  settled?: (problem?: unknown) => void;
}

export type StageWork =
  | { mode: 'message'; process: (message: ConsumedMessage, signal: AbortSignal) => Promise<StageResult> }
  | { mode: 'batch'; process: (messages: ConsumedMessage[], signal: AbortSignal) => Promise<StageResult> };

export interface StageOptions {
  /** For log lines and errors, e.g. `fetcher`. */
  name: string;
  kafka: KafkaClient;
  groupId: string;
  topics: string[];
  logger: Logger;
  work: StageWork;
  /** Defaults in `stageSettingsSchema`; resolved once here. */
  settings?: StageSettingsInput;
  /** Producer for the outputs. Default: one of its own, closed by {@link Stage.stop}. */
  producer?: KafkaProducer;
  /** The lag gauge (declared with `collect: collectConsumerLag`); answered from this stage's group membership when scraped. */
  consumerLag?: Gauge<'topic' | 'partition'>;
  /** Called for each message taken (before it waits for its callback or batch), e.g. to count it. */
  onTake?: (message: ConsumedMessage) => void;
  /** The stage failed and stopped consuming (the process should exit non-zero; its uncommitted work is redelivered). */
  onFatal?: (err: Error) => void;
}

export interface StopOptions {
  /** Abort the work under way at once and leave it uncommitted (default false: finish it first, for up to `stopGraceMs`). */
  abandon?: boolean;
}

export interface StopSummary {
  /** Messages left uncommitted by this stop (redelivered to the next member). */
  abandoned: number;
}

/** A unit of work: one message, or one batch. */
interface Unit {
  taken: Taken[];
  result: StageResult | undefined;
  /** Entries not yet released for production (see PartitionProgress.processed). */
  unreleased: number;
  /** Entries not yet committed or given up. */
  open: number;
  problem: unknown;
}

interface Taken {
  progress: PartitionProgress;
  entry: Entry;
  message: ConsumedMessage;
}

class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

const key = (topic: string, partition: number) => `${topic}|${partition}`;

export class Stage {
  readonly settings: StageSettings;

  private readonly options: StageOptions;
  private readonly logger: Logger;
  private readonly consumer: Consumer<Buffer, Buffer, Buffer, Buffer>;
  private readonly producer: KafkaProducer;
  private readonly ownsProducer: boolean;
  private readonly abort = new AbortController();
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private mode: StageState = 'created';
  private joined = false;
  private joinCount = 0;
  private lastGeneration: number | undefined;
  /** Stream failures since the last message (see reopen). */
  private streamFailures = 0;

  /** The assigned partitions' progress, by `topic|partition`. */
  private partitions = new Map<string, PartitionProgress>();
  /** The same, by topic and then partition number (the lookup for each message taken). */
  private partitionIndex = new Map<string, Array<PartitionProgress | undefined>>();
  private readonly units = new WeakMap<Entry, Unit>();
  /** Messages taken and not yet done or given up. */
  private inFlight = 0;
  private readonly pauseReasons = new Set<string>();

  /** Batch mode: the batch being gathered, its timer, the sealed ones waiting, and the one running. */
  private openBatch: Taken[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly sealed: Taken[][] = [];
  private batchRunning: Promise<void> | undefined;
  /** Message mode: callbacks under way, and messages waiting for one of the `concurrency` places. */
  private readonly running = new Set<Promise<void>>();
  private readonly waiting: Taken[] = [];

  /** Units released for production, in order. */
  private readonly toProduce: Unit[] = [];
  private producing: Promise<void> | undefined;
  private committing: Promise<void> | undefined;
  private commitAgain = false;
  private commitRetry: NodeJS.Timeout | undefined;
  private readonly idleWaiters = new Set<() => void>();
  private stopping: Promise<StopSummary> | undefined;

  constructor(options: StageOptions) {
    this.options = options;
    this.logger = options.logger;
    this.settings = resolveStageSettings(options.settings);
    const s = this.settings;
    this.consumer = new Consumer({ ...baseOptions(options.kafka), groupId: options.groupId, ...memberOptions(s) });
    this.ownsProducer = options.producer === undefined;
    this.producer = options.producer ?? createProducer(options.kafka);

    this.consumer.on('consumer:group:join', () => this.onJoin());
    this.consumer.on('consumer:group:leave', () => {
      this.joined = false;
    });
    this.consumer.on('consumer:heartbeat:error', (payload) => {
      if (!this.isStopping)
        this.logger.debug(
          { err: payload.error },
          `${options.name}: heartbeat failed (the client rejoins when the group asks)`,
        );
    });
    if (options.consumerLag) {
      attachLagSource(options.consumerLag, async () => {
        if (!this.ready) throw new Error('not a member of the group');
        return this.consumer.getLag({ topics: options.topics });
      });
    }
  }

  /** The current mode. */
  get state(): StageState {
    return this.mode;
  }

  /** Consuming (or paused) as a member of the group. */
  get ready(): boolean {
    return this.joined && (this.mode === 'consuming' || this.mode === 'paused');
  }

  /** Messages taken and not yet done (processed, produced and acknowledged). */
  get pending(): number {
    return this.inFlight;
  }

  /** True while fetching is paused, for any reason. */
  get paused(): boolean {
    return this.pauseReasons.size > 0;
  }

  /** Times this member joined its group (1 after start; one more per rebalance it took part in). */
  get joins(): number {
    return this.joinCount;
  }

  /** Partitions assigned to this member, as `topic|partition`. */
  get assignment(): string[] {
    return [...this.partitions.keys()];
  }

  /**
   * Joins the group and starts consuming `topics` from the committed offsets (a new group:
   * `fromBeginning`). Resolves once consuming has started.
   */
  async start(): Promise<void> {
    if (this.mode !== 'created') throw new Error(`${this.options.name}: stage already started`);
    this.mode = 'starting';
    if (this.ownsProducer) await this.producer.connect();
    const stream = await this.openStream();
    this.stream = stream;
    if (this.isStopping) return;
    this.mode = this.pauseReasons.size > 0 ? 'paused' : 'consuming';
    this.onJoin();
    this.attach(stream);
    this.logger.info(
      { topics: this.options.topics, groupId: this.options.groupId, mode: this.options.work.mode },
      `${this.options.name}: consuming`,
    );
  }

  private openStream(): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> {
    const s = this.settings;
    return this.consumer.consume({
      topics: this.options.topics,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: s.fromBeginning ? MessagesStreamFallbackModes.EARLIEST : MessagesStreamFallbackModes.LATEST,
      ...memberOptions(s),
    });
  }

  private attach(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    if (this.pauseReasons.size > 0) stream.pause();
    stream.on('data', (message: ClientMessage<Buffer, Buffer, Buffer, Buffer>) => {
      this.streamFailures = 0;
      this.take(message);
    });
    stream.on('error', (err: Error) => {
      if (this.isStopping || stream !== this.stream) return;
      void this.reopen(stream, err);
    });
  }

  /**
   * The stream gave up fetching (e.g. its partitions' leader went away and the client's retries
   * ran out before the new leader was known): a new stream from the committed offsets, after a
   * backoff. Work already taken goes on; messages it redelivers that are still ours are skipped,
   * as after a rejoin. Only after `streamRestarts` failures without a message between does the
   * stage fail.
   */
  private async reopen(failed: MessagesStream<Buffer, Buffer, Buffer, Buffer>, err: Error): Promise<void> {
    this.streamFailures += 1;
    if (this.streamFailures > this.settings.streamRestarts) {
      this.fail(err, `the consumer stream failed ${this.streamFailures} times in a row`);
      return;
    }
    const delay = Math.min(this.settings.produceRetryMaxMs, 1000 * 2 ** (this.streamFailures - 1));
    this.logger.warn(
      { err, attempt: this.streamFailures, retryInMs: delay },
      `${this.options.name}: the consumer stream failed; consuming again from the committed offsets`,
    );
    this.stream = undefined;
    await failed.close().catch(() => undefined);
    await abortableSleep(delay, this.abort.signal);
    if (this.isStopping || this.mode === 'failed') return;
    this.consumer.clearMetadata();
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    try {
      stream = await this.openStream();
    } catch (reopenError) {
      if (!this.isStopping)
        void this.reopen(failed, reopenError instanceof Error ? reopenError : new Error(String(reopenError)));
      return;
    }
    if (this.isStopping) {
      await stream.close().catch(() => undefined);
      return;
    }
    this.stream = stream;
    this.onJoin();
    this.attach(stream);
  }

  /** Pauses fetching for `reason` (work already taken goes on). */
  pause(reason: string): void {
    const first = this.pauseReasons.size === 0;
    this.pauseReasons.add(reason);
    if (!first) return;
    this.stream?.pause();
    if (this.mode === 'consuming') this.mode = 'paused';
  }

  /** Drops `reason`; fetching resumes when no reason is left (and the stage is not stopping). */
  resume(reason: string): void {
    if (!this.pauseReasons.delete(reason) || this.pauseReasons.size > 0) return;
    if (this.mode !== 'paused') return;
    this.mode = 'consuming';
    this.stream?.resume();
  }

  /**
   * Stops taking messages, finishes the work under way (for up to `stopGraceMs`, or not at all
   * with `abandon`), commits what is done, leaves the group and closes. What is not done stays
   * uncommitted and goes to the next member. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<StopSummary> {
    this.stopping ??= this.doStop(options);
    return this.stopping;
  }

  // ---------------------------------------------------------------------------------------------

  private get isStopping(): boolean {
    return this.mode === 'stopping' || this.mode === 'stopped' || this.stopping !== undefined;
  }

  private async doStop(options: StopOptions): Promise<StopSummary> {
    this.mode = 'stopping';
    this.stream?.pause();
    clearTimeout(this.batchTimer);
    clearTimeout(this.commitRetry);
    if (this.openBatch.length > 0) this.seal();
    // Messages not started are given up at once; the work under way may finish.
    this.waiting.length = 0;
    const grace = options.abandon ? 0 : this.settings.stopGraceMs;
    if (!(await this.quiet(grace))) {
      this.logger.warn(
        { pending: this.inFlight, graceMs: grace },
        `${this.options.name}: stopping; aborting the work under way (it stays uncommitted)`,
      );
      this.abort.abort(new AbandonedError(`${this.options.name} stopping`));
      this.sealed.length = 0;
      await Promise.allSettled([...this.running, this.batchRunning, this.producing]);
    }
    let abandoned = 0;
    for (const progress of this.partitions.values()) abandoned += progress.abandonUndone();
    this.inFlight = 0;
    await this.commitNow();
    // Whatever is still open will not be committed by this member.
    for (const progress of this.partitions.values())
      this.giveUp(progress.release(), new AbandonedError('not committed: the stage stopped first'));
    if (this.options.consumerLag) detachLagSource(this.options.consumerLag);
    try {
      await this.stream?.close();
      await this.consumer.close(true);
    } finally {
      if (this.ownsProducer) await this.producer.disconnect();
      this.joined = false;
      if (this.mode === 'stopping') this.mode = 'stopped';
    }
    if (abandoned > 0)
      this.logger.warn({ abandoned }, `${this.options.name}: stopped; uncommitted messages go to the next member`);
    else this.logger.info(`${this.options.name}: stopped`);
    return { abandoned };
  }

  private fail(err: Error, why: string): void {
    if (this.mode === 'failed') return;
    this.logger.error({ err }, `${this.options.name}: ${why}; stopping (uncommitted messages are redelivered)`);
    this.mode = 'failed';
    this.stream?.pause();
    this.options.onFatal?.(err);
  }

  /** Assignment changed (or first known): revoked partitions are given up, new ones start fresh. */
  private onJoin(): void {
    const assignments = this.consumer.assignments;
    if (assignments === null) return;
    if (this.consumer.generationId === this.lastGeneration) return;
    this.lastGeneration = this.consumer.generationId;
    this.joined = true;
    this.joinCount += 1;
    const now = new Set<string>();
    for (const { topic, partitions } of assignments) for (const p of partitions) now.add(key(topic, p));
    const next = new Map<string, PartitionProgress>();
    for (const k of now) {
      const [topic, partition] = k.split('|') as [string, string];
      next.set(k, this.partitions.get(k) ?? new PartitionProgress(topic, Number(partition)));
    }
    let revoked = 0;
    for (const [k, progress] of this.partitions) {
      if (now.has(k)) continue;
      const left = progress.release();
      revoked += left.length;
      this.inFlight -= left.filter((e) => !e.done).length;
      this.giveUp(left, new AbandonedError('not committed: the partition was revoked; its new owner redelivers it'));
    }
    this.partitions = next;
    this.partitionIndex = new Map();
    for (const progress of next.values()) {
      let list = this.partitionIndex.get(progress.topic);
      if (list === undefined) this.partitionIndex.set(progress.topic, (list = []));
      list[progress.partition] = progress;
    }
    this.logger.info(
      {
        groupId: this.options.groupId,
        generation: this.consumer.generationId,
        partitions: now.size,
        revokedInFlight: revoked,
      },
      `${this.options.name}: joined consumer group`,
    );
    this.afterProgress();
    this.scheduleCommit();
  }

  /** A fetched message: registered with its partition's progress, then handed to the callback. */
  private take(raw: ClientMessage<Buffer, Buffer, Buffer, Buffer>): void {
    if (this.isStopping || this.mode === 'failed') return;
    const progress = this.partitionIndex.get(raw.topic)?.[raw.partition];
    if (progress === undefined) return; // revoked since it was fetched: its new owner reads it
    const entry = progress.take(raw.offset, raw.leaderEpoch);
    if (entry === undefined) return; // taken before a rejoin; still ours
    const message: ConsumedMessage = {
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset.toString(),
      key: raw.key ?? null,
      value: raw.value ?? null,
      headers: fromHeaderMap(raw.headers),
      timestamp: Number(raw.timestamp),
    };
    this.inFlight += 1;
    this.options.onTake?.(message);
    if (this.inFlight >= this.settings.maxInFlight) this.pause('backpressure');
    const taken: Taken = { progress, entry, message };
    if (this.options.work.mode === 'message') {
      if (this.running.size < this.settings.concurrency) void this.runUnit([taken]);
      else this.waiting.push(taken);
      return;
    }
    this.openBatch.push(taken);
    if (this.openBatch.length >= this.settings.batchSize) this.seal();
    else if (this.openBatch.length === 1) this.batchTimer = setTimeout(() => this.seal(), this.settings.batchWaitMs);
  }

  private seal(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.openBatch.length === 0) return;
    this.sealed.push(this.openBatch);
    this.openBatch = [];
    this.nextBatch();
  }

  private nextBatch(): void {
    if (this.batchRunning !== undefined) return;
    const batch = this.sealed.shift();
    if (batch === undefined) return;
    this.batchRunning = this.runUnit(batch).finally(() => {
      this.batchRunning = undefined;
      if (!this.isStopping || this.sealed.length > 0) this.nextBatch();
      this.notifyIdle();
    });
  }

  /** Runs the callback for one unit; on success releases its entries for production. */
  private runUnit(taken: Taken[]): Promise<void> {
    const unit: Unit = { taken, result: undefined, unreleased: taken.length, open: taken.length, problem: undefined };
    for (const t of taken) this.units.set(t.entry, unit);
    const work = this.options.work;
    const signal = this.abort.signal;
    const call =
      work.mode === 'message'
        ? work.process(taken[0].message, signal)
        : work.process(
            taken.map((t) => t.message),
            signal,
          );
    // One reaction per unit: the result (or failure) is handled and, in message mode, the next
    // waiting message started in the same step.
    const done: Promise<void> = call.then(
      (result) => {
        try {
          unit.result = result;
          this.release(unit);
        } finally {
          if (work.mode === 'message') this.messageDone(done);
        }
      },
      (err: unknown) => {
        if (signal.aborted || err instanceof AbandonedError) {
          unit.problem = err; // left unprocessed: stop() gives it up
        } else {
          this.fail(err instanceof Error ? err : new Error(String(err)), 'a callback failed');
        }
        if (work.mode === 'message') this.messageDone(done);
      },
    );
    if (work.mode === 'message') this.running.add(done);
    return done;
  }

  /** Message mode: a callback finished; its place goes to the next waiting message. */
  private messageDone(done: Promise<void>): void {
    this.running.delete(done);
    const next = this.waiting.shift();
    if (next !== undefined && !this.isStopping) void this.runUnit([next]);
    this.notifyIdle();
  }

  /** Marks a unit's entries processed; queues every unit whose entries are all released, in order. */
  private release(unit: Unit): void {
    for (const t of unit.taken) {
      if (t.entry.abandoned) {
        // Its partition was revoked while the callback ran: nothing waits for it.
        unit.unreleased -= 1;
        if (unit.unreleased === 0) this.toProduce.push(unit);
        continue;
      }
      for (const ready of t.progress.processed(t.entry)) {
        const owner = this.units.get(ready)!;
        owner.unreleased -= 1;
        if (owner.unreleased === 0) this.toProduce.push(owner);
      }
    }
    this.scheduleProduce();
  }

  private scheduleProduce(): void {
    if (this.producing !== undefined || this.toProduce.length === 0) return;
    this.producing = this.produceLoop().finally(() => {
      this.producing = undefined;
      this.scheduleProduce();
      this.notifyIdle();
    });
  }

  /** Produces queued units' outputs, a send of up to `produceBatchSize` messages at a time, then marks them done. */
  private async produceLoop(): Promise<void> {
    while (this.toProduce.length > 0) {
      const units: Unit[] = [];
      const byTopic = new Map<string, TopicMessages>();
      let count = 0;
      while (this.toProduce.length > 0) {
        const next = this.toProduce[0];
        const pending = next.result?.produce;
        if (pending instanceof Promise) {
          try {
            next.result!.produce = await pending;
          } catch (err) {
            this.toProduce.shift();
            next.problem = err;
            if (!this.abort.signal.aborted && !(err instanceof AbandonedError))
              this.fail(err instanceof Error ? err : new Error(String(err)), 'a callback failed');
            continue;
          }
        }
        const list = (next.result?.produce ?? []) as TopicMessages[];
        const size = list.reduce((n, t) => n + t.messages.length, 0);
        if (units.length > 0 && count + size > this.settings.produceBatchSize) break;
        this.toProduce.shift();
        units.push(next);
        count += size;
        for (const t of list) {
          if (t.messages.length === 0) continue;
          let group = byTopic.get(t.topic);
          if (!group) byTopic.set(t.topic, (group = { topic: t.topic, messages: [] }));
          for (const m of t.messages) group.messages.push(m);
        }
      }
      if (count > 0) {
        try {
          await this.sendWithRetry([...byTopic.values()]);
        } catch (err) {
          for (const u of units) u.problem = err;
          return; // abandoned at stop: not done, not committed
        }
      }
      for (const unit of units) {
        try {
          unit.result?.acknowledged?.();
        } catch (err) {
          this.logger.error({ err }, 'an acknowledged callback threw');
        }
        for (const t of unit.taken) {
          if (t.entry.abandoned || t.entry.done) continue;
          t.progress.done(t.entry);
          this.inFlight -= 1;
        }
      }
      this.afterProgress();
      this.scheduleCommit();
    }
  }

  /** A send, retried with backoff while it fails (fetching paused meanwhile); rejects only when stop() aborts. */
  private async sendWithRetry(topicMessages: TopicMessages[]): Promise<void> {
    const { produceRetryInitialMs, produceRetryMaxMs } = this.settings;
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted) throw new AbandonedError('produce abandoned: stopping');
      try {
        await this.producer.send(topicMessages);
        this.resume('produce');
        return;
      } catch (err) {
        if (this.abort.signal.aborted) throw new AbandonedError('produce abandoned: stopping');
        const delay = Math.min(produceRetryMaxMs, produceRetryInitialMs * 2 ** (attempt - 1));
        this.pause('produce');
        this.logger.warn(
          { err, attempt, retryInMs: delay, errors: kafkaErrors(err).map((e) => e.type) },
          `${this.options.name}: produce failed; retrying (fetching paused)`,
        );
        await abortableSleep(delay, this.abort.signal);
      }
    }
  }

  private afterProgress(): void {
    if (this.inFlight < this.settings.maxInFlight) this.resume('backpressure');
    this.notifyIdle();
  }

  private scheduleCommit(): void {
    if (this.committing !== undefined) {
      this.commitAgain = true;
      return;
    }
    this.committing = this.commitLoop().finally(() => {
      this.committing = undefined;
      this.notifyIdle();
    });
  }

  /** Commits every partition whose committable offset moved; one request at a time. */
  private async commitLoop(): Promise<void> {
    do {
      this.commitAgain = false;
      const due = [...this.partitions.values()].filter((p) => p.needsCommit);
      if (due.length === 0) return;
      const offsets = due.map((p) => ({
        topic: p.topic,
        partition: p.partition,
        offset: p.committable!,
        leaderEpoch: p.committableEpoch,
      }));
      try {
        await this.consumer.commit({ offsets });
      } catch (err) {
        // A rebalance: the join that follows commits again, for the partitions still assigned.
        // Anything else (the coordinator moving): retried shortly.
        if (needsRejoin(err)) {
          this.logger.info(
            { partitions: offsets.length },
            `${this.options.name}: offset commit refused during a rebalance; committing again after rejoining`,
          );
        } else {
          this.logger.warn({ err, partitions: offsets.length }, `${this.options.name}: offset commit failed; retrying`);
          if (!this.isStopping) this.commitRetry = setTimeout(() => this.scheduleCommit(), 1000);
        }
        return;
      }
      for (let i = 0; i < due.length; i++) {
        const progress = due[i];
        if (this.partitions.get(key(progress.topic, progress.partition)) !== progress) continue; // revoked meanwhile
        this.settle(progress.commitSucceeded(offsets[i].offset));
      }
    } while (this.commitAgain);
  }

  /** At stop: one last commit of what is done, waiting for one under way. */
  private async commitNow(): Promise<void> {
    if (this.committing) await this.committing;
    this.scheduleCommit();
    await this.committing;
  }

  /** Entries now committed: a unit whose last one this was is settled. */
  private settle(entries: Entry[]): void {
    for (const entry of entries) {
      const unit = this.units.get(entry);
      if (unit === undefined) continue;
      unit.open -= 1;
      if (unit.open === 0) callSettled(unit, this.logger);
    }
  }

  /** Entries this member will not commit: their units are settled with `problem`. */
  private giveUp(entries: Entry[], problem: unknown): void {
    for (const entry of entries) {
      const unit = this.units.get(entry);
      if (unit === undefined) continue;
      unit.problem ??= problem;
      unit.open -= 1;
      if (unit.open === 0) callSettled(unit, this.logger);
    }
  }

  /**
   * Nothing runs: no callback (none waits to start), nothing to produce, no commit. At stop, what
   * is then not done can never be (it waits behind a message given up) and is left uncommitted.
   */
  private get isQuiet(): boolean {
    return (
      this.running.size === 0 &&
      this.waiting.length === 0 &&
      this.batchRunning === undefined &&
      this.sealed.length === 0 &&
      this.toProduce.length === 0 &&
      !this.producing &&
      !this.committing
    );
  }

  /** Resolves true once {@link isQuiet}; false after `timeoutMs`. */
  private quiet(timeoutMs: number): Promise<boolean> {
    if (this.isQuiet) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.add(waiter);
    });
  }

  private notifyIdle(): void {
    if (!this.isQuiet) return;
    for (const waiter of this.idleWaiters) waiter();
    this.idleWaiters.clear();
  }
}

/** The group membership and fetch settings, for the consumer and for each stream it opens. */
function memberOptions(s: StageSettings) {
  return {
    autocommit: false,
    sessionTimeout: s.sessionTimeoutMs,
    heartbeatInterval: s.heartbeatIntervalMs,
    rebalanceTimeout: s.rebalanceTimeoutMs,
    maxWaitTime: s.maxWaitMs,
    maxBytes: s.maxBytes,
    maxBytesPerPartition: s.maxBytesPerPartition,
  };
}

function callSettled(unit: Unit, logger: Logger): void {
  try {
    unit.result?.settled?.(unit.problem);
  } catch (err) {
    logger.error({ err }, 'a settled callback threw');
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
