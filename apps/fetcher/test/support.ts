/**
 * Test harness for the fetcher: a real mock API (in process, port 0) that records every API
 * request it receives, real Kafka topics, and helpers to produce jobs and collect outputs.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  createKafka,
  createLogger,
  createProducer,
  encodeFetchJob,
  produceMany,
  Registry,
  type FetchJob,
  type Logger,
} from '@mockstagram/shared';
import { API_PREFIX, Faults, MockApiServer, createMockApiMetrics, type FaultPatch } from '@mockstagram/mock-api';
import type { Consumer, IHeaders, KafkaMessage, Message } from 'kafkajs';
import { createTopics, kafkaBrokers, testKafka, uniqueName } from '@mockstagram/testkit';
import { loadFetcherConfig, type FetcherConfig } from '../src/config';

export const ID_MIN = 1_000_000;
export const ID_MAX = 1_999_999;

/** Logs of the code under test: silent unless FETCHER_TEST_LOG_LEVEL is set (e.g. `debug`). */
export const testLogger = (): Logger =>
  createLogger('fetcher-test', (process.env.FETCHER_TEST_LOG_LEVEL as 'debug' | undefined) ?? 'silent');

export interface ApiRequest {
  id: string;
  /** Arrival time at the server, Unix ms. */
  at: number;
}

export interface TestApi {
  server: MockApiServer;
  url: string;
  /** Every influencer API request received, in arrival order. */
  requests: ApiRequest[];
  /** Requests received for one id. */
  requestsFor(id: number): ApiRequest[];
  setFaults(patch: FaultPatch): Promise<void>;
  close(): Promise<void>;
}

/** Starts the real mock API on 127.0.0.1:0 and records the arrival of each API request (server side). */
export async function startTestApi(): Promise<TestApi> {
  const registry = new Registry();
  const server = new MockApiServer({
    idMin: ID_MIN,
    idMax: ID_MAX,
    faults: new Faults(),
    registry,
    metrics: createMockApiMetrics(registry),
  });
  const requests: ApiRequest[] = [];
  // Runs before the server's own handler: the arrival time is taken before any answer.
  server.server.prependListener('request', (req: IncomingMessage) => {
    const url = req.url ?? '';
    if (url.startsWith(API_PREFIX)) requests.push({ id: url.slice(API_PREFIX.length), at: Date.now() });
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  return {
    server,
    url,
    requests,
    requestsFor: (id) => requests.filter((r) => r.id === String(id)),
    // through the admin endpoint, as an operator would
    setFaults: async (patch) => {
      const res = await fetch(`${url}/admin/faults`, {
        method: 'PUT',
        body: JSON.stringify(patch),
        headers: { 'content-type': 'application/json' },
      });
      if (res.status !== 200) throw new Error(`PUT /admin/faults → ${res.status}: ${await res.text()}`);
      await res.text();
    },
    close: () => server.close(500),
  };
}

export interface TestTopics {
  jobs: string;
  results: string;
  dlq: string;
  remove(): Promise<void>;
}

export async function createTestTopics(partitions = 12): Promise<TestTopics> {
  const { names, remove } = await createTopics(['fetcher.jobs', 'fetcher.results', 'fetcher.dlq'], partitions);
  return {
    jobs: names[0],
    results: names[1],
    dlq: names[2],
    // Clean-up only: a delete that kafkajs retried after a slow first try reports "does not host
    // this topic-partition" for a topic that is gone already; that is not what a test checks.
    remove: () => remove().catch(() => undefined),
  };
}

/** Fetcher config for a test: its own topics and group, fast backoffs; `extra` overrides. */
export function testConfig(topics: TestTopics, apiUrl: string, extra: Record<string, string> = {}): FetcherConfig {
  return loadFetcherConfig({
    KAFKA_BROKERS: kafkaBrokers().join(','),
    TOPIC_FETCH_JOBS: topics.jobs,
    TOPIC_FETCH_RESULTS: topics.results,
    TOPIC_DLQ: topics.dlq,
    FETCHER_GROUP_ID: uniqueName('fetchers'),
    MOCK_API_URL: apiUrl,
    FETCHER_HTTP_PORT: '0',
    FETCHER_BACKOFF_BASE_MS: '20',
    FETCHER_BACKOFF_MAX_MS: '200',
    FETCHER_SHUTDOWN_GRACE_MS: '1000',
    ...extra,
  });
}

export function job(influencerId: number, attempt = 1): FetchJob {
  return { jobId: randomUUID(), influencerId, scheduledFor: new Date().toISOString(), attempt };
}

/**
 * Produces jobs (keyed by influencer id, like the scheduler) and raw messages, exactly once: the
 * producer is idempotent, like the services' (a plain kafkajs producer that retries a request
 * after a partition-level error right after topic creation writes the other partitions twice).
 */
export async function produce(topic: string, messages: Array<FetchJob | Message>): Promise<void> {
  const producer = createProducer(
    createKafka({
      brokers: kafkaBrokers(),
      clientId: uniqueName('test-producer'),
      logger: createLogger('test', 'silent'),
    }),
  );
  await producer.connect();
  try {
    const encoded = messages.map((m) => ('jobId' in m ? { key: String(m.influencerId), value: encodeFetchJob(m) } : m));
    for (let i = 0; i < encoded.length; i += 5000) {
      await produceMany(producer, { topic, messages: encoded.slice(i, i + 5000) });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface Collected {
  topic: string;
  partition: number;
  message: KafkaMessage;
  /** `message.value` parsed as JSON when it is. */
  json: unknown;
  headers: Record<string, string>;
}

export interface Collector {
  items: Collected[];
  /** Resolves once `predicate(items)` holds; rejects naming `what` after `timeoutMs`. */
  waitFor(predicate: (items: Collected[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Reads `topics` from the beginning (own group) into memory; resolves once the consumer has joined. */
export async function collect(topics: string[]): Promise<Collector> {
  const consumer: Consumer = testKafka().consumer({ groupId: uniqueName('collector'), maxWaitTimeInMs: 100 });
  const items: Collected[] = [];
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      let json: unknown;
      try {
        json = message.value ? JSON.parse(message.value.toString()) : undefined;
      } catch {
        json = undefined;
      }
      items.push({ topic, partition, message, json, headers: stringHeaders(message.headers) });
    },
  });
  await until(() => joined, 'collector joined its group', 30_000);
  return {
    items,
    waitFor: (predicate, what, timeoutMs = 60_000) => until(() => predicate(items), what, timeoutMs),
    stop: () => consumer.disconnect(),
  };
}

/** Polls `check` every 25 ms until true; rejects naming `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Committed offsets of `groupId` on `topic`, by partition (-1 when none). */
export async function committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((entry?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}
