/**
 * `yarn bench parts`: our parts, each to be read as a fraction of its ceiling (`yarn bench ceilings`).
 *
 * - fetcher:  the Fetcher (apps/fetcher/src, imported) in this process against the mock API pinned
 *             to core 0: --jobs jobs in a fresh topic, a fresh group per run, from the first job
 *             consumed to the last result acknowledged. Its settings come from the environment as
 *             for the service (FETCHER_CONCURRENCY, FETCHER_CONNECTIONS, ...). Ceiling: wrk, random
 *             ids (api.wrk). Also the process's CPU per job over that span.
 * - client:   the fetcher's ApiClient alone (no Kafka), --jobs lookups by FETCHER_CONCURRENCY loops
 *             through one client against the same pinned mock API: the HTTP side's share of the
 *             fetcher's cost. Ceiling: api.wrk.
 * - producer: the shared idempotent producer (@platformatic/kafka: createProducer + produceMany,
 *             acks=all), --kafka-messages records of --record-size bytes, 12,000-message sends one
 *             after another; and 12 callers at once, 500 per call, on one producer.
 *             Ceiling: ProducerPerformance (kafka.produce).
 * - consumer: the shared stage (batch mode, no work per batch, committing) over the producer's
 *             topic, a fresh group per run. Ceiling: ConsumerPerformance.
 * - sink:     the ResultHandler draining a pre-filled results topic (--messages, default 2,000,000)
 *             into the hypertable (bench/lib/sink.ts). Ceiling: the result-handler's write statement (db.insert.devstack.hypertable).
 */
import { randomUUID } from 'node:crypto';
import { createProducer, encodeFetchJob, produceMany, type FetchJob } from '@mockstagram/shared';
import type { Message } from '@mockstagram/shared';
import {
  ApiClient,
  apiClientOptionsFrom,
  loadFetcherConfig,
  type FetcherConfig,
  Fetcher,
  createFetcherMetrics,
} from '@mockstagram/fetcher';
import { createTopics, uniqueName } from '@mockstagram/testkit';
import { benchKafka, benchLogger, stageConsumeRate } from './lib/kafka';
import { startMockApi } from './lib/mock-api';
import { sleep } from './lib/proc';
import type { Report } from './lib/report';
import { addSinkMeasurements, measureSinks } from './lib/drain';
import { OurSink } from './lib/sink';

export interface PartOptions {
  runs: number;
  only: Set<string>;
  jobs: number;
  kafkaMessages: number;
  recordSize: number;
  messages: number;
  influencers: number;
}

export async function parts(o: PartOptions, report: Report): Promise<void> {
  const want = (p: string) => o.only.size === 0 || o.only.has(p);
  if (want('fetcher')) await fetcherPart(o, report).catch((err) => report.fail('fetcher', err));
  if (want('client')) await clientPart(o, report).catch((err) => report.fail('api client', err));
  if (want('producer') || want('consumer'))
    await kafkaParts(o, report, want('consumer')).catch((err) => report.fail('kafka', err));
  if (want('sink')) {
    const r = await measureSinks([new OurSink()], { ...o, liveSeconds: 0, liveRate: 0 }, report);
    const runs = r.get('ours') ?? [];
    if (runs.length) addSinkMeasurements(report, 'ours', runs, o.messages);
  }
}

type Counter = { get(): Promise<{ values: Array<{ value: number }> }> };
const total = async (c: Counter) => (await c.get()).values.reduce((s, v) => s + v.value, 0);

