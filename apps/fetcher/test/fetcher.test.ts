/**
 * The Fetcher in process against a real Kafka broker and the real mock API (HTTP on port 0).
 */
import { decodeFetchResult, readDlqHeaders, type FetchJob, type FetchResult } from '@mockstagram/shared';
import { countsAt, DEFAULT_COUNTS_OPTIONS } from '@mockstagram/mock-api';
import { Fetcher } from '../src/fetcher';
import { createFetcherMetrics } from '../src/metrics';
import {
  collect,
  committedOffsets,
  createTestTopics,
  ID_MAX,
  ID_MIN,
  job,
  produce,
  startTestApi,
  testConfig,
  testLogger,
  until,
  type Collected,
  type Collector,
  type TestApi,
  type TestTopics,
} from './support';

let api: TestApi;
let topics: TestTopics;
let out: Collector;
let fetcher: Fetcher | undefined;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

beforeEach(async () => {
  api.server.faults.reset();
  api.requests.length = 0;
  topics = await createTestTopics();
  out = await collect([topics.results, topics.dlq]);
});

afterEach(async () => {
  await fetcher?.stop();
  fetcher = undefined;
  await out.stop();
  await topics.remove();
});

function startFetcher(extra: Record<string, string> = {}): Promise<Fetcher> {
  const f = new Fetcher({
    config: testConfig(topics, api.url, extra),
    logger: testLogger(),
    metrics: createFetcherMetrics(),
  });
  fetcher = f;
  return f.start().then(() => f);
}

const results = () => out.items.filter((i) => i.topic === topics.results);
const dlq = () => out.items.filter((i) => i.topic === topics.dlq);
const resultOf = (item: Collected): FetchResult => {
  const decoded = decodeFetchResult(item.message.value);
  if (!decoded.ok) throw new Error(`result does not decode: ${decoded.error}`);
  return decoded.value;
};

/** `n` distinct influencer ids from the existing range. */
function ids(n: number): number[] {
  const set = new Set<number>();
  while (set.size < n) set.add(ID_MIN + Math.floor(Math.random() * (ID_MAX - ID_MIN + 1)));
  return [...set];
}

