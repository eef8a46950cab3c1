import { Writable } from 'node:stream';
import { Partitioners } from 'kafkajs';
import { kafkaBrokers, testKafka, uniqueName } from '@mockstagram/testkit';
import { createKafka, createProducer, ensureTopics, produceMany } from '../src/kafka';
import { createLogger } from '../src/logger';

const logger = createLogger('kafka-test', 'silent');
const topicName = (p: string) => uniqueName(p).replace(/_/g, '.');

describe('kafka helpers (real broker)', () => {
  const created: string[] = [];
  const admin = testKafka().admin();

  beforeAll(() => admin.connect());
  afterAll(async () => {
    if (created.length > 0) await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  });

  const partitionsOf = async (topic: string) => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0].partitions;
  };

  it('creates missing topics with leaders on every partition, also when two services race', async () => {
    const jobs = topicName('test.jobs');
    const results = topicName('test.results');
    created.push(jobs, results);
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: 'test', logger });
    const specs = [
      { topic: jobs, numPartitions: 12 },
      { topic: results, numPartitions: 4 },
    ];
    await Promise.all([ensureTopics(kafka, specs), ensureTopics(kafka, specs), ensureTopics(kafka, specs)]);
    const p = await partitionsOf(jobs);
    expect(p).toHaveLength(12);
    expect(p.every((x) => x.leader >= 0)).toBe(true);
    expect(await partitionsOf(results)).toHaveLength(4);
    await ensureTopics(kafka, specs); // idempotent
    expect(await partitionsOf(jobs)).toHaveLength(12);
  });

  it('grows a topic with fewer partitions and never shrinks one', async () => {
    const topic = topicName('test.grow');
    created.push(topic);
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: 'test', logger });
    // Created with 3 partitions through ensureTopics, which waits out the moment right after a
    // create when the broker does not know the topic yet (kafkajs' waitForLeaders does not).
    await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
    expect(await partitionsOf(topic)).toHaveLength(3);
    await ensureTopics(kafka, [{ topic, numPartitions: 6 }]);
    expect(await partitionsOf(topic)).toHaveLength(6);
    await ensureTopics(kafka, [{ topic, numPartitions: 2 }]);
    expect(await partitionsOf(topic)).toHaveLength(6);
  });

  it('produces many messages to several topics in one batch, keyed to stable partitions', async () => {
    const a = topicName('test.a');
    const b = topicName('test.b');
    created.push(a, b);
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: 'test', logger });
    await ensureTopics(kafka, [
      { topic: a, numPartitions: 4 },
      { topic: b, numPartitions: 1 },
    ]);
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      const messages = Array.from({ length: 500 }, (_, i) => ({
        key: String(i % 50),
        value: `v${i}`,
        headers: { traceparent: 't' },
      }));
      const meta = await produceMany(producer, [
        { topic: a, messages },
        { topic: b, messages: messages.slice(0, 10) },
        { topic: b, messages: [] },
      ]);
      // One acknowledged entry per partition written: 4 of a, 1 of b.
      expect(new Set(meta.map((m) => `${m.topic}/${m.partition}`)).size).toBe(5);
      expect(await produceMany(producer, [])).toEqual([]);
    } finally {
      await producer.disconnect();
    }
    const offsetsA = await admin.fetchTopicOffsets(a);
    expect(offsetsA.reduce((n, p) => n + Number(p.high), 0)).toBe(500);
    const offsetsB = await admin.fetchTopicOffsets(b);
    expect(offsetsB.reduce((n, p) => n + Number(p.high), 0)).toBe(10);

    // The same key always lands on the same partition.
    const consumer = testKafka().consumer({ groupId: uniqueName('test-group') });
    const seen = new Map<string, Set<number>>();
    let count = 0;
    await consumer.connect();
    await consumer.subscribe({ topic: a, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const key = message.key!.toString();
          if (!seen.has(key)) seen.set(key, new Set());
          seen.get(key)!.add(partition);
          expect(message.headers?.traceparent?.toString()).toBe('t');
          if (++count === 500) resolve();
        },
      });
    });
    await consumer.disconnect();
    expect([...seen.values()].every((s) => s.size === 1)).toBe(true);
    // ... and on the partition the Java client's murmur2 partitioner (kafkajs' default) picks.
    const javaPartitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    for (const [key, partitions] of seen) {
      expect([key, [...partitions][0]]).toEqual([
        key,
        javaPartitioner({ topic: a, partitionMetadata, message: { key, value: null } }),
      ]);
    }
  });

  it("routes the client's connection events into the pino logger", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk, _e, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const kafka = createKafka({
      brokers: kafkaBrokers(),
      clientId: 'test',
      logger: createLogger('kafka-test', 'debug', stream),
    });
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.disconnect();
    const kafkaLines = lines.filter((l) => l.component === 'kafka');
    expect(kafkaLines.length).toBeGreaterThan(0);
    expect(kafkaLines[0]).toMatchObject({
      service: 'kafka-test',
      level: expect.any(String),
      role: 'producer',
      broker: expect.any(String),
    });
  });
});
