/**
 * The stage's settings, with their defaults written once here. A service maps its own
 * environment variables onto them (e.g. `FETCHER_SESSION_TIMEOUT_MS` → `sessionTimeoutMs`) and
 * {@link resolveStageSettings} fills in the rest, once, at construction.
 *
 * @module
 */
import { z } from 'zod';

const positive = z.number().int().positive();
const nonNegative = z.number().int().nonnegative();

export const stageSettingsSchema = z.object({
  /** Group session timeout: a member that stops heart-beating loses its partitions after this long. */
  sessionTimeoutMs: positive.default(30_000),
  /** Heartbeats to the group coordinator, sent by the client on its own timer, also during long work. */
  heartbeatIntervalMs: positive.default(3_000),
  /** How long the coordinator waits for every member to rejoin in a rebalance. */
  rebalanceTimeoutMs: positive.default(60_000),
  /** The broker holds an empty fetch this long (it bounds how long a stop waits for one). */
  maxWaitMs: positive.default(1_000),
  /** Bytes one fetch may return per partition. */
  maxBytesPerPartition: positive.default(1024 * 1024),
  /** Bytes one fetch may return in all. */
  maxBytes: positive.default(10 * 1024 * 1024),
  /** A group without a committed offset starts at the earliest offset (true) or the latest. */
  fromBeginning: z.boolean().default(true),
  /**
   * Backpressure: messages taken and not yet done (processed, produced, committed) above which
   * fetching pauses, until they are back under it.
   */
  maxInFlight: positive.default(2_000),
  /** Message mode: callbacks running at once; further messages wait (not started) in the stage. */
  concurrency: positive.default(256),
  /** Batch mode: messages per batch, at most. */
  batchSize: positive.default(500),
  /** Batch mode: a batch that did not fill up is processed this long after its first message. */
  batchWaitMs: nonNegative.default(100),
  /** Messages produced in one send, at most (each partition's share must fit the broker's message.max.bytes). */
  produceBatchSize: positive.default(5_000),
  /** First wait before retrying a failed produce (the client already retried it). */
  produceRetryInitialMs: positive.default(500),
  /** Longest wait between produce retries. */
  produceRetryMaxMs: positive.default(10_000),
  /** Times in a row the consumer stream may fail and be opened again (waits from 1 s, doubling, at most produceRetryMaxMs) before the stage fails. */
  streamRestarts: nonNegative.default(10),
  /** On stop, how long work under way may finish before it is aborted and left uncommitted. */
  stopGraceMs: nonNegative.default(5_000),
});

export type StageSettings = z.output<typeof stageSettingsSchema>;
export type StageSettingsInput = z.input<typeof stageSettingsSchema>;

/** Fills in the defaults; throws naming the setting that is wrong. */
export function resolveStageSettings(input: StageSettingsInput = {}): StageSettings {
  const parsed = stageSettingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(
      `invalid stage settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}