async function metricValue(f: Fetcher, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await f.metrics.registry.getSingleMetric(name)!.get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

function expectCountsMatch(result: FetchResult): void {
  // observedAt is the response's Date (whole seconds): the counts the API computed at that moment.
  expect(result.observedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  const expected = countsAt(result.influencerId, Date.parse(result.observedAt), DEFAULT_COUNTS_OPTIONS);
  expect({ id: result.influencerId, ...expected }).toEqual({
    id: result.influencerId,
    username: result.username,
    followerCount: result.followerCount,
    followingCount: result.followingCount,
  });
}

test('200 jobs → 200 results keyed by influencer, each the API counts at observedAt; offsets committed', async () => {
  const jobs = ids(200).map((id) => job(id));
  const traced = jobs[0];
  await produce(topics.jobs, [
    {
      key: String(traced.influencerId),
      value: JSON.stringify(traced),
      headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    },
    ...jobs.slice(1),
  ]);
  const f = await startFetcher();
  await out.waitFor((items) => items.length >= 200, '200 outputs');

  expect(dlq()).toHaveLength(0);
  const byJob = new Map(results().map((r) => [resultOf(r).jobId, r]));
  expect(byJob.size).toBe(200);
  for (const j of jobs) {
    const item = byJob.get(j.jobId)!;
    const r = resultOf(item);
    expect(r.influencerId).toBe(j.influencerId);
    expect(r.scheduledFor).toBe(j.scheduledFor); // the slot, the stored sample's identity
    expect(item.message.key?.toString()).toBe(String(j.influencerId));
    expectCountsMatch(r);
  }
  expect(byJob.get(traced.jobId)!.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  expect(api.requests).toHaveLength(200);

  expect(await metricValue(f, 'fetcher_results_produced_total')).toBe(200);
  expect(await metricValue(f, 'fetcher_jobs_consumed_total')).toBe(200);
  expect(await metricValue(f, 'fetcher_requests_total', { outcome: '2xx' })).toBe(200);
  expect(await metricValue(f, 'fetcher_inflight_requests')).toBe(0);
  await until(
    async () => sum(await committedOffsets(f.config.FETCHER_GROUP_ID, topics.jobs)) === 200n,
    'offsets of all 200 jobs committed',
  );

  // kafka_consumer_lag{topic,partition} (the result-handler's name and labels): one series per
  // partition that had a batch, 0 once everything produced has been fetched.
  const lag = await f.metrics.registry.getSingleMetric('kafka_consumer_lag')!.get();
  const series = lag.values.filter((v) => v.labels.topic === topics.jobs);
  expect(series.length).toBeGreaterThan(0);
  expect(series.every((v) => /^\d+$/.test(String(v.labels.partition)) && v.value === 0)).toBe(true);
});

test('30% 500s → every job still produces a result, through retries', async () => {
  await api.setFaults({ errorRate: 0.3 });
  const jobs = ids(200).map((id) => job(id));
  await produce(topics.jobs, jobs);
  // 12 attempts: P(a job fails 12 times at 30%) = 5e-7, so the test does not flake on bad luck.
  const f = await startFetcher({ FETCHER_MAX_ATTEMPTS: '12' });
  await out.waitFor((items) => items.length >= 200, '200 outputs');

  expect(dlq()).toHaveLength(0);
  expect(new Set(results().map((r) => resultOf(r).jobId)).size).toBe(200);
  for (const r of results()) expectCountsMatch(resultOf(r));
  const errors = await metricValue(f, 'fetcher_requests_total', { outcome: '5xx' });
  expect(errors).toBeGreaterThan(20); // ~86 expected
  expect(api.requests.length).toBe(200 + errors);
  expect(await metricValue(f, 'fetcher_retries_total')).toBe(errors);
});

test('404 → one request, one DLQ record not-found with attempts 1; 400 → upstream-4xx; the partition moves on', async () => {
  const missing = job(5);
  const malformedId = job(-7);
  const fine = job(1_234_567);
  // same partition, in this order
  await produce(
    topics.jobs,
    [missing, malformedId, fine].map((j) => ({ key: 'k', value: JSON.stringify(j), partition: 0 })),
  );
  const f = await startFetcher();
  await out.waitFor((items) => items.length >= 3, '3 outputs');
  // nothing more arrives
  await until(
    async () => sum(await committedOffsets(f.config.FETCHER_GROUP_ID, topics.jobs)) === 3n,
    'offsets committed',
  );

  expect(dlq()).toHaveLength(2);
  const [notFound, bad] = [missing, malformedId].map((j) => dlq().find((d) => (d.json as FetchJob).jobId === j.jobId)!);
  expect(readDlqHeaders(notFound.message.headers)).toMatchObject({
    reason: 'not-found',
    stage: 'fetcher',
    attempts: 1,
    sourceTopic: topics.jobs,
    sourcePartition: 0,
    sourceOffset: '0',
  });
  expect(notFound.headers['x-dlq-error']).toMatch(/404.*does not exist/);
  expect(notFound.message.value!.toString()).toBe(JSON.stringify(missing)); // the original payload
  expect(readDlqHeaders(bad.message.headers)).toMatchObject({
    reason: 'upstream-4xx',
    attempts: 1,
    sourceOffset: '1',
  });
  expect(api.requestsFor(5)).toHaveLength(1);
  expect(api.requestsFor(-7)).toHaveLength(1);
  expect(results().map((r) => resultOf(r).jobId)).toEqual([fine.jobId]);
  expect(await metricValue(f, 'fetcher_dlq_messages_total', { reason: 'not-found' })).toBe(1);
  expect(await metricValue(f, 'fetcher_retries_total')).toBe(0);
});

test('429 with Retry-After: 1 → the retry arrives no earlier than 1 s later, and succeeds', async () => {
  await api.setFaults({ rateLimitRate: 1, retryAfterSeconds: 1 });
  // Runs after the server answered the first request (429): later requests are answered normally.
  api.server.server.once('request', () => api.server.faults.update({ rateLimitRate: 0 }));
  const j = job(1_500_000);
  await produce(topics.jobs, [j]);
  const f = await startFetcher({ FETCHER_BACKOFF_BASE_MS: '1', FETCHER_BACKOFF_MAX_MS: '1' });
  await out.waitFor((items) => items.length >= 1, 'the result');

  expect(resultOf(results()[0]).jobId).toBe(j.jobId);
  const [first, second, ...rest] = api.requestsFor(1_500_000);
  expect(rest).toHaveLength(0);
  expect(second.at - first.at).toBeGreaterThanOrEqual(1000);
  expect(await metricValue(f, 'fetcher_requests_total', { outcome: '429' })).toBe(1);
  expect(await metricValue(f, 'fetcher_retries_total')).toBe(1);
});

test('429 every time → DLQ retries-exhausted after FETCHER_MAX_ATTEMPTS, each retry honouring Retry-After', async () => {
  await api.setFaults({ rateLimitRate: 1, retryAfterSeconds: 1 });
  const j = job(1_500_001);
  await produce(topics.jobs, [j]);
  const f = await startFetcher({
    FETCHER_MAX_ATTEMPTS: '3',
    FETCHER_BACKOFF_BASE_MS: '1',
    FETCHER_BACKOFF_MAX_MS: '1',
  });
  await out.waitFor((items) => items.length >= 1, 'the dead letter');

  expect(results()).toHaveLength(0);
  expect(readDlqHeaders(dlq()[0].message.headers)).toMatchObject({ reason: 'retries-exhausted', attempts: 3 });
  expect(dlq()[0].headers['x-dlq-error']).toMatch(/429/);
  const times = api.requestsFor(1_500_001).map((r) => r.at);
  expect(times).toHaveLength(3);
  for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(1000);
  expect(await metricValue(f, 'fetcher_dlq_messages_total', { reason: 'retries-exhausted' })).toBe(1);
});

test('a 200 with a body that is not JSON → DLQ malformed-response at once (not retried)', async () => {
  await api.setFaults({ malformedRate: 1 });
  const j = job(1_600_000);
  await produce(topics.jobs, [j]);
  await startFetcher();
  await out.waitFor((items) => items.length >= 1, 'the dead letter');

  expect(readDlqHeaders(dlq()[0].message.headers)).toMatchObject({ reason: 'malformed-response', attempts: 1 });
  expect(dlq()[0].headers['x-dlq-error']).toMatch(/not JSON/);
  expect(api.requestsFor(1_600_000)).toHaveLength(1);
});

test('a hanging request is aborted after FETCHER_TIMEOUT_MS and retried', async () => {
  await api.setFaults({ hangRate: 1 });
  api.server.server.once('request', () => api.server.faults.update({ hangRate: 0 }));
  const j = job(1_700_000);
  await produce(topics.jobs, [j]);
  const f = await startFetcher({
    FETCHER_TIMEOUT_MS: '400',
    FETCHER_BACKOFF_BASE_MS: '1',
    FETCHER_BACKOFF_MAX_MS: '1',
  });
  await out.waitFor((items) => items.length >= 1, 'the result');

  expectCountsMatch(resultOf(results()[0]));
  const [first, second] = api.requestsFor(1_700_000);
  expect(second.at - first.at).toBeGreaterThanOrEqual(400 - 5);
  expect(second.at - first.at).toBeLessThan(3000);
  expect(await metricValue(f, 'fetcher_requests_total', { outcome: 'timeout' })).toBe(1);
  expect(await metricValue(f, 'fetcher_retries_total')).toBe(1);
});

test('hanging every time → retries-exhausted after the attempts, each one timed out', async () => {
  await api.setFaults({ hangRate: 1 });
  const j = job(1_700_001);
  await produce(topics.jobs, [j]);
  const f = await startFetcher({ FETCHER_TIMEOUT_MS: '200', FETCHER_MAX_ATTEMPTS: '3' });
  await out.waitFor((items) => items.length >= 1, 'the dead letter');

  expect(readDlqHeaders(dlq()[0].message.headers)).toMatchObject({ reason: 'retries-exhausted', attempts: 3 });
  expect(dlq()[0].headers['x-dlq-error']).toMatch(/no complete answer within 200 ms/);
  expect(api.requestsFor(1_700_001)).toHaveLength(3);
  expect(await metricValue(f, 'fetcher_requests_total', { outcome: 'timeout' })).toBe(3);
});

test('connection refused is transient: retried, then retries-exhausted', async () => {
  const j = job(1_700_002);
  await produce(topics.jobs, [j]);
  // a port nothing listens on: the test API's, after a second server took and released it
  const closed = await startTestApi();
  const url = closed.url;
  await closed.close();
  fetcher = new Fetcher({ config: testConfig(topics, url, { FETCHER_MAX_ATTEMPTS: '2' }), logger: testLogger() });
  await fetcher.start();
  await out.waitFor((items) => items.length >= 1, 'the dead letter');
  expect(readDlqHeaders(dlq()[0].message.headers)).toMatchObject({ reason: 'retries-exhausted', attempts: 2 });
  expect(dlq()[0].headers['x-dlq-error']).toMatch(/ECONNREFUSED/);
  expect(await metricValue(fetcher, 'fetcher_requests_total', { outcome: 'error' })).toBe(2);
});

test('an upstream outage (every request a 500): jobs out of attempts are held, not dead-lettered, and stored once it recovers', async () => {
  await api.setFaults({ errorRate: 1 });
  const jobs = ids(30).map((id) => job(id));
  await produce(topics.jobs, jobs);
  // The evidence of an outage is everyone's attempts during one job's tries. With at least as
  // many as a job makes itself, a job is held on its own two failures, however the 30 jobs
  // happen to be spread in time: on a loaded machine the first job's attempts can all end
  // before the others start, and a larger minimum would then dead-letter it.
  const f = await startFetcher({
    FETCHER_MAX_ATTEMPTS: '2',
    FETCHER_BACKOFF_BASE_MS: '1',
    FETCHER_BACKOFF_MAX_MS: '50',
    FETCHER_OUTAGE_MIN_REQUESTS: '2',
  });
  // every job has run out of its attempts at least once, and was held each time
  await until(async () => (await metricValue(f, 'fetcher_jobs_held_total')) >= 60, 'each job held twice');
  expect(dlq()).toHaveLength(0);
  expect(results()).toHaveLength(0);

  api.server.faults.reset();
  await out.waitFor((items) => items.length >= jobs.length, 'a result for every job');
  expect(dlq()).toHaveLength(0);
  expect(
    results()
      .map((r) => resultOf(r).jobId)
      .sort(),
  ).toEqual(jobs.map((j) => j.jobId).sort());
  expect(await metricValue(f, 'fetcher_dlq_messages_total')).toBe(0);
});

test('a poison message (not JSON) and an invalid job → DLQ not-json / invalid, and the partition moves on', async () => {
  const fine = job(1_800_000);
  await produce(topics.jobs, [
    { key: 'x', value: 'this is not json', partition: 3 },
    { key: 'x', value: JSON.stringify({ jobId: 'nope', influencerId: 1_800_001 }), partition: 3 },
    { key: 'x', value: JSON.stringify(fine), partition: 3 },
  ]);
  const f = await startFetcher();
  await out.waitFor((items) => items.length >= 3, '3 outputs');

  const reasons = dlq().map((d) => readDlqHeaders(d.message.headers));
  expect(reasons).toEqual([
    expect.objectContaining({ reason: 'not-json', attempts: 1, sourcePartition: 3, sourceOffset: '0' }),
    expect.objectContaining({ reason: 'invalid', attempts: 1, sourcePartition: 3, sourceOffset: '1' }),
  ]);
  expect(dlq()[0].message.value!.toString()).toBe('this is not json');
  expect(dlq()[1].headers['x-dlq-error']).toMatch(/jobId/);
  expect(resultOf(results()[0]).jobId).toBe(fine.jobId);
  expect(api.requests).toHaveLength(1);
  await until(
    async () => (await committedOffsets(f.config.FETCHER_GROUP_ID, topics.jobs)).get(3) === 3n,
    'partition 3 committed to 3',
  );
});

test('stop() mid-way commits only what Kafka acknowledged; a second fetcher in the group does the rest', async () => {
  // Slow answers and few slots: the first fetcher is stopped with most jobs not yet fetched.
  await api.setFaults({ latencyMs: 100 });
  const jobs = ids(300).map((id) => job(id));
  await produce(topics.jobs, jobs);
  const jobsIn = await collect([topics.jobs]);
  await jobsIn.waitFor((items) => items.length >= 300, 'the jobs read back');
  const offsetOf = new Map(
    jobsIn.items.map((i) => [(i.json as FetchJob).jobId, { partition: i.partition, offset: BigInt(i.message.offset) }]),
  );
  await jobsIn.stop();

  const extra = { FETCHER_CONCURRENCY: '8', FETCHER_CHUNK_SIZE: '4', FETCHER_SHUTDOWN_GRACE_MS: '0' };
  const first = await startFetcher(extra);
  const groupId = first.config.FETCHER_GROUP_ID;
  await out.waitFor((items) => items.length >= 20, 'some results from the first fetcher');
  await first.stop();
  fetcher = undefined;

  const produced = new Set(results().map((r) => resultOf(r).jobId));
  expect(produced.size).toBeLessThan(300);
  // Commit only after ack: every job below a committed offset has its result on the topic.
  const committed = await committedOffsets(groupId, topics.jobs);
  for (const j of jobs) {
    const { partition, offset } = offsetOf.get(j.jobId)!;
    if (offset < (committed.get(partition) ?? -1n)) expect([j.jobId, produced.has(j.jobId)]).toEqual([j.jobId, true]);
  }
  const committedCount = [...committed.values()].reduce((s, o) => s + (o > 0n ? o : 0n), 0n);
  expect(Number(committedCount)).toBeLessThanOrEqual(produced.size);

  // The same group picks up from the committed offsets: every job ends with a result.
  fetcher = new Fetcher({
    config: { ...testConfig(topics, api.url, extra), FETCHER_GROUP_ID: groupId, FETCHER_CONCURRENCY: 64 },
    logger: testLogger(),
  });
  await fetcher.start();
  await out.waitFor(
    () => new Set(results().map((r) => resultOf(r).jobId)).size >= 300,
    'a result for every job',
    90_000,
  );
  expect(dlq()).toHaveLength(0);
});

// ---------------------------------------------------------------------------------------------

const sum = (m: Map<number, bigint>) => [...m.values()].reduce((s, o) => s + (o > 0n ? o : 0n), 0n);
