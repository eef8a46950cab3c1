/**
 * Helpers for the scheduler's tests: a migrated fresh schema, a producer, a topic reader.
 * Real Kafka and real TimescaleDB (see @mockstagram/testkit, packages/testkit); nothing is mocked.
 */
import { createKafka, createLogger, createPool, createProducer, type Logger, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { decodeFetchJob, type FetchJob } from '@mockstagram/shared';
import type { Consumer } from 'kafkajs';
import type { KafkaProducer as Producer } from '@mockstagram/shared';
import { freshSchema, kafkaBrokers, testKafka, uniqueName, type TestSchema } from '@mockstagram/testkit';

export const quietLogger: Logger = createLogger(
  'scheduler-test',
  (process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent',
);

export interface RegistryDb {
  schema: TestSchema;
  /** A pool from the shared `createPool` (int8 as number) on the fresh schema. */
  pool: Pool;
  url: string;
  close: () => Promise<void>;
}

/** A fresh schema with every migration applied. */
export async function migratedSchema(prefix = 'sched'): Promise<RegistryDb> {
  const schema = await freshSchema(prefix);
  const pool = createPool({ connectionString: schema.url, max: 4, logger: quietLogger });
  await migrate({ pool, logger: quietLogger });
  return {
    schema,
    pool,
    url: schema.url,
    close: async () => {
      await pool.end();
      await schema.drop();
    },
  };
}

/** A connected idempotent producer, as the service builds it. */
export async function connectedProducer(brokers = kafkaBrokers()): Promise<Producer> {
  const producer = createProducer(createKafka({ brokers, clientId: uniqueName('sched-test'), logger: quietLogger }));
  await producer.connect();
  return producer;
}

export interface ReadJob {
  key: string;
  job: FetchJob;
  partition: number;
}

/**
 * Reads topics from the beginning with one consumer (joined once per test file) and keeps what
 * arrives. {@link TopicReader.all} waits until everything the topic holds (the sum of its high
 * watermarks) has been read, so a test sees exactly what was produced, duplicates included.
 */
export class TopicReader {
  private readonly consumer: Consumer;
  private readonly received = new Map<string, ReadJob[]>();

  private constructor(consumer: Consumer) {
    this.consumer = consumer;
  }

  static async start(topics: string[]): Promise<TopicReader> {
    const consumer = testKafka().consumer({ groupId: uniqueName('sched-test-reader'), maxWaitTimeInMs: 100 });
    const reader = new TopicReader(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const decoded = decodeFetchJob(message.value);
        if (!decoded.ok) throw new Error(`invalid job on ${topic}: ${decoded.error}`);
        const list = reader.received.get(topic) ?? [];
        list.push({ key: message.key?.toString() ?? '', job: decoded.value, partition });
        reader.received.set(topic, list);
      },
    });
    return reader;
  }

  /** Every message the topic holds now, once all are read (throws after `timeoutMs`). */
  async all(topic: string, timeoutMs = 30_000): Promise<ReadJob[]> {
    const total = await messageCount(topic);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received.get(topic) ?? [];
      if (got.length >= total) return [...got];
      if (Date.now() > deadline)
        throw new Error(`read ${got.length} of ${total} messages of ${topic} in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

/** Messages a topic holds (sum of high watermarks; the topic is never compacted or truncated in tests). */
export async function messageCount(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** `next_fetch_at` per id, as epoch ms. */
export async function nextFetchTimes(pool: Pool): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ id: number; next: Date }>(
    'SELECT id, next_fetch_at AS next FROM influencers ORDER BY id',
  );
  return new Map(rows.map((r) => [r.id, r.next.getTime()]));
}