async function fetcherPart(o: PartOptions, report: Report): Promise<void> {
  const api = await startMockApi(0);
  report.command(`mock API: ${api.command}`);
  const topics = await createTopics(['bench-fetch-jobs', 'bench-fetch-results', 'bench-dlq'], 12);
  const [jobsTopic, resultsTopic, dlqTopic] = topics.names as [string, string, string];
  const kafka = benchKafka('bench-fetcher');
  try {
    await produceJobs(jobsTopic, o.jobs);
    const runs: number[] = [];
    const cpuPerJob: number[] = [];
    let knobs = '';
    // One unreported warm-up run (JIT, connections), then the measured ones.
    for (let i = 0; i <= o.runs; i++) {
      const config = fetcherConfig(api.url, { jobs: jobsTopic, results: resultsTopic, dlq: dlqTopic });
      knobs = (['FETCHER_CONCURRENCY', 'FETCHER_CONNECTIONS', 'FETCHER_TIMEOUT_MS', 'FETCHER_CHUNK_SIZE'] as const)
        .map((k) => `${k}=${config[k]}`)
        .join(' ');
      const metrics = createFetcherMetrics();
      const fetcher = new Fetcher({ config, logger: benchLogger, metrics, kafka });
      await fetcher.start();
      let first = 0;
      let cpuAtFirst = process.cpuUsage();
      const deadline = Date.now() + 10 * 60_000;
      for (;;) {
        const now = performance.now();
        if (first === 0 && (await total(metrics.jobsConsumed)) > 0) {
          first = now;
          cpuAtFirst = process.cpuUsage();
        }
        if ((await total(metrics.resultsProduced)) + (await total(metrics.dlqMessages)) >= o.jobs) break;
        if (Date.now() > deadline) throw new Error('fetcher did not finish within 10 minutes');
        await sleep(5);
      }
      const seconds = (performance.now() - first) / 1000;
      const cpu = process.cpuUsage(cpuAtFirst);
      const requests = await total(metrics.requests);
      await fetcher.stop();
      if (i > 0) {
        runs.push(requests / seconds);
        cpuPerJob.push((cpu.user + cpu.system) / o.jobs);
      }
    }
    report.command(
      `fetcher: ${o.jobs} jobs, Fetcher in-process (unpinned) with the service defaults ${knobs}, a fresh consumer group per run, first job consumed → last result acknowledged`,
    );
    report.add({
      key: 'part.fetcher',
      label: 'fetcher → mock API → results topic',
      unit: 'req/s',
      runs,
      ceilingKey: 'api.wrk',
    });
    // This process's CPU (the fetcher, plus this loop's 5 ms polls of its metrics) per job, over the same span.
    report.add({ key: 'part.fetcher.cpu', label: 'fetcher: CPU per job (bench process)', unit: 'µs', runs: cpuPerJob });
  } finally {
    await topics.remove();
    await api.stop();
  }
}

/** The fetcher's settings for a run against `apiUrl`, from the environment as for the service. */
function fetcherConfig(apiUrl: string, topics: { jobs: string; results: string; dlq: string }): FetcherConfig {
  return loadFetcherConfig({
    ...process.env,
    LOG_LEVEL: 'error',
    TOPIC_FETCH_JOBS: topics.jobs,
    TOPIC_FETCH_RESULTS: topics.results,
    TOPIC_DLQ: topics.dlq,
    FETCHER_GROUP_ID: uniqueName('bench-fetchers'),
    MOCK_API_URL: apiUrl,
  });
}

