/**
 * Property-based fuzzing (fast-check) of the Kafka payloads, with the fetcher and the
 * result-handler running as they ship (their built processes) on the real engines: jobs and
 * results that are not JSON, JSON of the wrong shape, wrong types, negative and overflowing ids,
 * SQL metacharacters, unusual unicode, huge strings, odd keys and headers. Every one goes to the
 * DLQ with its reason and where it came from, neither consumer crashes, and valid messages sent
 * after them are still processed. Nothing invalid is stored.
 */
import fc from 'fast-check';
import {
  createKafka,
  createLogger,
  createPool,
  createProducer,
  encodeFetchJob,
  encodeFetchResult,
  decodeFetchJob,
  decodeFetchResult,
  parseFetchJob,
  parseFetchResult,
  produceMany,
  readDlqHeaders,
  type DlqInfo,
  type Pool,
} from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { randomUUID } from 'node:crypto';
import {
  createTopics,
  freshSchema,
  hoursAgo,
  kafkaBrokers,
  testKafka,
  uniqueName,
  type TestSchema,
  eventually,
  pipelineEnvironments,
  ServiceProcess,
} from '@mockstagram/testkit';

/** Invalid messages per topic. */
const CASES = 400;
/** Valid messages sent after the fuzz: they must still be processed. */
const VALID = 20;

let db: TestSchema;
let pool: Pool;
let topics: { names: string[]; remove: () => Promise<void> };
let jobsTopic: string;
let resultsTopic: string;
let dlqTopic: string;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  db = await freshSchema('fuzz_kafka');
  pool = createPool({ connectionString: db.url, max: 2 });
  await migrate({ pool });
  topics = await createTopics(['fuzzk.jobs', 'fuzzk.results', 'fuzzk.dlq']);
  [jobsTopic, resultsTopic, dlqTopic] = topics.names as [string, string, string];
  const { ports, envs } = await pipelineEnvironments({
    kafkaBrokers: kafkaBrokers().join(','),
    databaseUrl: db.url,
    topics: { jobs: jobsTopic, results: resultsTopic, dlq: dlqTopic },
    groups: { fetchers: uniqueName('fuzzk-f'), handlers: uniqueName('fuzzk-h') },
  });
  for (const name of ['mock-api', 'result-handler', 'fetcher'] as const)
    services.push(await ServiceProcess.start(name, ports[name], envs[name]));
}, 180_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await pool?.end();
  await db?.drop();
  await topics?.remove();
});

const nasty = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom("'; DROP TABLE follower_counts; --", '\u0000', '\u202e', '１２３', 'NaN', '', 'x'.repeat(100_000)),
);
const badNumber = fc.oneof(
  fc.integer({ max: 0 }),
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(2 ** 53, 2 ** 63, 1e308, -1e308),
);
const field = fc.oneof(
  nasty,
  badNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.integer()),
);

/** A valid value with one or more fields replaced by garbage, or dropped, or an extra one. */
function mangled<T extends Record<string, unknown>>(valid: () => T): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid());
  return fc.oneof(
    fc.record({ key: fc.constantFrom(...keys), value: field }).map(({ key, value }) => ({ ...valid(), [key]: value })),
    fc.constantFrom(...keys).map((key) => {
      const v: Record<string, unknown> = { ...valid() };
      delete v[key];
      return v;
    }),
    fc.jsonValue(),
  );
}

function validJob(): Record<string, unknown> {
  return { jobId: randomUUID(), influencerId: 1_000_000, scheduledFor: new Date().toISOString(), attempt: 1 };
}
function validResult(): Record<string, unknown> {
  return {
    jobId: randomUUID(),
    influencerId: 1_000_000,
    username: 'u',
    followerCount: 1,
    followingCount: 1,
    observedAt: new Date(hoursAgo(1)).toISOString(),
  };
}

/** Bytes that `decode` (what the consumer runs) refuses. */
function invalidPayloads(
  valid: () => Record<string, unknown>,
  parse: (v: unknown) => { ok: boolean },
  decode: (b: Buffer) => { ok: boolean },
): fc.Arbitrary<Buffer> {
  const notJson = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
    fc.string({ maxLength: 50 }).map((s) => Buffer.from(`{${s}`)),
  );
  const wrongShape = mangled(valid)
    .filter((v) => !parse(v).ok)
    .map((v) => Buffer.from(JSON.stringify(v) ?? 'null'));
  return fc.oneof(notJson, wrongShape).filter((b) => !decode(b).ok);
}

