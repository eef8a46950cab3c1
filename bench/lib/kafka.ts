/** Kafka for the benchmarks: the broker's own perf tools, a fast results-topic pre-fill, offsets. */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  createKafka,
  createLogger,
  createProducer,
  encodeFetchResult,
  produceMany,
  Stage,
  type FetchResult,
  type KafkaClient,
  type Message,
} from '@mockstagram/shared';
import type { Admin } from 'kafkajs';
import { resolveKafkaClasspath } from '@mockstagram/devstack';
import { kafkaBrokers, testKafka, uniqueName } from '@mockstagram/testkit';
import { run, shellLine } from './proc';

export const benchLogger = createLogger('bench', (process.env.LOG_LEVEL as 'info' | undefined) ?? 'error');

export function benchKafka(clientId: string): KafkaClient {
  return createKafka({ brokers: kafkaBrokers(), clientId, logger: benchLogger });
}

/** The devstack's cached classpath (resolved with Maven on first use) and the Kafka version in it. */
export async function kafkaClasspath(): Promise<{ classpath: string; version: string }> {
  const classpath = await resolveKafkaClasspath((msg) => console.log(msg));
  const clients = classpath.split(path.delimiter).find((j) => /kafka-clients-[\d.]+\.jar$/.test(j));
  const version = clients ? /kafka-clients-([\d.]+)\.jar$/.exec(clients)![1] : 'unknown';
  return { classpath, version };
}

/** The command with the classpath elided, for the record. */
const recorded = (cmd: string[]) =>
  shellLine(cmd).replace(/-cp \S+/, '-cp "$(cat ~/.cache/mockstagram-devstack/classpath.txt)"');

export interface ProducerPerfResult {
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  p99LatencyMs: number;
  /** CPU (user + system) of the JVM over the whole run, start-up included. */
  cpuSeconds: number;
  command: string;
}

/**
 * org.apache.kafka.tools.ProducerPerformance: `records` of `recordSize` bytes, unthrottled, acks=all,
 * idempotent (the Java client's default with acks=all, written out).
 */
