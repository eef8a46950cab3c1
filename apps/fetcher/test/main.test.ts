/**
 * The service as a process (src/main.ts through tsx): configuration errors, SIGTERM, and a hard
 * crash (SIGKILL) with redelivery.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { FetchJob } from '@mockstagram/shared';
import { decodeFetchResult } from '@mockstagram/shared';
import { kafkaBrokers, startMain, type MainProcess } from '@mockstagram/testkit';
import { Fetcher } from '../src/fetcher';
import {
  collect,
  committedOffsets,
  createTestTopics,
  job,
  produce,
  startTestApi,
  testConfig,
  testLogger,
  type Collector,
  type TestApi,
  type TestTopics,
} from './support';

const repoRoot = path.join(__dirname, '../../..');

test('invalid configuration: exits non-zero and names the variable', () => {
  const run = spawnSync('npx', ['tsx', 'apps/fetcher/src/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, FETCHER_CONCURRENCY: 'abc', FETCHER_HTTP_PORT: '0' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status).not.toBe(0);
  expect(run.status).not.toBeNull();
  expect(run.stderr).toContain('FETCHER_CONCURRENCY="abc": expected a positive integer');
});

test('an old FETCH_* name set beside its new name to another value: exits 2 naming both', () => {
  const run = spawnSync('npx', ['tsx', 'apps/fetcher/src/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, FETCH_CONCURRENCY: '5', FETCHER_CONCURRENCY: '6', FETCHER_HTTP_PORT: '0' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status).toBe(2);
  expect(run.stderr).toContain('FETCH_CONCURRENCY="5"');
  expect(run.stderr).toContain('FETCHER_CONCURRENCY');
});

describe('as a process', () => {
  let api: TestApi;
  let topics: TestTopics;
  let out: Collector;
  let proc: MainProcess | undefined;
  let fetcher: Fetcher | undefined;

  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  beforeEach(async () => {
    api.server.faults.reset();
    topics = await createTestTopics();
    out = await collect([topics.results, topics.dlq]);
  });

  afterEach(async () => {
    proc?.child.kill('SIGKILL');
    proc = undefined;
    await fetcher?.stop();
    fetcher = undefined;
    await out.stop();
    await topics.remove();
  });

  /** Environment of a child fetcher: the test's topics, group and API; slow answers, few slots. */
  const envFor = (groupId: string): Record<string, string> => ({
    KAFKA_BROKERS: kafkaBrokers().join(','),
    TOPIC_FETCH_JOBS: topics.jobs,
    TOPIC_FETCH_RESULTS: topics.results,
    TOPIC_DLQ: topics.dlq,
    FETCHER_GROUP_ID: groupId,
    MOCK_API_URL: api.url,
    FETCHER_HTTP_PORT: '0',
    FETCHER_CONCURRENCY: '8',
    FETCHER_CHUNK_SIZE: '4',
    // the broker's minimum: a killed member's partitions move to the next fetcher after 6 s
    FETCHER_SESSION_TIMEOUT_MS: '6000',
  });

  /** Where each job sits in the job topic (read back from Kafka). */
  async function jobOffsets(count: number): Promise<Map<string, { partition: number; offset: bigint }>> {
    const back = await collect([topics.jobs]);
    try {
      await back.waitFor((items) => items.length >= count, `${count} jobs read back`);
      return new Map(
        back.items.map((i) => [
          (i.json as FetchJob).jobId,
          { partition: i.partition, offset: BigInt(i.message.offset) },
        ]),
      );
    } finally {
      await back.stop();
    }
  }

  const resultIds = () =>
    new Set(
      out.items
        .filter((i) => i.topic === topics.results)
        .map((i) => {
          const d = decodeFetchResult(i.message.value);
          return d.ok ? d.value.jobId : 'undecodable';
        }),
    );

  /** No job below a committed offset lacks its result (offsets are committed only after the ack). */
  async function expectCommittedHaveResults(
    groupId: string,
    offsets: Map<string, { partition: number; offset: bigint }>,
  ): Promise<number> {
    const committed = await committedOffsets(groupId, topics.jobs);
    const produced = resultIds();
    let below = 0;
    for (const [jobId, { partition, offset }] of offsets) {
      if (offset < (committed.get(partition) ?? -1n)) {
        below += 1;
        expect([jobId, produced.has(jobId)]).toEqual([jobId, true]);
      }
    }
    return below;
  }

  /** A fetcher in the same group finishes the work: every job gets a result. */
  async function finishInProcess(groupId: string, total: number): Promise<void> {
    const config = { ...testConfig(topics, api.url), FETCHER_GROUP_ID: groupId };
    fetcher = new Fetcher({ config, logger: testLogger() });
    await fetcher.start();
    await out.waitFor(() => resultIds().size >= total, `a result for each of the ${total} jobs`, 90_000);
    expect(out.items.filter((i) => i.topic === topics.dlq)).toHaveLength(0);
  }

  test('SIGTERM mid-way: exits 0, committed only what Kafka acknowledged; the group finishes the rest', async () => {
    await api.setFaults({ latencyMs: 100 });
    const jobs = Array.from({ length: 300 }, (_, i) => job(1_100_000 + i));
    await produce(topics.jobs, jobs);
    const offsets = await jobOffsets(300);
    const groupId = `fetchers-sigterm-${Date.now()}`;

    proc = startMain('fetcher', envFor(groupId));
    await out.waitFor(() => resultIds().size >= 20, 'some results from the process', 60_000);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('shutdown complete, exiting 0');

    expect(resultIds().size).toBeLessThan(300);
    const committed = await expectCommittedHaveResults(groupId, offsets);
    expect(committed).toBeGreaterThan(0);
    const requestsBefore = api.requests.length;
    await finishInProcess(groupId, 300);
    // exactly the uncommitted jobs were fetched again
    expect(api.requests.length - requestsBefore).toBe(300 - committed);
  });

  test('SIGKILL mid-way (crash before commits): nothing is lost, the redelivered jobs are fetched again', async () => {
    await api.setFaults({ latencyMs: 100 });
    const jobs = Array.from({ length: 300 }, (_, i) => job(1_200_000 + i));
    await produce(topics.jobs, jobs);
    const offsets = await jobOffsets(300);
    const groupId = `fetchers-sigkill-${Date.now()}`;

    proc = startMain('fetcher', envFor(groupId));
    await out.waitFor(() => resultIds().size >= 20, 'some results from the process', 60_000);
    proc.child.kill('SIGKILL');
    expect(await proc.exited).toBeNull();
    const requestsBefore = api.requests.length;

    const producedBeforeCrash = resultIds().size;
    expect(producedBeforeCrash).toBeLessThan(300);
    const committed = await expectCommittedHaveResults(groupId, offsets);
    await finishInProcess(groupId, 300);
    // Exactly the uncommitted jobs were fetched again, including those whose results were already
    // out when the process died (delivered twice: at least once, never lost).
    expect(api.requests.length - requestsBefore).toBe(300 - committed);
    expect(producedBeforeCrash).toBeGreaterThanOrEqual(committed);
  });
});
