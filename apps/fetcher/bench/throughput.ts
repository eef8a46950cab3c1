/**
 * Fetcher throughput against the mock API, next to wrk's ceiling on the same mock API.
 *
 *   yarn workspace @mockstagram/fetcher bench                  # from the repo root
 *   npx tsx apps/fetcher/bench/throughput.ts [--jobs 20000] [--wrk-seconds 10] [--no-wrk]
 *
 * Needs the Kafka broker (KAFKA_BROKERS, default 127.0.0.1:9092; `yarn devstack up`) and, for the
 * ceiling, wrk (Debian: apt-get install -y wrk). taskset (util-linux) is used when present.
 *
 * 1. Starts the mock API (apps/mock-api/src/main.ts) as its own process, pinned to core 0, faults
 *    off, and waits for /readyz.
 * 2. Ceiling: wrk pinned to core 1, 1 thread, 64 keep-alive connections, a random existing id per
 *    request, after a 2 s warm-up.
 * 3. ApiClient alone (no Kafka): --jobs lookups by FETCH_CONCURRENCY loops through one client
 *    (FETCH_CONNECTIONS), after a warm-up of the same size: the HTTP side's share of the cost.
 * 4. Fetcher: produces --jobs fetch jobs to a fresh 12-partition topic, then runs a Fetcher in this
 *    process (a new consumer group) and times from its first consumed job to the moment the last
 *    result is acknowledged by Kafka (commit included per chunk). Fetcher settings come from the
 *    environment as for the service (FETCH_CONCURRENCY, FETCH_CONNECTIONS, ...), so e.g.
 *    `FETCH_CONNECTIONS=128 yarn workspace @mockstagram/fetcher bench` compares settings.
 *
 * The topics are deleted at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createKafka, createLogger, createProducer, encodeFetchJob, type FetchJob } from '@mockstagram/shared';
import { ApiClient, apiClientOptionsFrom } from '../src/api-client';
import { loadFetcherConfig, type FetcherConfig } from '../src/config';
import { Fetcher } from '../src/fetcher';
import { createFetcherMetrics } from '../src/metrics';

const repoRoot = path.join(__dirname, '../../..');
const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const JOBS = arg('jobs', 20_000);
const WRK_SECONDS = arg('wrk-seconds', 10);
const WRK_CONNECTIONS = arg('wrk-connections', 64);
const RUN_WRK = !args.includes('--no-wrk');
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).status === 0;
const pinned = (core: number, cmd: string[]): string[] => (hasTaskset ? ['taskset', '-c', String(core), ...cmd] : cmd);

async function main(): Promise<void> {
  const logger = createLogger('fetcher-bench', 'warn');
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const apiCmd = pinned(0, [process.execPath, '--import', 'tsx', 'apps/mock-api/src/main.ts']);
  const api = spawn(apiCmd[0]!, apiCmd.slice(1), {
    cwd: repoRoot,
    env: { ...process.env, MOCK_API_PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const kafka = createKafka({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: 'fetcher-bench', logger });
  const suffix = `${Date.now().toString(36)}.${randomUUID().slice(0, 6)}`;
  const topics = { jobs: `bench.fetch-jobs.${suffix}`, results: `bench.fetch-results.${suffix}`, dlq: `bench.dlq.${suffix}` };
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitReady(`${apiUrl}/readyz`, api);
    console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`mock API: MOCK_API_PORT=${port} LOG_LEVEL=warn ${apiCmd.join(' ')}`);

    let ceiling: number | undefined;
    if (RUN_WRK) ceiling = runWrk(apiUrl);

    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 12, replicationFactor: 1 })),
    });
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

    const knobs = [
      'FETCH_CONCURRENCY',
      'FETCH_CONNECTIONS',
      'FETCH_PARTITIONS_CONCURRENTLY',
      'FETCH_CHUNK_SIZE',
    ] as const;
    console.log(`fetcher: ${knobs.map((k) => `${k}=${config[k]}`).join(' ')} (in process, unpinned; Kafka broker on the same 2 cores)`);
    console.log(`fetcher: ${JOBS} jobs → ${results} results + ${dlq} dead letters in ${seconds.toFixed(2)} s (first consume → last result acknowledged)`);
    console.log(`fetcher: ${Math.round(requests / seconds)} requests/s, ${Math.round(JOBS / seconds)} jobs/s, CPU ${((cpu.user + cpu.system) / JOBS).toFixed(1)} µs per job (${((cpu.user + cpu.system) / 1e4 / seconds).toFixed(0)} % of a core)`);
    console.log(`api client alone (no Kafka): ${Math.round(clientOnly)} requests/s`);
    if (ceiling !== undefined) {
      console.log(`ceiling: ${Math.round(ceiling)} requests/s (wrk)  → fetcher reaches ${((100 * requests) / seconds / ceiling).toFixed(0)}% of it`);
    }
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect();
    api.kill('SIGTERM');
  }
}

/** Lookups per second of one ApiClient driven by FETCH_CONCURRENCY loops (second of two runs). */
async function runClientOnly(config: FetcherConfig): Promise<number> {
  const client = new ApiClient(apiClientOptionsFrom(config, createFetcherMetrics()));
  try {
    let rate = 0;
    for (let round = 0; round < 2; round++) {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: config.FETCH_CONCURRENCY }, async () => {
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

function runWrk(apiUrl: string): number | undefined {
  if (spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).status !== 0) {
    console.log('ceiling: skipped (wrk is not installed; Debian: apt-get install -y wrk)');
    return undefined;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fetcher-bench-'));
  const script = path.join(dir, 'random-ids.lua');
  writeFileSync(
    script,
    'math.randomseed(os.time())\nrequest = function()\n  return wrk.format("GET", "/api/v1/influencers/" .. math.random(1000000, 1999999))\nend\n',
  );
  const url = `${apiUrl}/api/v1/influencers/1234567`;
  const base = pinned(1, ['wrk', '-t1', `-c${WRK_CONNECTIONS}`]);
  spawnSync(base[0]!, [...base.slice(1), '-d2s', '-s', script, url], { encoding: 'utf8' }); // warm-up (JIT)
  const cmd = [...base, `-d${WRK_SECONDS}s`, '-s', script, url];
  const run = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1];
  console.log(`ceiling: ${cmd.join(' ')}   (random-ids.lua: a random id in 1000000..1999999 per request)`);
  console.log(run.stdout.trim().replace(/^/gm, '  '));
  return rps === undefined ? undefined : Number(rps);
}

async function produceJobs(kafka: ReturnType<typeof createKafka>, topic: string, count: number): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const now = new Date().toISOString();
    for (let i = 0; i < count; i += 5000) {
      const messages = [];
      for (let j = i; j < Math.min(count, i + 5000); j++) {
        const job: FetchJob = { jobId: randomUUID(), influencerId: 1_000_000 + ((j * 7919) % 1_000_000), scheduledFor: now, attempt: 1 };
        messages.push({ key: String(job.influencerId), value: encodeFetchJob(job) });
      }
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mock API exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      await res.text();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`mock API not ready at ${url} after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