async function clientPart(o: PartOptions, report: Report): Promise<void> {
  const api = await startMockApi(0);
  report.command(`mock API: ${api.command}`);
  try {
    // Topics are not used: the client talks to the mock API only.
    const config = fetcherConfig(api.url, { jobs: 'unused', results: 'unused', dlq: 'unused' });
    const client = new ApiClient(apiClientOptionsFrom(config, createFetcherMetrics()));
    try {
      const lookups = async (): Promise<number> => {
        let next = 0;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: config.FETCHER_CONCURRENCY }, async () => {
            while (next < o.jobs) {
              const i = next++;
              await client.fetchInfluencer(1_000_000 + ((i * 7919) % 1_000_000));
            }
          }),
        );
        return o.jobs / ((performance.now() - t0) / 1000);
      };
      await lookups(); // warm-up (JIT, connections), not reported
      const runs: number[] = [];
      for (let i = 0; i < o.runs; i++) runs.push(await lookups());
      report.command(
        `api client: ${o.jobs} lookups, one ApiClient (apps/fetcher/src/api-client.ts) in-process (unpinned), FETCHER_CONCURRENCY=${config.FETCHER_CONCURRENCY} loops, FETCHER_CONNECTIONS=${config.FETCHER_CONNECTIONS}, no Kafka`,
      );
      report.add({
        key: 'part.client',
        label: 'fetcher ApiClient alone → mock API',
        unit: 'req/s',
        runs,
        ceilingKey: 'api.wrk',
      });
    } finally {
      await client.close();
    }
  } finally {
    await api.stop();
  }
}

async function produceJobs(topic: string, count: number): Promise<void> {
  const producer = createProducer(benchKafka('bench-jobs'));
  await producer.connect();
  try {
    const now = new Date().toISOString();
    for (let i = 0; i < count; i += 12_000) {
      const messages: Message[] = [];
      for (let j = i; j < Math.min(count, i + 12_000); j++) {
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

/** `count` keyed messages with `size`-byte values (printable, like ProducerPerformance's). */
function records(count: number, size: number): Message[] {
  const value = Buffer.alloc(size, 'x');
  return Array.from({ length: count }, (_, i) => ({ key: String(1_000_000 + (i % 1_000_000)), value }));
}

async function produceRate(topic: string, all: Message[], callers: number, perCall: number): Promise<number> {
  const producer = createProducer(benchKafka('bench-producer'));
  await producer.connect();
  try {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: callers }, async () => {
        for (;;) {
          const from = next;
          if (from >= all.length) return;
          next += perCall;
          await produceMany(producer, { topic, messages: all.slice(from, from + perCall) });
        }
      }),
    );
    return all.length / ((performance.now() - t0) / 1000);
  } finally {
    await producer.disconnect();
  }
}

async function kafkaParts(o: PartOptions, report: Report, consume: boolean): Promise<void> {
  const all = records(o.kafkaMessages, o.recordSize);
  const bulk: number[] = [];
  const fetcherLike: number[] = [];
  const consumed: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const topics = await createTopics(['bench-producer', 'bench-producer-small'], 12);
    try {
      bulk.push(await produceRate(topics.names[0], all, 1, 12_000));
      fetcherLike.push(await produceRate(topics.names[1], all, 12, 500));
      if (consume) consumed.push(await stageConsumeRate(topics.names[0], all.length));
    } finally {
      await topics.remove();
    }
  }
  report.command(
    `shared producer (@platformatic/kafka): createProducer (idempotent, acks=all, compatibilityPartitioner) + produceMany (one send per call, no compression), ${o.kafkaMessages} keyed records of ${o.recordSize} B into a fresh 12-partition topic: (a) 12,000 per call, one call at a time; (b) 500 per call, 12 callers at once on one producer`,
  );
  report.add({
    key: 'part.producer.bulk',
    label: `shared producer, ${o.recordSize} B, 12,000/call`,
    unit: 'msg/s',
    runs: bulk,
    ceilingKey: 'kafka.produce',
  });
  report.add({
    key: 'part.producer.fetcherLike',
    label: `shared producer, ${o.recordSize} B, 12 × 500/call`,
    unit: 'msg/s',
    runs: fetcherLike,
    ceilingKey: 'kafka.produce',
  });
  if (consume) {
    report.command(
      `shared stage consumer: batch mode, 12,000 per batch, nothing done per batch, offsets committed, the (a) topic from the start, first message → last`,
    );
    report.add({
      key: 'part.consumer',
      label: `shared stage consumer, ${o.recordSize} B`,
      unit: 'msg/s',
      runs: consumed,
      ceilingKey: 'kafka.consume',
    });
  }
}
