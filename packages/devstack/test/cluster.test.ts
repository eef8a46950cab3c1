/**
 * The devstack's three-node Kafka (DEVSTACK_KAFKA_BROKERS=3) holds what the pipeline relies on
 * when brokers go away: topics the services create are replicated 3 times with
 * min.insync.replicas 2, so an acks=all write survives one node down, is refused (not silently
 * under-replicated) with two down, and the cluster heals when they come back.
 *
 * Starts its own cluster through the devstack code (settings → up), on kernel-chosen free ports
 * in a temporary DEVSTACK_DIR, so the broker the rest of the suite uses is not touched; stops it
 * at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import {
  createKafka,
  createLogger,
  createProducer,
  ensureTopics,
  kafkaEnv,
  loadConfig,
  produceMany,
  topicReplication,
  type KafkaClient,
} from '@mockstagram/shared';
import { stopKafka, stopKafkaNode } from '../src/kafka';
import { devstackSettings, type DevstackSettings } from '../src/settings';
import { up } from '../src/stack';
import { freePorts } from '@mockstagram/testkit';

jest.setTimeout(300_000);

const silent = createLogger('cluster-test', 'silent');

/** Every error in a kafkajs error's chain (retries wrap the broker's error), as "TYPE: message". */
function errorChain(err: unknown): string[] {
  const out: string[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 5) return;
    const x = e as {
      type?: string;
      apiId?: string;
      message?: string;
      originalError?: unknown;
      cause?: unknown;
      errors?: unknown[];
    };
    out.push(`${x.type ?? x.apiId ?? ''}: ${x.message ?? ''}`);
    visit(x.originalError, depth + 1);
    visit(x.cause, depth + 1);
    for (const inner of x.errors ?? []) visit(inner, depth + 1);
  };
  visit(err, 0);
  return out;
}

let dir: string;
let settings: DevstackSettings;
let brokers: string[];
let admin: Admin;
const log: string[] = [];

/** A client like the services' (createKafka: retries ride out a leader election). */
const serviceKafka = () => createKafka({ brokers, clientId: 'cluster-test', logger: silent });

/** Wait until every partition of the topics has all `replicas` replicas in sync. */
async function allInSync(topics: string[], replicas: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { topics: meta } = await admin.fetchTopicMetadata({ topics });
    const behind = meta.flatMap((t) =>
      t.partitions.filter((p) => p.isr.length < replicas || p.leader < 0).map((p) => `${t.name}/${p.partitionId}`),
    );
    if (behind.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`partitions not back in sync after ${timeoutMs / 1000}s: ${behind.join(', ')}`);
    await sleep(500);
  }
}

/** Read the whole topic with a fresh consumer group; resolves with the values, in no particular order. */
async function readAll(topic: string, expected: number): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'cluster-test-reader', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `cluster-test-${topic}-${Date.now()}`,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
    const deadline = Date.now() + 120_000;
    while (values.length < expected && Date.now() < deadline) await sleep(100);
    // Anything beyond `expected` would be a duplicate or a write that should have been refused.
    await sleep(1_000);
    return values;
  } finally {
    await consumer.disconnect();
  }
}

