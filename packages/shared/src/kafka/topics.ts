/**
 * Topic admin: {@link ensureTopics} makes the services' topics exist with the configured
 * partitions and replication, and waits until every partition's leader serves it.
 *
 * @module
 */
import { Admin } from '@platformatic/kafka';
import type { Logger } from '../logger';
import { baseOptions, type KafkaClient } from './client';
import { kafkaErrors } from './errors';

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
  return {
    replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR,
    minInsyncReplicas: config.KAFKA_TOPIC_MIN_INSYNC_REPLICAS,
  };
}

/** Creates an admin client; close it with `await admin.close()`. */
export function createAdmin(kafka: KafkaClient): Admin {
  return new Admin(baseOptions(kafka, '-admin'));
}

/**
 * Makes sure each topic exists with at least `numPartitions` partitions, and that every
 * partition has a leader that serves it (answers ListOffsets), then resolves. Idempotent: safe
 * to call from every service at start, also at the same moment (a "topic already exists" race
 * with another service is not an error).
 *
 * - Missing topic → created with `numPartitions`, `replicationFactor` and, when given,
 *   `min.insync.replicas` (else the broker's defaults for both).
 * - Existing topic with fewer replicas than `replicationFactor` → left alone, with a warning
 *   (Kafka changes a topic's replication only by partition reassignment).
 * - Fewer partitions → grown to `numPartitions` (Kafka cannot shrink; growing moves some keys to
 *   new partitions, so per-key order holds only from then on).
 * - More partitions → left alone (logged).
 *
 * @throws Error naming the topics still missing or leaderless after `timeoutMs`; at once when
 *   the cluster refuses the replication settings (every acks=all write would fail).
 */
export async function ensureTopics(
  kafka: KafkaClient,
  topics: TopicSpec[],
  options: EnsureTopicsOptions = {},
): Promise<void> {
  if (topics.length === 0) return;
  const { replicationFactor = -1, minInsyncReplicas, timeoutMs = 60_000, logger } = options;
  if (minInsyncReplicas !== undefined && replicationFactor > 0 && minInsyncReplicas > replicationFactor) {
    throw new Error(
      `min.insync.replicas ${minInsyncReplicas} is more than the replication factor ${replicationFactor}: every acks=all write would fail. ` +
        'Lower KAFKA_TOPIC_MIN_INSYNC_REPLICAS or raise KAFKA_TOPIC_REPLICATION_FACTOR.',
    );
  }
  const configs =
    minInsyncReplicas === undefined ? [] : [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }];
  const deadline = Date.now() + timeoutMs;
  const admin = createAdmin(kafka);
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    for (const spec of missing) {
      // One request per topic: a topic another service created meanwhile fails alone.
      try {
        await admin.createTopics({
          topics: [spec.topic],
          partitions: spec.numPartitions,
          replicas: replicationFactor,
          configs,
        });
        logger?.info({ topic: spec.topic, partitions: spec.numPartitions }, 'created kafka topic');
      } catch (err) {
        const refused = kafkaErrors(err).filter((e) => REFUSED.has(e.type));
        if (refused.length > 0) {
          const metadata = await admin.metadata({ topics: [] });
          throw new TopicSettingsError(
            `kafka refused to create ${spec.topic}: ${refused.map((e) => `${e.type}: ${e.message}`).join('; ')} ` +
              `(replication factor ${replicationFactor === -1 ? "the broker's" : replicationFactor}, min.insync.replicas ${minInsyncReplicas ?? "the broker's"}, ` +
              `on a cluster of ${metadata.brokers.size} brokers). Check KAFKA_TOPIC_REPLICATION_FACTOR and KAFKA_TOPIC_MIN_INSYNC_REPLICAS.`,
          );
        }
        // Another service may have created it meanwhile; anything else shows up below.
        logger?.debug({ err, topic: spec.topic }, 'createTopics failed; re-checking');
      }
    }

    const wanted = { replicationFactor, minInsyncReplicas, created: new Set(missing.map((t) => t.topic)) };
    for (;;) {
      // Right after a create, the broker may not know a new topic's partitions yet
      // (UNKNOWN_TOPIC_OR_PARTITION): not ready yet, asked again.
      const pending = await checkTopics(admin, topics, wanted, logger).catch((err: unknown) => {
        if (err instanceof TopicSettingsError) throw err;
        return [`metadata: ${err instanceof Error ? err.message : String(err)}`];
      });
      if (pending.length === 0) return;
      if (Date.now() > deadline) throw new Error(`kafka topics not ready after ${timeoutMs} ms: ${pending.join('; ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.close();
  }
}

/** createTopics errors that say the settings are wrong (not a race with another creator). */
const REFUSED = new Set(['INVALID_REPLICATION_FACTOR', 'INVALID_CONFIG', 'POLICY_VIOLATION', 'INVALID_PARTITIONS']);

/** Topic settings the cluster cannot honour: waiting cannot help. */
class TopicSettingsError extends Error {}

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

  const metadata = await admin.metadata({ topics: present.map((t) => t.topic), forceUpdate: true });
  for (const spec of present) {
    const meta = metadata.topics.get(spec.topic);
    const count = meta?.partitionsCount ?? 0;
    if (count < spec.numPartitions) {
      try {
        await admin.createPartitions({ topics: [{ name: spec.topic, count: spec.numPartitions }] });
        logger?.info({ topic: spec.topic, from: count, to: spec.numPartitions }, 'grew kafka topic partitions');
      } catch (err) {
        logger?.debug({ err, topic: spec.topic }, 'createPartitions failed; re-checking'); // e.g. another service grew it
      }
      pending.push(`${spec.topic} has ${count} of ${spec.numPartitions} partitions`);
      continue;
    }
    if (count > spec.numPartitions) {
      logger?.debug(
        { topic: spec.topic, partitions: count, wanted: spec.numPartitions },
        'topic has more partitions than configured; keeping them',
      );
    }
    const partitions = meta!.partitions;
    const replicas = Math.min(...partitions.map((p) => p.replicas.length));
    if (
      wanted.minInsyncReplicas !== undefined &&
      wanted.created.has(spec.topic) &&
      replicas < wanted.minInsyncReplicas
    ) {
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
    const leaderless = partitions.filter((p) => p.leader < 0).length;
    if (leaderless > 0) {
      pending.push(`${spec.topic} has ${leaderless} partitions without a leader`);
      continue;
    }
    // Metadata names a leader a moment before that broker serves the partition: until then
    // ListOffsets answers NOT_LEADER_OR_FOLLOWER, and a consumer that starts now rejoins its
    // group over and over. Ready means every leader answers for its partitions.
    try {
      await admin.listOffsets({
        topics: [{ name: spec.topic, partitions: partitions.map((_, i) => ({ partitionIndex: i, timestamp: -1n })) }],
      });
    } catch (err) {
      pending.push(`${spec.topic}: leaders not serving yet (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return pending;
}
