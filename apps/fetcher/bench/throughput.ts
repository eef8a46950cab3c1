/**
 * Fetcher throughput against the mock API, next to wrk's ceiling on the same mock API.
 *
 *   yarn workspace @mockstagram/fetcher bench                  # from the repo root
 *   npx tsx apps/fetcher/bench/throughput.ts [--jobs 20000] [--wrk-seconds 10] [--no-wrk]
 *
 * Needs the Kafka broker (KAFKA_BROKERS, default 127.0.0.1:9092; `yarn devstack up`) and, for the
 * ceiling, wrk (Debian: apt-get install -y wrk). taskset (util-linux) is used when present.
 *
 * 1. Starts the mock API as it ships (built, its start script; bench/lib/mock-api.ts), pinned to core 0, faults
 *    off, and waits for /readyz.
 * 2. Ceiling: wrk pinned to core 1, 1 thread, 64 keep-alive connections, a random existing id per
 *    request, after a 2 s warm-up.
 * 3. ApiClient alone (no Kafka): --jobs lookups by FETCHER_CONCURRENCY loops through one client
 *    (FETCHER_CONNECTIONS), after a warm-up of the same size: the HTTP side's share of the cost.
 * 4. Fetcher: produces --jobs fetch jobs to a fresh 12-partition topic, then runs a Fetcher in this
 *    process (a new consumer group) and times from its first consumed job to the moment the last
 *    result is acknowledged by Kafka (commit included per chunk). Fetcher settings come from the
 *    environment as for the service (FETCHER_CONCURRENCY, FETCHER_CONNECTIONS, ...), so e.g.
 *    `FETCHER_CONNECTIONS=128 yarn workspace @mockstagram/fetcher bench` compares settings.
 *
 * The topics are deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import {
  createAdmin,
  createKafka,
  createLogger,
  createProducer,
  encodeFetchJob,
  ensureTopics,
  produceMany,
  type FetchJob,
} from '@mockstagram/shared';
import { startMockApi, wrk } from '../../../bench/lib/mock-api';
import { has } from '../../../bench/lib/proc';
import { buildApps } from '../../../scripts/build';
import { ApiClient, apiClientOptionsFrom } from '../src/api-client';
import { loadFetcherConfig, type FetcherConfig } from '../src/config';
import { Fetcher } from '../src/fetcher';
import { createFetcherMetrics } from '../src/metrics';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const JOBS = arg('jobs', 20_000);
const WRK_SECONDS = arg('wrk-seconds', 10);
const WRK_CONNECTIONS = arg('wrk-connections', 64);
const RUN_WRK = !args.includes('--no-wrk');

async function main(): Promise<void> {
  const logger = createLogger('fetcher-bench', 'warn');
  await buildApps(['mock-api']);
  const api = await startMockApi(0);
  const apiUrl = api.url;
  const kafka = createKafka({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    clientId: 'fetcher-bench',
    logger,
  });
  const suffix = `${Date.now().toString(36)}.${randomUUID().slice(0, 6)}`;
  const topics = {
    jobs: `bench.fetch-jobs.${suffix}`,
    results: `bench.fetch-results.${suffix}`,
    dlq: `bench.dlq.${suffix}`,
  };
  const admin = createAdmin(kafka);
  try {
    console.log(
      `node ${process.version}, ${os.cpus().length} cores, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(`mock API: ${api.command}`);

    let ceiling: number | undefined;
    if (RUN_WRK) ceiling = await runWrk(apiUrl);

    await ensureTopics(
      kafka,
      Object.values(topics).map((topic) => ({ topic, numPartitions: 12 })),
    );
    await produceJobs(kafka, topics.jobs, JOBS);

    const config = loadFetcherConfig({
      ...process.env,
      LOG_LEVEL: 'warn',
      TOPIC_FETCH_JOBS: topics.jobs,
      TOPIC_FETCH_RESULTS: topics.results,
      TOPIC_DLQ: topics.dlq,
      FETCHER_GROUP_ID: `bench-fetchers-${suffix}`,
      MOCK_API_URL: apiUrl,
    });
    const clientOnly = await runClientOnly(config);

    const metrics = createFetcherMetrics();
    const fetcher = new Fetcher({ config, logger, metrics, kafka });
    const value = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) =>
      (await c.get()).values.reduce((s, v) => s + v.value, 0);

    await fetcher.start();
    let first = 0;
    let cpuAtFirst = process.cpuUsage();
    for (;;) {
      const now = performance.now();
      if (first === 0 && (await value(metrics.jobsConsumed)) > 0) {
        first = now;
        cpuAtFirst = process.cpuUsage();
      }
      const done = (await value(metrics.resultsProduced)) + (await value(metrics.dlqMessages));
      if (done >= JOBS) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - first) / 1000;
    const cpu = process.cpuUsage(cpuAtFirst);
    const requests = await value(metrics.requests);
    const results = await value(metrics.resultsProduced);
    const dlq = await value(metrics.dlqMessages);
    await fetcher.stop();

    const knobs = ['FETCHER_CONCURRENCY', 'FETCHER_CONNECTIONS', 'FETCHER_TIMEOUT_MS', 'FETCHER_CHUNK_SIZE'] as const;
    console.log(
      `fetcher: ${knobs.map((k) => `${k}=${config[k]}`).join(' ')} (in process, unpinned; Kafka broker on the same 2 cores)`,
    );
    console.log(
      `fetcher: ${JOBS} jobs → ${results} results + ${dlq} dead letters in ${seconds.toFixed(2)} s (first consume → last result acknowledged)`,
    );
    console.log(
      `fetcher: ${Math.round(requests / seconds)} requests/s, ${Math.round(JOBS / seconds)} jobs/s, CPU ${((cpu.user + cpu.system) / JOBS).toFixed(1)} µs per job (${((cpu.user + cpu.system) / 1e4 / seconds).toFixed(0)} % of a core)`,
    );
    console.log(`api client alone (no Kafka): ${Math.round(clientOnly)} requests/s`);
    if (ceiling !== undefined) {
      console.log(
        `ceiling: ${Math.round(ceiling)} requests/s (wrk)  → fetcher reaches ${((100 * requests) / seconds / ceiling).toFixed(0)}% of it`,
      );
    }
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.close();
    await api.stop();
  }
}

/** Lookups per second of one ApiClient driven by FETCHER_CONCURRENCY loops (second of two runs). */
async function runClientOnly(config: FetcherConfig): Promise<number> {
  const client = new ApiClient(apiClientOptionsFrom(config, createFetcherMetrics()));
  try {
    let rate = 0;
    for (let round = 0; round < 2; round++) {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: config.FETCHER_CONCURRENCY }, async () => {
          while (next < JOBS) {
            const i = next++;
            await client.fetchInfluencer(1_000_000 + ((i * 7919) % 1_000_000));
          }
        }),
      );
      rate = JOBS / ((performance.now() - started) / 1000);
    }
    return rate;
  } finally {
    await client.close();
  }
}

