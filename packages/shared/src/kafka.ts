/**
 * Kafka (kafkajs): client, producer, topic admin and batch produce.
 *
 * Delivery: the producer is idempotent and every send waits for `acks = -1` (all in-sync
 * replicas). kafkajs uses `-1` as the default for `send` / `sendBatch` and *refuses* any other
 * value on an idempotent producer, so a send that resolved is durably stored and a retried send
 * is not written twice.
 *
 * @module
 */
import {
  CompressionTypes,
  Kafka,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Admin,
  type LogEntry,
  type Message,
  type Producer,
  type ProducerConfig,
  type RecordMetadata,
} from 'kafkajs';
import type { Logger } from './logger';

export { CompressionTypes };

export interface CreateKafkaOptions {
  /** `host:port` list, e.g. `config.KAFKA_BROKERS`. */
  brokers: string[];
  /** Shows up in broker logs and quotas; use `config.KAFKA_CLIENT_ID ?? '<service>'`. */
  clientId: string;
  /** kafkajs' own log lines are written through `logger.child({ component: 'kafkajs' })`, at the same level. */
  logger: Logger;
  /** TCP connect timeout per broker. Default 3000 ms (kafkajs' 1000 ms is tight on a busy 2-core machine). */
  connectionTimeoutMs?: number;
  /** Per-request timeout. Default 30 000 ms. */
  requestTimeoutMs?: number;
}

/**
 * Creates the kafkajs client.
 *
 * Retries (for connects, metadata, consumer and admin requests): up to 8 retries, starting at
 * 300 ms and doubling to at most 30 s between tries, ~2 minutes in all — long enough to ride
 * out a broker restart or leader election. Producers inherit these retries too (see
 * {@link createProducer}).
 */
export function createKafka(options: CreateKafkaOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 30_000, factor: 0.2, multiplier: 2 },
    logLevel: kafkaLogLevel(log.level),
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...fields } = entry;
        const method = level === KafkaLogLevel.ERROR ? 'error' : level === KafkaLogLevel.WARN ? 'warn' : level === KafkaLogLevel.INFO ? 'info' : 'debug';
        log[method]({ namespace, ...fields }, message);
      },
  });
}

/** pino level → the kafkajs level that lets the same lines through. */
function kafkaLogLevel(level: string): KafkaLogLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return KafkaLogLevel.DEBUG;
    case 'info':
      return KafkaLogLevel.INFO;
    case 'warn':
      return KafkaLogLevel.WARN;
    case 'silent':
      return KafkaLogLevel.NOTHING;
    default:
      return KafkaLogLevel.ERROR;
  }
}

export interface CreateProducerOptions {
  /** Extra kafkajs producer options (e.g. `transactionTimeout`); ours win for the delivery settings. */
  extra?: Omit<ProducerConfig, 'idempotent' | 'maxInFlightRequests'>;
}

/**
 * Creates an idempotent producer (not yet connected; call `await producer.connect()`).
 *
 * - `idempotent: true`: the broker drops a batch it already has (per partition sequence numbers),
 *   so retries after a lost ack do not duplicate. A send retries with the client's policy (8
 *   retries, ~2 minutes; kafkajs logs once that limiting an idempotent producer's retries is its
 *   caller's business): during a broker outage a send waits, and if the outage outlasts that it
 *   fails — the caller has not committed the offsets of what it was sending, so the input is
 *   consumed again (the result-handler also retries its DLQ produce itself).
 * - `maxInFlightRequests: 1`: kafkajs (unlike the Java client, which allows up to 5) does not
 *   re-sequence in-flight batches after an error, and already serializes produce requests per
 *   broker for an idempotent producer; one in flight keeps ordering and sequences safe.
 *   Throughput comes from batching: send many messages per call ({@link produceMany}).
 * - acks: always -1 (all in-sync replicas), see the module comment.
 * - Partitioner: kafkajs' DefaultPartitioner (murmur2, same as the Java client: a key lands on
 *   the same partition whichever client produced it).
 * - `allowAutoTopicCreation: false`: topics are created with the right partition count by
 *   {@link ensureTopics}, never implicitly with the broker's default of 1.
 */
export function createProducer(kafka: Kafka, options: CreateProducerOptions = {}): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    ...options.extra,
    idempotent: true,
    maxInFlightRequests: 1,
  });
}

export interface TopicMessages {
  topic: string;
  messages: Message[];
}

export interface ProduceManyOptions {
  /** Default `CompressionTypes.None` (CPU is scarcer than bandwidth on the dev machines). */
  compression?: CompressionTypes;
  /** Broker-side wait for the in-sync replicas, ms. Default 30 000. */
  timeoutMs?: number;
}

