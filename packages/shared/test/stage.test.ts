/**
 * The consume–process–commit stage on the real broker: outputs produced before commits, a
 * rebalance mid-batch, a stop mid-batch (finish, or abandon), and a stop between a store and its
 * commit, as a crash would leave it. The "sink" is a map from (partition, offset) to how many
 * times a message was stored: at least once means every message is in it; duplicates are
 * allowed only for what was in flight when its partition moved or the stage was abandoned.
 */
import { createTopics, testKafka, testKafkaClient, uniqueName } from '@mockstagram/testkit';
import { createLogger } from '../src/logger';
import { createProducer, produceMany, type ConsumedMessage } from '../src/kafka';
import { Stage, type StageOptions, type StageWork } from '../src/stage';

const logger = createLogger('stage-test', (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent');
const PARTITIONS = 6;

let topics: { names: string[]; remove: () => Promise<void> };
let input: string;
let output: string;
const running: Stage[] = [];

beforeAll(async () => {
  topics = await createTopics(['stage-in', 'stage-out', 'stage-in2', 'stage-in3', 'stage-in4'], PARTITIONS);
  [input, output] = topics.names as [string, string];
});

afterEach(async () => {
  await Promise.allSettled(running.splice(0).map((s) => s.stop({ abandon: true })));
});

afterAll(async () => {
  await topics.remove();
});

async function produceInput(topic: string, count: number, from = 0): Promise<void> {
  const producer = createProducer(testKafkaClient());
  try {
    const messages = Array.from({ length: count }, (_, i) => ({ key: `k${(from + i) % 37}`, value: `m${from + i}` }));
    await produceMany(producer, { topic, messages });
  } finally {
    await producer.disconnect();
  }
}

function stage(groupId: string, topic: string, work: StageWork, settings: StageOptions['settings'] = {}): Stage {
  const s = new Stage({
    name: 'stage-test',
    kafka: testKafkaClient(uniqueName('stage')),
    groupId,
    topics: [topic],
    logger,
    work,
    settings: {
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 500,
      maxWaitMs: 200,
      batchWaitMs: 50,
      stopGraceMs: 10_000,
      ...settings,
    },
  });
  running.push(s);
  return s;
}

/** The sink: how many times each `partition/offset` was stored. */
class Sink {
  readonly stored = new Map<string, number>();
  store(messages: ConsumedMessage[]): void {
    for (const m of messages) {
      const k = `${m.partition}/${m.offset}`;
      this.stored.set(k, (this.stored.get(k) ?? 0) + 1);
    }
  }
  get distinct(): number {
    return this.stored.size;
  }
  get duplicates(): number {
    let n = 0;
    for (const c of this.stored.values()) n += c - 1;
    return n;
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The group's committed offsets summed over the topic's partitions (-1 → 0). */
async function committed(groupId: string, topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return t.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Messages in a topic (end offsets summed). */
async function messagesIn(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

test('message mode: every output is produced, every offset committed, every message settled once', async () => {
  await produceInput(input, 300);
  const groupId = uniqueName('stage-msg');
  let settled = 0;
  const s = stage(groupId, input, {
    mode: 'message',
    process: async (m) => ({
      produce: [{ topic: output, messages: [{ key: m.key, value: `out-${m.value!.toString()}` }] }],
      settled: (problem) => {
        if (problem === undefined) settled += 1;
      },
    }),
  });
  await s.start();
  await waitFor('all 300 committed', async () => (await committed(groupId, input)) === 300);
  expect(await messagesIn(output)).toBe(300);
  await waitFor('every message settled', () => settled === 300);
  expect(s.pending).toBe(0);
  expect(await s.stop()).toEqual({ abandoned: 0 });
  expect(s.state).toBe('stopped');
});

test('a rebalance mid-batch: the second member takes partitions over, nothing is lost, duplicates only from what was in flight', async () => {
  const topic = topics.names[2];
  const total = 1200;
  await produceInput(topic, total);
  const groupId = uniqueName('stage-rebalance');
  const sink = new Sink();
  // A slow batch (300 ms) so the rebalance lands while batches are being processed.
  const work: StageWork = {
    mode: 'batch',
    process: async (messages) => {
      await new Promise((r) => setTimeout(r, 300));
      sink.store(messages);
      return {};
    },
  };
  const a = stage(groupId, topic, work, { batchSize: 50, maxInFlight: 200 });
  await a.start();
  await waitFor('a to store some', () => sink.distinct >= 150);
  expect(a.assignment).toHaveLength(PARTITIONS);
  const b = stage(groupId, topic, work, { batchSize: 50, maxInFlight: 200 });
  await b.start();
  await waitFor(
    'both to hold partitions',
    () =>
      a.assignment.length > 0 && b.assignment.length > 0 && a.assignment.length + b.assignment.length === PARTITIONS,
  );
  await waitFor(
    'everything stored and committed',
    async () => sink.distinct === total && (await committed(groupId, topic)) === total,
  );
  expect(a.assignment.length).toBeLessThan(PARTITIONS); // a gave some up mid-work
  // At least once: what a had taken but not committed when its partitions moved may be stored again.
  expect(sink.duplicates).toBeLessThanOrEqual(200);
  await Promise.all([a.stop(), b.stop()]);
  expect(await committed(groupId, topic)).toBe(total);
});

test('a stop mid-batch finishes the batch and commits it: the next member gets nothing of it again', async () => {
  const topic = topics.names[3];
  await produceInput(topic, 100);
  const groupId = uniqueName('stage-stop');
  const sink = new Sink();
  let inBatch!: () => void;
  const batchStarted = new Promise<void>((r) => (inBatch = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const a = stage(
    groupId,
    topic,
    {
      mode: 'batch',
      process: async (messages) => {
        inBatch();
        await released;
        sink.store(messages);
        return {};
      },
    },
    { batchSize: 100, batchWaitMs: 2000 },
  );
  await a.start();
  await batchStarted;
  const stopped = a.stop();
  setTimeout(release, 200); // the batch finishes while stop() waits for it
  expect(await stopped).toEqual({ abandoned: 0 });
  expect(sink.distinct).toBe(100);
  expect(await committed(groupId, topic)).toBe(100);

  // The next member of the group starts after the committed offsets: only a new message reaches it.
  await produceInput(topic, 1, 100);
  const seen: string[] = [];
  const b = stage(groupId, topic, { mode: 'message', process: async (m) => (seen.push(m.value!.toString()), {}) });
  await b.start();
  await waitFor('the new message', () => seen.length >= 1);
  await waitFor('its commit', async () => (await committed(groupId, topic)) === 101);
  expect(seen).toEqual(['m100']);
  await b.stop();
});

test('stopped between store and commit (as a crash leaves it): the batch is redelivered, stored again, and then committed; nothing is lost', async () => {
  const topic = topics.names[4];
  const total = 400;
  await produceInput(topic, total);
  const groupId = uniqueName('stage-crash');
  const sink = new Sink();
  let storedOnce!: () => void;
  const crashPoint = new Promise<void>((r) => (storedOnce = r));
  let crashedBatch = 0;
  const a = stage(
    groupId,
    topic,
    {
      mode: 'batch',
      process: async (messages, signal) => {
        sink.store(messages);
        if (crashedBatch === 0) {
          crashedBatch = messages.length;
          storedOnce();
          // Stored, not yet committed: the process "dies" here (the stage is abandoned).
          await new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
          );
        }
        return {};
      },
    },
    { batchSize: 100 },
  );
  await a.start();
  await crashPoint;
  const summary = await a.stop({ abandon: true });
  expect(summary.abandoned).toBeGreaterThanOrEqual(crashedBatch);
  expect(await committed(groupId, topic)).toBe(0); // the first batch was never committed, so nothing after it either

  const b = stage(
    groupId,
    topic,
    { mode: 'batch', process: async (messages) => (sink.store(messages), {}) },
    { batchSize: 100 },
  );
  await b.start();
  await waitFor('everything committed', async () => (await committed(groupId, topic)) === total);
  expect(sink.distinct).toBe(total);
  // Stored twice: exactly the batch that was stored before the crash.
  expect(sink.duplicates).toBe(crashedBatch);
  await b.stop();
});