/** wrk pinned to core 1 (bench/lib/mock-api.ts), after a 2 s warm-up; undefined when wrk is missing. */
async function runWrk(apiUrl: string): Promise<number | undefined> {
  if (!has('wrk')) {
    console.log('ceiling: skipped (wrk is not installed; Debian: apt-get install -y wrk)');
    return undefined;
  }
  const options = { connections: WRK_CONNECTIONS, core: 1, randomIds: true };
  await wrk(apiUrl, { ...options, seconds: 2 }); // warm-up (JIT)
  const run = await wrk(apiUrl, { ...options, seconds: WRK_SECONDS });
  console.log(`ceiling: ${run.command}`);
  console.log(run.output.trim().replace(/^/gm, '  '));
  return run.rps;
}

async function produceJobs(kafka: ReturnType<typeof createKafka>, topic: string, count: number): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const now = new Date().toISOString();
    for (let i = 0; i < count; i += 5000) {
      const messages = [];
      for (let j = i; j < Math.min(count, i + 5000); j++) {
        const job: FetchJob = {
          jobId: randomUUID(),
          influencerId: 1_000_000 + ((j * 7919) % 1_000_000),
          scheduledFor: now,
          attempt: 1,
        };
        messages.push({ key: String(job.influencerId), value: encodeFetchJob(job) });
      }
      await produceMany(producer, { topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