export async function producerPerformance(
  classpath: string,
  topic: string,
  records: number,
  recordSize: number,
): Promise<ProducerPerfResult> {
  const cmd = [
    'java',
    '-cp',
    classpath,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    topic,
    '--num-records',
    String(records),
    '--record-size',
    String(recordSize),
    '--throughput',
    '-1',
    '--producer-props',
    'acks=all',
    'enable.idempotence=true',
    `bootstrap.servers=${kafkaBrokers().join(',')}`,
  ];
  // bash's `times` prints the CPU of the shell's children (the JVM) once it has exited.
  const r = await run(['bash', '-c', '"$@"; status=$?; times >&2; exit $status', 'bash', ...cmd], {
    timeoutMs: 15 * 60_000,
  });
  const cpuSeconds = childCpuSeconds(r.stderr);
  // "2000000 records sent, 181818.2 records/sec (34.68 MB/sec), 512.3 ms avg latency, 1000.0 ms max latency, 480 ms 50th, 900 ms 95th, 980 ms 99th, 1000 ms 99.9th."
  const m =
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, [\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, (\d+) ms 99th/.exec(
      r.stdout,
    );
  if (r.code !== 0 || !m)
    throw new Error(`ProducerPerformance failed (${r.code}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return {
    recordsPerSec: Number(m[2]),
    mbPerSec: Number(m[3]),
    avgLatencyMs: Number(m[4]),
    p99LatencyMs: Number(m[5]),
    cpuSeconds,
    command: recorded(cmd),
  };
}

/** The children's user + system seconds from the last line of bash's `times` output ("1m2.345s 0m0.678s"). */
function childCpuSeconds(stderr: string): number {
  const lines = stderr.trim().split('\n');
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1].trim());
  if (!m) throw new Error(`no CPU times in the tool's output: ${lines.slice(-2).join(' / ')}`);
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

export interface ConsumerPerfResult {
  /** Messages/s over the fetch time (rebalance excluded). */
  fetchMsgPerSec: number;
  /** Messages/s over the whole run (rebalance included). */
  msgPerSec: number;
  rebalanceMs: number;
  command: string;
}

/** org.apache.kafka.tools.ConsumerPerformance: `messages` from the start of `topic`. */
export async function consumerPerformance(
  classpath: string,
  topic: string,
  messages: number,
): Promise<ConsumerPerfResult> {
  const cmd = [
    'java',
    '-cp',
    classpath,
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    kafkaBrokers().join(','),
    '--topic',
    topic,
    '--messages',
    String(messages),
    '--group',
    `bench-cperf-${randomUUID().slice(0, 8)}`,
    '--timeout',
    '60000',
  ];
  const r = await run(cmd, { timeoutMs: 15 * 60_000 });
  // header: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const line = r.stdout.split('\n').find((l) => /^\d{4}-\d\d-\d\d/.test(l.trim()));
  const f = line?.split(',').map((s) => s.trim());
  if (r.code !== 0 || !f || f.length < 10)
    throw new Error(`ConsumerPerformance failed (${r.code}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  if (Number(f[4]) < messages) throw new Error(`ConsumerPerformance consumed only ${f[4]} of ${messages} messages`);
  return { msgPerSec: Number(f[5]), rebalanceMs: Number(f[6]), fetchMsgPerSec: Number(f[9]), command: recorded(cmd) };
}

/**
 * The i-th of `count` results (deterministic apart from the job id): influencer i mod `influencers`,
 * sample ⌊i / influencers⌋ a minute apart, so (influencer_id, observed_at) is unique per message.
 */
export function resultAt(i: number, influencers: number, baseMs: number): FetchResult {
  const influencerId = 1_000_000 + (i % influencers);
  const sample = Math.floor(i / influencers);
  return {
    jobId: randomUUID(),
    influencerId,
    username: `user_${influencerId}`,
    followerCount: 10_000 + ((i * 7919) % 1_000_000),
    followingCount: 100 + (i % 500),
    observedAt: new Date(baseMs + sample * 60_000 + (influencerId % 1000)).toISOString(),
  };
}

/**
 * Fills `topic` with `count` valid FetchResult messages (keyed by influencer id) through
 * `producers` parallel idempotent producers, each sending 12,000-message sendBatch calls.
 * Returns the seconds taken.
 */
export async function prefillResults(
  topic: string,
  count: number,
  influencers: number,
  producers = 3,
): Promise<number> {
  const kafka = benchKafka('bench-prefill');
  const baseMs = Date.now() - 3 * 3600_000;
  const started = performance.now();
  const chunk = 12_000;
  let next = 0;
  await Promise.all(
    Array.from({ length: producers }, async () => {
      const producer = createProducer(kafka);
      await producer.connect();
      try {
        for (;;) {
          const from = next;
          if (from >= count) break;
          next += chunk;
          const messages: Message[] = [];
          for (let i = from; i < Math.min(count, from + chunk); i++) {
            const r = resultAt(i, influencers, baseMs);
            messages.push({ key: String(r.influencerId), value: encodeFetchResult(r) });
          }
          await produceMany(producer, { topic, messages });
        }
      } finally {
        await producer.disconnect();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** End offset of each partition of `topic`. */
export async function topicEnd(admin: Admin, topic: string): Promise<Map<number, number>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
}

/** Whether `groupId` has committed, on every partition of `topic`, at least the given end offsets. */
export async function committedCovers(
  admin: Admin,
  groupId: string,
  topic: string,
  ends: Map<number, number>,
): Promise<boolean> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  for (const [partition, end] of ends) if ((committed.get(partition) ?? -1) < end) return false;
  return true;
}

/**
 * The shared consume–process–commit stage (batch mode, batches of 12,000, nothing done per batch
 * but counting; offsets committed as it goes) reading `count` messages of `topic` from the start
 * with a fresh group; messages/s from the first message to the last.
 */
export async function stageConsumeRate(topic: string, count: number): Promise<number> {
  let seen = 0;
  let first = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const stage = new Stage({
    name: 'bench-stage',
    kafka: benchKafka('bench-stage'),
    groupId: uniqueName('bench-stage'),
    topics: [topic],
    logger: benchLogger,
    settings: { batchSize: 12_000, maxInFlight: 48_000 },
    onTake: () => {
      if (first === 0) first = performance.now();
    },
    work: {
      mode: 'batch',
      process: async (messages) => {
        seen += messages.length;
        if (seen >= count) done();
        return {};
      },
    },
  });
  await stage.start();
  try {
    const timeout = setTimeout(() => done(), 10 * 60_000);
    await finished;
    clearTimeout(timeout);
    if (seen < count) throw new Error(`consumed ${seen} of ${count} messages in 10 minutes`);
    return count / ((performance.now() - first) / 1000);
  } finally {
    await stage.stop({ abandon: true });
  }
}

/**
 * A kafkajs consumer (eachBatch, all 12 partitions concurrently, no work per message) reading
 * `count` messages of `topic` from the start with a fresh group; messages/s from the first batch
 * to the last message.
 */
export async function kafkajsConsumeRate(topic: string, count: number): Promise<number> {
  const consumer = testKafka('bench-consumer').consumer({ groupId: uniqueName('bench-consumer') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    let first = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      partitionsConsumedConcurrently: 12,
      eachBatch: async ({ batch }) => {
        if (first === 0) first = performance.now();
        seen += batch.messages.length;
        if (seen >= count) done();
      },
    });
    const timeout = setTimeout(() => done(), 10 * 60_000);
    await finished;
    clearTimeout(timeout);
    if (seen < count) throw new Error(`consumed ${seen} of ${count} messages in 10 minutes`);
    return count / ((performance.now() - first) / 1000);
  } finally {
    await consumer.disconnect();
  }
}