/**
 * Produces many messages, to one or several topics, in ONE `sendBatch` call (one produce request
 * per broker), with `acks: -1`. Resolves when every message is acknowledged, so committing the
 * consumed offsets afterwards is safe. Returns kafkajs' per-partition metadata.
 *
 * Size: each partition's share of the batch must fit the broker's `message.max.bytes` (1 MiB by
 * default) — about 5,000 of our ~200-byte messages per partition. Split larger batches.
 */
export async function produceMany(
  producer: Producer,
  topicMessages: TopicMessages | TopicMessages[],
  options: ProduceManyOptions = {},
): Promise<RecordMetadata[]> {
  const list = (Array.isArray(topicMessages) ? topicMessages : [topicMessages]).filter((t) => t.messages.length > 0);
  if (list.length === 0) return [];
  return producer.sendBatch({
    topicMessages: list,
    acks: -1,
    timeout: options.timeoutMs ?? 30_000,
    compression: options.compression ?? CompressionTypes.None,
  });
}

// ---------------------------------------------------------------------------------------------

export interface TopicSpec {
  topic: string;
  numPartitions: number;
}

export interface EnsureTopicsOptions {
  /** Replication factor for created topics. Default -1: the broker's `default.replication.factor`. */
  replicationFactor?: number;
  /** `min.insync.replicas` of created topics. Default: none set, the broker's `min.insync.replicas`. */
  minInsyncReplicas?: number;
  /** Give up waiting for topics and partition leaders after this long. Default 60 000 ms. */
  timeoutMs?: number;
  logger?: Logger;
}

/** The replication settings of kafkaEnv (`KAFKA_TOPIC_REPLICATION_FACTOR`, `KAFKA_TOPIC_MIN_INSYNC_REPLICAS`) as {@link ensureTopics} options. */
export function topicReplication(config: {
  KAFKA_TOPIC_REPLICATION_FACTOR: number;
  KAFKA_TOPIC_MIN_INSYNC_REPLICAS?: number;
}): Pick<EnsureTopicsOptions, 'replicationFactor' | 'minInsyncReplicas'> {
  return { replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR, minInsyncReplicas: config.KAFKA_TOPIC_MIN_INSYNC_REPLICAS };
}

