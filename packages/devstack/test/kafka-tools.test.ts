/**
 * `yarn devstack topics | tail | lag` on the real broker: Kafka's own tools (kafka-tools.ts) read
 * topics this test creates, fills (JSON values, DLQ headers) and partly consumes with a group.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { consumerLag, formatLag, formatMessage, listTopics, tailTopic, type TailedMessage } from '../src/kafka-tools';
import { runCli } from './run-cli';
import { createTopics, kafkaBrokers, testKafka, uniqueName } from '@mockstagram/testkit';

const log = (message: string) => console.log(`[devstack] ${message}`);
const bootstrap = () => kafkaBrokers().join(',');
const cli = path.join(__dirname, '..', 'src', 'cli.ts');

let topics: { names: string[]; remove: () => Promise<void> };
let group: string;
const JOBS = 30;

beforeAll(async () => {
  topics = await createTopics(['tools.jobs', 'tools.dlq'], 3);
  const [jobs, dlq] = topics.names as [string, string];
  const kafka = testKafka();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: jobs,
    messages: Array.from({ length: JOBS }, (_, i) => ({
      key: String(1_000_000 + i),
      value: JSON.stringify({ jobId: `job-${i}`, influencerId: 1_000_000 + i, attempt: 1 }),
      partition: i % 3,
    })),
  });
  await producer.send({
    topic: dlq,
    messages: [
      {
        key: '2500000',
        value: JSON.stringify({ jobId: 'job-dead', influencerId: 2_500_000 }),
        headers: {
          'x-dlq-reason': 'not-found',
          'x-dlq-stage': 'fetcher',
          'x-dlq-attempts': '1',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
      },
      { key: null, value: 'not json at all' },
    ],
  });
  await producer.disconnect();

  // A group that has consumed and committed partition 0 only.
  group = uniqueName('tools-group');
  const admin = kafka.admin();
  await admin.connect();
  await admin.setOffsets({
    groupId: group,
    topic: jobs,
    partitions: [
      { partition: 0, offset: '10' },
      { partition: 1, offset: '4' },
    ],
  });
  await admin.disconnect();
}, 120_000);

afterAll(async () => {
  await topics?.remove();
});

test('topics: each topic with its partitions and the messages it holds', async () => {
  const listed = await listTopics(bootstrap(), log);
  const [jobs, dlq] = topics.names;
  expect(listed.find((t) => t.topic === jobs)).toEqual({ topic: jobs, partitions: 3, messages: JOBS });
  expect(listed.find((t) => t.topic === dlq)).toEqual({ topic: dlq, partitions: 3, messages: 2 });
  expect(listed.some((t) => t.topic.startsWith('__'))).toBe(false);
}, 60_000);

test('lag: per group, topic and partition, from the committed offsets', async () => {
  const rows = await consumerLag(bootstrap(), log, group);
  expect(rows.map(({ topic, partition, committed, end, lag }) => ({ topic, partition, committed, end, lag }))).toEqual([
    { topic: topics.names[0], partition: 0, committed: 10, end: 10, lag: 0 },
    { topic: topics.names[0], partition: 1, committed: 4, end: 10, lag: 6 },
  ]);
  expect(formatLag(rows)).toMatch(new RegExp(`^${group}: lag 6 \\(0 active members\\)`));
}, 60_000);

test('tail --from-beginning: every message, JSON values parsed, headers read, offsets untouched', async () => {
  const seen: TailedMessage[] = [];
  const tail = await tailTopic(
    bootstrap(),
    topics.names[1],
    { fromBeginning: true, maxMessages: 2 },
    (m) => seen.push(m),
    log,
  );
  await tail.done;
  const dead = seen.find((m) => m.key === '2500000')!;
  expect(dead).toMatchObject({ topic: topics.names[1], value: { jobId: 'job-dead', influencerId: 2_500_000 } });
  expect(dead.headers).toEqual({
    'x-dlq-reason': 'not-found',
    'x-dlq-stage': 'fetcher',
    'x-dlq-attempts': '1',
    traceparent: expect.stringMatching(/^00-/),
  });
  expect(new Date(dead.timestamp).getTime()).toBeGreaterThan(Date.now() - 600_000);
  expect(seen.find((m) => m.key === null)?.value).toBe('not json at all');

  // pretty JSON, the DLQ headers always, the others only with --headers
  const shown = formatMessage(dead, { headers: false });
  expect(shown).toContain('x-dlq-reason: not-found');
  expect(shown).not.toContain('traceparent');
  expect(shown).toContain('{\n  "jobId": "job-dead",\n  "influencerId": 2500000\n}');
  expect(formatMessage(dead, { headers: true })).toContain('traceparent: 00-');
}, 60_000);

test('yarn devstack tail follows new messages until stopped, and commits nothing', async () => {
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), cli, 'tail', topics.names[0], '--headers'], {
    env: { ...process.env, KAFKA_BROKERS: bootstrap() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    // Without --from-beginning it starts at the end: produce until it prints one (it may join after the first sends).
    const producer = testKafka().producer();
    await producer.connect();
    const deadline = Date.now() + 60_000;
    while (!out.includes('"jobId": "job-new"') && Date.now() < deadline) {
      await producer.send({
        topic: topics.names[0],
        messages: [{ key: '1000999', value: JSON.stringify({ jobId: 'job-new' }), headers: { traceparent: 'x' } }],
      });
      await new Promise((r) => setTimeout(r, 1_000));
    }
    await producer.disconnect();
    expect(out).toContain('"jobId": "job-new"');
    expect(out).toContain('traceparent: x');
    expect(out).not.toContain('"jobId": "job-0"');
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  // the console consumer's own group committed no offsets
  const admin = testKafka().admin();
  await admin.connect();
  const { groups } = await admin.listGroups();
  const consoleGroups = groups.map((g) => g.groupId).filter((g) => g.startsWith('console-consumer-'));
  const committed = [];
  for (const groupId of consoleGroups)
    committed.push(...(await admin.fetchOffsets({ groupId, topics: [topics.names[0]] })));
  await admin.disconnect();
  expect(committed.flatMap((t) => t.partitions).filter((p) => p.offset !== '-1')).toEqual([]);
}, 120_000);

test('yarn devstack topics and lag print tables', async () => {
  const env = { ...process.env, KAFKA_BROKERS: bootstrap() };
  const run = async (args: string[]) => {
    const r = await runCli(args, env);
    return { code: r.code, out: `${r.stdout}${r.stderr}` };
  };
  const t = await run(['topics']);
  expect(t.code).toBe(0);
  expect(t.out).toMatch(/^TOPIC\s+PARTITIONS\s+MESSAGES$/m);
  expect(t.out).toMatch(new RegExp(`^${topics.names[1].replace(/\./g, '\\.')}\\s+3\\s+2$`, 'm'));
  const l = await run(['lag', group]);
  expect(l.code).toBe(0);
  expect(l.out).toMatch(/^TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG\s+CONSUMER$/m);
  const bad = await run(['tail']);
  expect(bad.code).toBe(1);
  expect(bad.out).toContain('usage: yarn devstack tail <topic> [--from-beginning] [--headers]');
}, 120_000);