async function produceValues(kafka: KafkaClient, topic: string, values: string[]): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await produceMany(producer, { topic, messages: values.map((v) => ({ key: v, value: v })) });
  } finally {
    await producer.disconnect();
  }
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devstack-cluster-'));
  const [p1, c1, p2, c2, p3, c3] = await freePorts(6);
  settings = devstackSettings({
    HOME: process.env.HOME,
    DEVSTACK_DIR: dir,
    DEVSTACK_KAFKA_BROKERS: '3',
    DEVSTACK_KAFKA_PORT: String(p1),
    DEVSTACK_KAFKA_CONTROLLER_PORT: String(c1),
    DEVSTACK_KAFKA_PORT_2: String(p2),
    DEVSTACK_KAFKA_CONTROLLER_PORT_2: String(c2),
    DEVSTACK_KAFKA_PORT_3: String(p3),
    DEVSTACK_KAFKA_CONTROLLER_PORT_3: String(c3),
  });
  brokers = settings.kafkaBrokers.split(',');
  expect(brokers).toHaveLength(3);
  await up(settings, { kafka: true, timescale: false }, (m) => log.push(m));
  admin = new Kafka({ clientId: 'cluster-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect().catch(() => undefined);
  if (dir) {
    await stopKafka(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const defaultsTopic = `cluster-test.defaults-${Date.now()}`;
const settingsTopic = `cluster-test.settings-${Date.now()}`;

test('up starts three nodes, each with its own files, all in the metadata with a controller', async () => {
  const cluster = await admin.describeCluster();
  expect(cluster.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
  expect(cluster.controller).not.toBeNull();
  for (const id of [1, 2, 3]) {
    const root = path.join(dir, 'kafka', `node-${id}`);
    expect(fs.readFileSync(path.join(root, 'server.properties'), 'utf8')).toContain(`node.id=${id}`);
    expect(fs.existsSync(path.join(root, 'kafka.pid'))).toBe(true);
    expect(fs.readFileSync(path.join(root, 'data', 'meta.properties'), 'utf8')).toContain(
      `cluster.id=${cluster.clusterId}`,
    );
  }
});

test('ensureTopics creates topics at replication factor 3 with min.insync.replicas 2', async () => {
  const kafka = serviceKafka();
  // The defaults (-1 / unset) take the cluster's: 3 and 2.
  await ensureTopics(kafka, [{ topic: defaultsTopic, numPartitions: 6 }], {
    ...topicReplication(loadConfig(kafkaEnv, {})),
    logger: silent,
  });
  // Set explicitly, min.insync.replicas becomes the topic's own config.
  const config = loadConfig(kafkaEnv, { KAFKA_TOPIC_REPLICATION_FACTOR: '3', KAFKA_TOPIC_MIN_INSYNC_REPLICAS: '2' });
  await ensureTopics(kafka, [{ topic: settingsTopic, numPartitions: 6 }], {
    ...topicReplication(config),
    logger: silent,
  });

  const { topics } = await admin.fetchTopicMetadata({ topics: [defaultsTopic, settingsTopic] });
  for (const t of topics) {
    expect(t.partitions).toHaveLength(6);
    for (const p of t.partitions) {
      expect([...p.replicas].sort()).toEqual([1, 2, 3]);
      expect(p.isr).toHaveLength(3);
    }
    // Leaders are spread over the nodes.
    expect(new Set(t.partitions.map((p) => p.leader)).size).toBe(3);
  }

  const described = await admin.describeConfigs({
    resources: [defaultsTopic, settingsTopic].map((name) => ({
      type: ConfigResourceTypes.TOPIC,
      name,
      configNames: ['min.insync.replicas'],
    })),
    includeSynonyms: false,
  });
  const minIsr = Object.fromEntries(
    described.resources.map((r) => [
      r.resourceName,
      r.configEntries.find((e) => e.configName === 'min.insync.replicas'),
    ]),
  );
  expect(minIsr[defaultsTopic]?.configValue).toBe('2');
  expect(minIsr[defaultsTopic]?.isDefault).toBe(false); // the broker's setting (2), not Kafka's default (1)
  expect(minIsr[settingsTopic]?.configValue).toBe('2');
  expect(minIsr[settingsTopic]?.configSource).toBe(1); // DYNAMIC_TOPIC_CONFIG: set on the topic at creation
});

test('settings the cluster cannot honour fail at once, naming the variables', async () => {
  const kafka = serviceKafka();
  const tooMany = loadConfig(kafkaEnv, { KAFKA_TOPIC_REPLICATION_FACTOR: '4' });
  await expect(
    ensureTopics(kafka, [{ topic: `cluster-test.rf4-${Date.now()}`, numPartitions: 1 }], {
      ...topicReplication(tooMany),
      timeoutMs: 20_000,
    }),
  ).rejects.toThrow(
    /INVALID_REPLICATION_FACTOR.*replication factor 4.*on a cluster of 3 brokers.*KAFKA_TOPIC_REPLICATION_FACTOR/s,
  );
  const minAboveRf = loadConfig(kafkaEnv, { KAFKA_TOPIC_MIN_INSYNC_REPLICAS: '4' });
  await expect(
    ensureTopics(kafka, [{ topic: `cluster-test.isr4-${Date.now()}`, numPartitions: 1 }], {
      ...topicReplication(minAboveRf),
      timeoutMs: 20_000,
    }),
  ).rejects.toThrow(/has 3 replicas.*fewer than min.insync.replicas 4.*KAFKA_TOPIC_MIN_INSYNC_REPLICAS/s);
});

// The three tests below run in order: one node down, two down, both back.
let leaderNode: number;
let secondNode: number;
const first = range('one-down', 500);
const afterHeal = range('healed', 500);

test('with one node stopped, acks=all idempotent produce succeeds (2 in sync) and a consumer reads', async () => {
  const before = range('all-up', 500);
  await produceValues(serviceKafka(), settingsTopic, before);

  const { topics } = await admin.fetchTopicMetadata({ topics: [settingsTopic] });
  leaderNode = topics[0].partitions.find((p) => p.partitionId === 0)!.leader;
  expect(await stopKafkaNode(dir, leaderNode, 3)).toBe(true);

  await produceValues(serviceKafka(), settingsTopic, first);
  const { topics: after } = await admin.fetchTopicMetadata({ topics: [settingsTopic] });
  for (const p of after[0].partitions) {
    expect(p.leader).not.toBe(leaderNode);
    expect(p.isr).not.toContain(leaderNode);
    expect(p.isr).toHaveLength(2);
  }

  const read = await readAll(settingsTopic, before.length + first.length);
  expect(read.sort()).toEqual([...before, ...first].sort());
});

test('with two nodes stopped, acks=all produce is refused with NOT_ENOUGH_REPLICAS instead of being acknowledged by one', async () => {
  // Few retries: the refusal is the point, not riding it out.
  const kafka = createKafka({ brokers, clientId: 'cluster-test-refused', logger: silent, retries: 2 });
  // The idempotent producer gets its producer id while two nodes are up: with one node left, the
  // transaction coordinator may still be loading (GROUP_LOAD_IN_PROGRESS), and the refusal wanted
  // here is the produce's own.
  const producer = createProducer(kafka);
  await producer.connect();
  secondNode = [1, 2, 3].find((id) => id !== leaderNode)!;
  expect(await stopKafkaNode(dir, secondNode, 3)).toBe(true);
  const last = [1, 2, 3].find((id) => id !== leaderNode && id !== secondNode)!;

  let refused: unknown;
  try {
    await produceMany(producer, {
      topic: settingsTopic,
      messages: range('two-down', 100).map((v) => ({ key: v, value: v })),
    });
  } catch (err) {
    refused = err;
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  expect(refused).toBeDefined();
  expect(errorChain(refused).join('\n')).toMatch(/NOT_ENOUGH_REPLICAS/);

  // Nothing was appended: the remaining node leads every partition, alone in the ISR, at the offsets of before.
  const lone = new Kafka({ clientId: 'cluster-test-lone', brokers: [brokers[last - 1]], logLevel: logLevel.NOTHING });
  const loneAdmin = lone.admin();
  await loneAdmin.connect();
  try {
    const offsets = await loneAdmin.fetchTopicOffsets(settingsTopic);
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(500 + first.length);
  } finally {
    await loneAdmin.disconnect();
  }
});

test('after restarting the two nodes the cluster heals: all in sync, writes and reads work, nothing lost or doubled', async () => {
  await up(settings, { kafka: true, timescale: false }, (m) => log.push(m));
  expect(log.join('\n')).toMatch(new RegExp(`starting node ${leaderNode}`));
  expect((await admin.describeCluster()).brokers).toHaveLength(3);
  await allInSync([settingsTopic, defaultsTopic], 3);

  await produceValues(serviceKafka(), settingsTopic, afterHeal);
  const read = await readAll(settingsTopic, 500 + first.length + afterHeal.length);
  expect(read.sort()).toEqual([...range('all-up', 500), ...first, ...afterHeal].sort());

  // The consumer groups' offsets topic is replicated like the data.
  const { topics } = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] });
  for (const p of topics[0].partitions) expect(p.replicas).toHaveLength(3);
});
