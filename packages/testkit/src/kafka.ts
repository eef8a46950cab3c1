/**
 * The test run's Kafka broker: clients for it, and uniquely named topics.
 *
 * @module
 */
import { Kafka, logLevel } from 'kafkajs';
import { createKafka, createLogger, ensureTopics, type KafkaClient } from '@mockstagram/shared';
import { uniqueName } from './names';

/** The brokers the test run uses (set by test/global-setup.ts). */
export const kafkaBrokers = (): string[] => (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** A kafkajs client of the test run's broker (admin, plain producers and consumers), logging nothing. */
export function testKafka(clientId = uniqueName('test')): Kafka {
  return new Kafka({ clientId, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
}

/** The shared Kafka settings (`createKafka`) for the test run's broker, for `ensureTopics`, `createProducer` and the stage. */
export function testKafkaClient(clientId = uniqueName('test')): KafkaClient {
  return createKafka({ brokers: kafkaBrokers(), clientId, logger: createLogger('test', 'silent') });
}

/** Create uniquely named topics (prefix → name) with the given partitions; delete them with the returned function. */
export async function createTopics(
  prefixes: string[],
  numPartitions = 12,
): Promise<{ names: string[]; remove: () => Promise<void> }> {
  const names = prefixes.map((p) => uniqueName(p).replace(/_/g, '.'));
  // ensureTopics, not kafkajs' createTopics with waitForLeaders: that one fails when the broker
  // does not know a just-created topic yet (UNKNOWN_TOPIC_OR_PARTITION) instead of asking again.
  // The broker's default replication (and min.insync.replicas): 1 on one broker, 3 (and 2) on the
  // devstack's three-node cluster, so tests against either see topics like the services create.
  await ensureTopics(
    testKafkaClient(),
    names.map((topic) => ({ topic, numPartitions })),
    { replicationFactor: -1 },
  );
  return {
    names,
    remove: async () => {
      const a = testKafka().admin();
      await a.connect();
      try {
        await a.deleteTopics({ topics: names });
      } finally {
        await a.disconnect();
      }
    },
  };
}
