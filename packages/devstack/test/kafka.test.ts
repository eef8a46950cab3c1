import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { createKafka, createLogger, ensureTopics } from '@mockstagram/shared';

/**
 * The devstack's broker behaves like a real Kafka cluster for what the pipeline relies on:
 * keyed partitioning with per-key order, idempotent acks=all producers, consumer groups whose
 * committed offsets survive the consumer. Talks to KAFKA_BROKERS (default 127.0.0.1:9092);
 * the jest globalSetup starts the devstack broker when that variable is not set.
 */

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const PARTITIONS = 12;
const KEYS = 100;
const FIRST_ROUND = 10_000; // 100 messages per key
const SECOND_ROUND = 1_000; // 10 more per key
const BATCH = 500;

const runId = `${Date.now()}-${crypto.randomBytes(3).toString('hex')}`;
const topic = `devstack-test.kafka-${runId}`;
const groupId = `devstack-test-group-${runId}`;

const kafka = new Kafka({ clientId: 'devstack-kafka-test', brokers, logLevel: logLevel.WARN });

interface Received {
  key: string;
  seq: number;
  partition: number;
  offset: string;
}

/** Wait until check() is true, polling; fail with describe() after timeoutMs. */
async function until(check: () => boolean, describe: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s: ${describe()}`);
    await sleep(50);
  }
}

/** Produce `perKey` messages for each key k0..k99, seq from firstSeq, in batches of BATCH, in order. */
async function produce(producer: Producer, firstSeq: number, perKey: number): Promise<void> {
  const messages = [];
  for (let seq = firstSeq; seq < firstSeq + perKey; seq++) {
    for (let k = 0; k < KEYS; k++) {
      messages.push({ key: `k${k}`, value: JSON.stringify({ key: `k${k}`, seq }) });
    }
  }
  // Sequential sends: a key's messages are acknowledged in the order they were produced.
  for (let i = 0; i < messages.length; i += BATCH) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + BATCH) });
  }
}

/** Start a consumer in groupId that records every message it sees; resolves after it joined the group. */
async function startConsumer(received: Received[]): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const joined = new Promise<void>((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolve();
    });
  });
  await consumer.connect();
  // fromBeginning only applies when the group has no committed offset.
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const value = JSON.parse(message.value!.toString()) as { key: string; seq: number };
      expect(message.key!.toString()).toBe(value.key);
      received.push({ key: value.key, seq: value.seq, partition, offset: message.offset });
    },
  });
  await joined;
  return consumer;
}

/** Per key, the sequence numbers in the order they were received. */
function seqsByKey(received: Received[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const r of received) {
    const seqs = byKey.get(r.key) ?? [];
    seqs.push(r.seq);
    byKey.set(r.key, seqs);
  }
  return byKey;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

async function committedTotal(admin: Admin): Promise<number> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return committed.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

describe('devstack Kafka broker', () => {
  let admin: Admin;
  let producer: Producer;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
  });

  afterAll(async () => {
    for (const consumer of consumers) await consumer.disconnect().catch(() => undefined);
    await producer?.disconnect();
    if (admin) {
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('delivers keyed messages exactly once, in per-key order, and a group resumes from its committed offsets', async () => {
    // ensureTopics waits until every partition's leader serves the new topic; kafkajs' waitForLeaders
    // does not, and on a cluster the next metadata request can reach a broker that does not know it yet.
    await ensureTopics(
      createKafka({ brokers, clientId: 'devstack-kafka-test', logger: createLogger('test', 'silent') }),
      [{ topic, numPartitions: PARTITIONS }],
    );
    const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(meta.partitions).toHaveLength(PARTITIONS);

    // Round 1: 10,000 messages, one consumer.
    await produce(producer, 0, FIRST_ROUND / KEYS);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(FIRST_ROUND);
    // Keys are spread over the partitions (100 keys over 12 partitions, murmur2).
    expect(offsets.filter((p) => Number(p.high) > 0).length).toBeGreaterThan(PARTITIONS / 2);

    const first: Received[] = [];
    const consumer1 = await startConsumer(first);
    consumers.push(consumer1);
    await until(
      () => first.length >= FIRST_ROUND,
      () => `consumer 1 received ${first.length} of ${FIRST_ROUND}`,
    );
    await consumer1.disconnect(); // stops fetching, commits what it processed, leaves the group

    expect(first).toHaveLength(FIRST_ROUND);
    const firstByKey = seqsByKey(first);
    expect(firstByKey.size).toBe(KEYS);
    for (const [key, seqs] of firstByKey) {
      // Every message exactly once and in the order produced.
      expect({ key, seqs }).toEqual({ key, seqs: range(0, FIRST_ROUND / KEYS) });
      // All of a key's messages sit in one partition.
      expect(new Set(first.filter((r) => r.key === key).map((r) => r.partition)).size).toBe(1);
    }
    expect(new Set(first.map((r) => `${r.partition}:${r.offset}`)).size).toBe(FIRST_ROUND);
    expect(await committedTotal(admin)).toBe(FIRST_ROUND);

    // Round 2: 1,000 more while nobody consumes; a new consumer in the same group gets only those.
    await produce(producer, FIRST_ROUND / KEYS, SECOND_ROUND / KEYS);
    const second: Received[] = [];
    const consumer2 = await startConsumer(second);
    consumers.push(consumer2);
    await until(
      () => second.length >= SECOND_ROUND,
      () => `consumer 2 received ${second.length} of ${SECOND_ROUND}`,
    );
    await consumer2.disconnect();

    expect(second).toHaveLength(SECOND_ROUND);
    const secondByKey = seqsByKey(second);
    expect(secondByKey.size).toBe(KEYS);
    for (const [key, seqs] of secondByKey) {
      expect({ key, seqs }).toEqual({ key, seqs: range(FIRST_ROUND / KEYS, (FIRST_ROUND + SECOND_ROUND) / KEYS) });
    }
    expect(await committedTotal(admin)).toBe(FIRST_ROUND + SECOND_ROUND);
  });
});