const keyArb = fc.option(fc.oneof(nasty, fc.integer().map(String)), { nil: undefined });
const headersArb = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !k.startsWith('x-dlq-')),
  fc.string({ maxLength: 40 }),
  { maxKeys: 3 },
);

async function produceAll(
  topic: string,
  messages: { key?: string; value: Buffer; headers?: Record<string, string> }[],
): Promise<void> {
  const producer = createProducer(
    createKafka({ brokers: kafkaBrokers(), clientId: uniqueName('fuzz'), logger: createLogger('fuzz', 'silent') }),
  );
  await producer.connect();
  try {
    // Small batches: some payloads carry 100 kB strings, and a request must stay under the broker's 1 MB.
    for (let i = 0; i < messages.length; i += 8)
      await produceMany(producer, [{ topic, messages: messages.slice(i, i + 8) }]);
  } finally {
    await producer.disconnect();
  }
}

async function readDlq(n: number): Promise<DlqInfo[]> {
  const consumer = testKafka().consumer({ groupId: uniqueName('fuzz-dlq-reader'), maxWaitTimeInMs: 200 });
  const seen: DlqInfo[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [dlqTopic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(readDlqHeaders(message.headers)) });
    await eventually(
      `${n} dead letters (have ${seen.length})`,
      async () => (seen.length >= n ? true : undefined),
      120_000,
    );
    return seen;
  } finally {
    await consumer.disconnect();
  }
}

test(`${CASES} invalid jobs and ${CASES} invalid results are dead-lettered with their reasons; the valid ones after them are stored`, async () => {
  const sample = <T>(arb: fc.Arbitrary<T>) => fc.sample(arb, { numRuns: CASES, seed: 20261201 });
  const jobs = sample(
    fc.record({ key: keyArb, value: invalidPayloads(validJob, parseFetchJob, decodeFetchJob), headers: headersArb }),
  );
  const results = sample(
    fc.record({
      key: keyArb,
      value: invalidPayloads(validResult, parseFetchResult, decodeFetchResult),
      headers: headersArb,
    }),
  );
  await Promise.all([produceAll(jobsTopic, jobs), produceAll(resultsTopic, results)]);

  // Valid traffic after the fuzz: jobs the fetcher must fetch, results the handler must store.
  const ids = Array.from({ length: VALID }, (_, i) => 1_000_000 + i);
  await produceAll(
    jobsTopic,
    ids.map((influencerId) => ({
      key: String(influencerId),
      value: encodeFetchJob({ jobId: randomUUID(), influencerId, scheduledFor: new Date().toISOString(), attempt: 1 }),
    })),
  );
  const at = hoursAgo(2);
  await produceAll(
    resultsTopic,
    ids.map((influencerId, i) => ({
      key: String(influencerId + 100),
      value: encodeFetchResult({
        jobId: randomUUID(),
        influencerId: influencerId + 100,
        username: `u${i}`,
        followerCount: i,
        followingCount: i,
        observedAt: new Date(at).toISOString(),
      }),
    })),
  );

  const dead = await readDlq(2 * CASES);
  expect(dead).toHaveLength(2 * CASES);
  const from = (topic: string) => dead.filter((d) => d.sourceTopic === topic);
  expect(from(jobsTopic).map((d) => d.stage)).toEqual(new Array(CASES).fill('fetcher'));
  expect(from(resultsTopic).map((d) => d.stage)).toEqual(new Array(CASES).fill('result-handler'));
  expect(dead.filter((d) => !d.reason || !/^[a-z]+(-[a-z]+)*$/.test(d.reason))).toEqual([]);
  // Each invalid message exactly once: distinct source offsets per topic.
  for (const topic of [jobsTopic, resultsTopic])
    expect(new Set(from(topic).map((d) => `${d.sourcePartition}:${d.sourceOffset}`)).size).toBe(CASES);

  await eventually(
    `${2 * VALID} valid samples stored`,
    async () => {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM follower_counts');
      return rows[0].n === 2 * VALID ? true : undefined;
    },
    60_000,
  );
  for (const s of services) {
    expect({ service: s.name, exitCode: s.child.exitCode }).toEqual({ service: s.name, exitCode: null });
    expect((await fetch(`http://127.0.0.1:${s.httpPort}/healthz`)).status).toBe(200);
  }
  console.log(
    `fuzzed Kafka payloads: ${CASES} jobs, ${CASES} results; reasons: ${JSON.stringify(countBy(dead.map((d) => `${d.stage}/${d.reason}`)))}`,
  );
});

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