/**
 * Makes sure each topic exists with at least `numPartitions` partitions, and that every
 * partition has a leader that serves it (answers ListOffsets), then resolves. Idempotent: safe to call from every service at start,
 * also at the same moment (a "topic already exists" race with another service is not an error).
 *
 * - Missing topic → created with `numPartitions`, `replicationFactor` and, when given,
 *   `min.insync.replicas` (else the broker's defaults for both).
 * - Existing topic with fewer replicas than `replicationFactor` → left alone, with a warning
 *   (Kafka changes a topic's replication only by partition reassignment).
 * - Fewer partitions → grown to `numPartitions` (Kafka cannot shrink; note that growing moves
 *   some keys to new partitions, so per-key order holds only from then on).
 * - More partitions → left alone (logged).
 *
 * @throws Error naming the topics still missing or leaderless after `timeoutMs`; at once when
 *   `minInsyncReplicas` is more than the replicas a created topic has (every acks=all write to it
 *   would fail).
 */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[], options: EnsureTopicsOptions = {}): Promise<void> {
  if (topics.length === 0) return;
  const { replicationFactor = -1, minInsyncReplicas, timeoutMs = 60_000, logger } = options;
  if (minInsyncReplicas !== undefined && replicationFactor > 0 && minInsyncReplicas > replicationFactor) {
    throw new Error(
      `min.insync.replicas ${minInsyncReplicas} is more than the replication factor ${replicationFactor}: every acks=all write would fail. ` +
        'Lower KAFKA_TOPIC_MIN_INSYNC_REPLICAS or raise KAFKA_TOPIC_REPLICATION_FACTOR.',
    );
  }
  const configEntries = minInsyncReplicas === undefined ? [] : [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }];
  const deadline = Date.now() + timeoutMs;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      try {
        const created = await admin.createTopics({
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions, replicationFactor, configEntries })),
          waitForLeaders: true,
          timeout: timeoutMs,
        });
        logger?.info({ topics: missing.map((t) => t.topic), created }, created ? 'created kafka topics' : 'kafka topics already existed');
      } catch (err) {
        const refused = refusedSettings(err);
        if (refused.length > 0) {
          const { brokers } = await admin.describeCluster();
          throw new TopicSettingsError(
            `kafka refused to create ${missing.map((t) => t.topic).join(', ')}: ${refused.join('; ')} ` +
              `(replication factor ${replicationFactor === -1 ? "the broker's" : replicationFactor}, min.insync.replicas ${minInsyncReplicas ?? "the broker's"}, ` +
              `on a cluster of ${brokers.length} brokers). Check KAFKA_TOPIC_REPLICATION_FACTOR and KAFKA_TOPIC_MIN_INSYNC_REPLICAS.`,
          );
        }
        // Another service may have created some of them meanwhile; anything else shows up below.
        logger?.debug({ err }, 'createTopics failed; re-checking');
      }
    }

    for (;;) {
      // Right after a create, the broker may not know a new topic's partitions yet
      // (UNKNOWN_TOPIC_OR_PARTITION): not ready yet, asked again.
      const wanted = { replicationFactor, minInsyncReplicas, created: new Set(missing.map((t) => t.topic)) };
      const pending = await checkTopics(admin, topics, wanted, logger).catch((err: unknown) => {
        if (err instanceof TopicSettingsError) throw err;
        return [`metadata: ${err instanceof Error ? err.message : String(err)}`];
      });
      if (pending.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`kafka topics not ready after ${timeoutMs} ms: ${pending.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Topic settings the cluster cannot honour: waiting cannot help. */
class TopicSettingsError extends Error {}

/** Errors of a createTopics call that say the settings are wrong (not a race with another creator). */
function refusedSettings(err: unknown): string[] {
  const errors = (err as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  const fatal = new Set(['INVALID_REPLICATION_FACTOR', 'INVALID_CONFIG', 'POLICY_VIOLATION', 'INVALID_PARTITIONS']);
  return errors
    .filter((e: { type?: string }) => e.type !== undefined && fatal.has(e.type))
    .map((e: { type: string; message: string }) => `${e.type}: ${e.message}`);
}

/** Grows topics that need it; returns what is still not ready (empty when all are). */
async function checkTopics(
  admin: Admin,
  topics: TopicSpec[],
  wanted: { replicationFactor: number; minInsyncReplicas?: number; created: Set<string> },
  logger: Logger | undefined,
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const pending: string[] = [];
  const present = topics.filter((t) => {
    if (existing.has(t.topic)) return true;
    pending.push(`${t.topic} does not exist`);
    return false;
  });
  if (present.length === 0) return pending;

  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: present.map((t) => t.topic) });
  for (const spec of present) {
    const meta = metadata.find((m) => m.name === spec.topic);
    const count = meta?.partitions.length ?? 0;
    if (count < spec.numPartitions) {
      try {
        await admin.createPartitions({ topicPartitions: [{ topic: spec.topic, count: spec.numPartitions }] });
        logger?.info({ topic: spec.topic, from: count, to: spec.numPartitions }, 'grew kafka topic partitions');
      } catch (err) {
        logger?.debug({ err, topic: spec.topic }, 'createPartitions failed; re-checking'); // e.g. another service grew it
      }
      pending.push(`${spec.topic} has ${count} of ${spec.numPartitions} partitions`);
      continue;
    }
    if (count > spec.numPartitions) {
      logger?.debug({ topic: spec.topic, partitions: count, wanted: spec.numPartitions }, 'topic has more partitions than configured; keeping them');
    }
    const replicas = Math.min(...meta!.partitions.map((p) => p.replicas.length));
    if (wanted.minInsyncReplicas !== undefined && wanted.created.has(spec.topic) && replicas < wanted.minInsyncReplicas) {
      throw new TopicSettingsError(
        `topic ${spec.topic} has ${replicas} replicas (the broker's default.replication.factor), fewer than min.insync.replicas ` +
          `${wanted.minInsyncReplicas}: every acks=all write would fail. Lower KAFKA_TOPIC_MIN_INSYNC_REPLICAS or set KAFKA_TOPIC_REPLICATION_FACTOR.`,
      );
    }
    if (wanted.replicationFactor > 0 && replicas < wanted.replicationFactor) {
      logger?.warn(
        { topic: spec.topic, replicas, wanted: wanted.replicationFactor },
        'kafka topic has fewer replicas than KAFKA_TOPIC_REPLICATION_FACTOR; keeping them (reassign its partitions to change it)',
      );
    }
    const leaderless = meta!.partitions.filter((p) => p.leader < 0).length;
    if (leaderless > 0) {
      pending.push(`${spec.topic} has ${leaderless} partitions without a leader`);
      continue;
    }
    // Metadata names a leader a moment before that broker serves the partition: until then
    // ListOffsets answers NOT_LEADER_FOR_PARTITION, and a consumer that starts now rejoins its
    // group over and over. Ready means every leader answers for its partitions.
    try {
      await admin.fetchTopicOffsets(spec.topic);
    } catch (err) {
      pending.push(`${spec.topic}: leaders not serving yet (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return pending;
}
