/**
 * End to end: N influencers at one interval, the four services as separate processes exactly as
 * their `start` scripts and the image run them (`yarn build`, then `node --max-old-space-size=128 dist/main.js`,
 * LOG_LEVEL=warn), on a fresh schema and unique topics (12 partitions), tracing export off.
 *
 * After a warm-up of one interval, over `minutes`:
 * - samples/s: rows whose inserted_at falls in the window / window seconds;
 * - jobs/s: jobs (read from the jobs topic by the bench's own consumer group) whose scheduledFor falls
 *   in the window / window seconds; expected N / interval;
 * - delay scheduledFor → inserted_at of each such job's row (joined on job_id after the run):
 *   p50 / p99 / max (inserted_at is the inserting transaction's start: slightly understated);
 * - scheduling lag (`scheduler_lag_seconds`) and consumer lag (`kafka_consumer_lag`, summed over
 *   partitions, of fetcher and result-handler), scraped every few seconds: max and last;
 * - lost: jobs whose slot is older than end − 2 × interval with no row; duplicated: rows sharing a
 *   job_id, and jobs emitted twice for one (influencer, slot);
 * - peak RSS (VmHWM) and CPU seconds (utime + stime) of each service's node process, and CPU seconds of the engines (the database server with all its backends, the Kafka broker).
 */
import os from 'node:os';
import { InfluencerRegistry, REGISTRY_DEFAULTS } from '@mockstagram/scheduler';
import { createPool, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import type { Consumer } from 'kafkajs';
import {
  createTopics,
  freshSchema,
  kafkaBrokers,
  testKafka,
  uniqueName,
  type TestSchema,
  metricSum,
  pipelineEnvironments,
  ServiceProcess,
  startCommand,
  type ServiceName,
} from '@mockstagram/testkit';
import { benchLogger } from './lib/kafka';
import { percentile, ProcWatch, pgrepBusiest, type ProcFigures } from './lib/procstats';
import { databasePid, engineOf } from './lib/sink';
import { sleep } from './lib/proc';
import { fmt, type Report } from './lib/report';

export interface E2eOptions {
  influencers: number;
  intervalSeconds: number;
  minutes: number;
  /** Scrape metrics / poll /proc every this many ms. */
  scrapeMs?: number;
}

const FIRST_ID = 1_000_000;
const SERVICES: ServiceName[] = ['mock-api', 'scheduler', 'fetcher', 'result-handler'];

interface Job {
  scheduledFor: number;
  influencerId: number;
}

export async function e2e(o: E2eOptions, report: Report): Promise<void> {
  const scrapeMs = o.scrapeMs ?? 3000;
  const logger = benchLogger;
  const db: TestSchema = await freshSchema('bench_e2e');
  const pool: Pool = createPool({ connectionString: db.url, max: 2, logger });
  const topics = await createTopics(['bench.e2e.jobs', 'bench.e2e.results', 'bench.e2e.dlq'], 12);
  const [jobsTopic, resultsTopic, dlqTopic] = topics.names as [string, string, string];
  const services = new Map<ServiceName, ServiceProcess>();
  const watch = new ProcWatch();
  let consumer: Consumer | undefined;
  try {
    await migrate({ pool, logger });

    // The bench's own view of the jobs topic: jobId → (scheduledFor, influencerId).
    const jobs = new Map<string, Job>();
    const consumed = new Map<number, number>();
    let jobMessages = 0;
    consumer = testKafka('bench-e2e-jobs').consumer({ groupId: uniqueName('bench-e2e-jobs'), maxBytes: 50 * 2 ** 20 });
    await consumer.connect();
    await consumer.subscribe({ topic: jobsTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const v = JSON.parse(m.value!.toString()) as { jobId: string; influencerId: number; scheduledFor: string };
          jobs.set(v.jobId, { scheduledFor: Date.parse(v.scheduledFor), influencerId: v.influencerId });
          jobMessages++;
        }
        consumed.set(batch.partition, Number(batch.lastOffset()) + 1);
      },
    });

    // Register N influencers, first slots spread over one interval (the default).
    const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool });
    const regStart = performance.now();
    await registry.register(
      { range: { from: FIRST_ID, to: FIRST_ID + o.influencers - 1 } },
      { intervalSeconds: o.intervalSeconds },
    );
    report.note(
      `registered ${o.influencers.toLocaleString('en-US')} influencers in ${((performance.now() - regStart) / 1000).toFixed(1)} s`,
    );

    // The four services, run as their `start` scripts do (bench/cli.ts built them).
    const { ports: portOf, envs } = await pipelineEnvironments({
      kafkaBrokers: kafkaBrokers().join(','),
      databaseUrl: db.url,
      topics: { jobs: jobsTopic, results: resultsTopic, dlq: dlqTopic },
      groups: { fetchers: uniqueName('bench-e2e-fetchers'), handlers: uniqueName('bench-e2e-handlers') },
      common: { LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_TRACES_SAMPLER_ARG: '0' },
    });
    // Consumers first, so the first jobs find their groups joined.
    for (const group of [['mock-api', 'result-handler', 'fetcher'], ['scheduler']] as ServiceName[][]) {
      const started = await Promise.all(group.map((n) => ServiceProcess.start(n, portOf[n], envs[n], 120_000)));
      for (const s of started) services.set(s.name, s);
    }
    for (const n of SERVICES) {
      report.command(
        `${Object.entries(envs[n])
          .map(([k, v]) => `${k}=${v || "''"}`)
          .join(' ')} (cd apps/${n} && ${startCommand(n).join(' ')})   (its start script, after yarn build)`,
      );
      watch.add(n, services.get(n)!.child.pid!, true);
    }
    const pg = databasePid();
    if (pg) watch.add(`engine: database server (${engineOf(pg)}, all its processes)`, pg, false, { tree: true });
    const broker = pgrepBusiest('kafka.Kafka');
    if (broker) watch.add('engine: Kafka broker', broker, false);

    const t0 = Date.now();
    const windowStart = t0 + o.intervalSeconds * 1000;
    const windowEnd = windowStart + o.minutes * 60_000;
    console.log(
      `  services ready; warm-up until ${new Date(windowStart).toISOString()}, measuring until ${new Date(windowEnd).toISOString()}`,
    );

    // Scrape metrics and /proc every few seconds.
    const lag = {
      schedulerMax: 0,
      schedulerLast: 0,
      consumerMax: { fetcher: 0, 'result-handler': 0 },
      consumerLast: { fetcher: 0, 'result-handler': 0 },
    };
    let cpuAtWindowStart: Map<string, number> | undefined;
    let lastPrint = 0;
    for (;;) {
      const now = Date.now();
      watch.poll();
      if (!cpuAtWindowStart && now >= windowStart) cpuAtWindowStart = watch.cpuSnapshot();
      const dead = [...services.values()].find((s) => s.child.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited with ${dead.child.exitCode}:\n${dead.logs.slice(-3000)}`);
      try {
        const [sch, fet, han] = await Promise.all([
          services.get('scheduler')!.metrics(),
          services.get('fetcher')!.metrics(),
          services.get('result-handler')!.metrics(),
        ]);
        const inWindow = now >= windowStart;
        const s = metricSum(sch, 'scheduler_lag_seconds');
        const f = metricSum(fet, 'kafka_consumer_lag');
        const h = metricSum(han, 'kafka_consumer_lag');
        lag.schedulerLast = s;
        lag.consumerLast = { fetcher: f, 'result-handler': h };
        if (inWindow) {
          lag.schedulerMax = Math.max(lag.schedulerMax, s);
          lag.consumerMax.fetcher = Math.max(lag.consumerMax.fetcher, f);
          lag.consumerMax['result-handler'] = Math.max(lag.consumerMax['result-handler'], h);
        }
        if (now - lastPrint >= 30_000) {
          lastPrint = now;
          const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM follower_counts');
          console.log(
            `  t=${Math.round((now - t0) / 1000)} s  jobs seen ${jobMessages.toLocaleString('en-US')}  rows ${rows[0].n.toLocaleString('en-US')}  ` +
              `scheduler lag ${s.toFixed(1)} s  consumer lag fetcher ${f} result-handler ${h}`,
          );
        }
      } catch (err) {
        report.note(
          `scrape at t=${Math.round((now - t0) / 1000)} s failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      if (now >= windowEnd) break;
      await sleep(Math.min(scrapeMs, Math.max(0, windowEnd - now)));
    }
    watch.poll();
    const cpuAtWindowEnd = watch.cpuSnapshot();
    const loadAtEnd = os.loadavg();

    // Drain: slots due just before the end are claimed on the next tick and stored a few seconds
    // later; let them finish (both consumer lags 0 for two scrapes, at least 10 s, at most 2 intervals)
    // so their delays count instead of being left out.
    const drainStart = Date.now();
    let idle = 0;
    while (Date.now() - drainStart < 2 * o.intervalSeconds * 1000) {
      await sleep(2000);
      try {
        const [fet, han] = await Promise.all([
          services.get('fetcher')!.metrics(),
          services.get('result-handler')!.metrics(),
        ]);
        idle = metricSum(fet, 'kafka_consumer_lag') + metricSum(han, 'kafka_consumer_lag') === 0 ? idle + 1 : 0;
      } catch {
        idle = 0;
      }
      if (idle >= 2 && Date.now() - drainStart >= 10_000) break;
    }
    report.note(`drained for ${((Date.now() - drainStart) / 1000).toFixed(0)} s after the window`);

    // Stop the services (SIGTERM: flush, commit, exit 0), scheduler first.
    const exitCodes: Record<string, number | null> = {};
    exitCodes.scheduler = await services.get('scheduler')!.stop();
    for (const n of ['fetcher', 'result-handler', 'mock-api'] as ServiceName[])
      exitCodes[n] = await services.get(n)!.stop();
    report.note(`exit codes: ${JSON.stringify(exitCodes)}`);

    // The bench's jobs consumer has read the whole jobs topic.
    const admin = testKafka('bench-e2e-admin').admin();
    await admin.connect();
    const ends = new Map((await admin.fetchTopicOffsets(jobsTopic)).map((p) => [p.partition, Number(p.high)]));
    await admin.disconnect();
    const readDeadline = Date.now() + 60_000;
    while ([...ends].some(([p, end]) => end > 0 && (consumed.get(p) ?? 0) < end) && Date.now() < readDeadline)
      await sleep(200);
    await consumer.disconnect();
    consumer = undefined;

    // Rows: job_id → inserted_at.
    const { rows } = await pool.query<[string | null, number]>({
      text: 'SELECT job_id::text, (extract(epoch FROM inserted_at) * 1000)::float8 FROM follower_counts',
      rowMode: 'array',
    });
    const insertedAt = new Map<string, number>();
    let rowsSharingJob = 0;
    let rowsWithoutJob = 0;
    let rowsInWindow = 0;
    let rowsOfEmittedJobs = 0;
    for (const [job, at] of rows) {
      if (at >= windowStart && at < windowEnd) rowsInWindow++;
      if (!job) {
        rowsWithoutJob++;
        continue;
      }
      if (insertedAt.has(job)) rowsSharingJob++;
      else insertedAt.set(job, at);
      if (jobs.has(job)) rowsOfEmittedJobs++;
    }
    const slots = new Set<string>();
    let jobsSameSlot = 0;
    let jobsInWindow = 0;
    let lost = 0;
    let pendingRecent = 0;
    let windowJobsWithoutRow = 0;
    const delays: number[] = [];
    const lostCutoff = windowEnd - 2 * o.intervalSeconds * 1000;
    for (const [id, j] of jobs) {
      const slot = `${j.influencerId}@${j.scheduledFor}`;
      if (slots.has(slot)) jobsSameSlot++;
      else slots.add(slot);
      const at = insertedAt.get(id);
      if (j.scheduledFor >= windowStart && j.scheduledFor < windowEnd) {
        jobsInWindow++;
        if (at !== undefined) delays.push(at - j.scheduledFor);
        else windowJobsWithoutRow++;
      }
      if (at === undefined) {
        if (j.scheduledFor < lostCutoff) lost++;
        else pendingRecent++;
      }
    }
    delays.sort((a, b) => a - b);
    const windowSeconds = (windowEnd - windowStart) / 1000;
    const expectedJobsPerSec = o.influencers / o.intervalSeconds;
    const samplesPerSec = rowsInWindow / windowSeconds;
    const jobsPerSec = jobsInWindow / windowSeconds;
    const p50 = percentile(delays, 0.5) / 1000;
    const p99 = percentile(delays, 0.99) / 1000;
    const max = (delays[delays.length - 1] ?? NaN) / 1000;
    const keptUp =
      jobsPerSec >= 0.95 * expectedJobsPerSec &&
      samplesPerSec >= 0.95 * jobsPerSec &&
      p99 < 30 &&
      lost === 0 &&
      windowJobsWithoutRow === 0;

    const add = (key: string, label: string, unit: string, value: number, extra?: Record<string, unknown>) =>
      report.add({ key: `e2e.${key}`, label, unit, runs: [value], ...(extra ? { extra } : {}) });
    add('jobs_per_sec', `jobs scheduled/s (expected ${fmt(expectedJobsPerSec)})`, 'jobs/s', jobsPerSec, {
      jobsInWindow,
      expectedJobsPerSec,
    });
    add('samples_per_sec', 'samples stored/s (inserted_at in the window)', 'rows/s', samplesPerSec, {
      rowsInWindow,
      windowSeconds,
    });
    add('delay_p50', 'delay scheduledFor → insert, p50', 's', p50, {
      jobsWithRow: delays.length,
      windowJobsWithoutRow,
    });
    add('delay_p99', 'delay scheduledFor → insert, p99', 's', p99);
    add('delay_max', 'delay scheduledFor → insert, max', 's', max);
    add('scheduler_lag_max', 'scheduling lag (scheduler_lag_seconds), max', 's', lag.schedulerMax);
    add('scheduler_lag_last', 'scheduling lag, last', 's', lag.schedulerLast);
    add('consumer_lag_fetcher_max', 'consumer lag fetcher (jobs), max', 'messages', lag.consumerMax.fetcher);
    add('consumer_lag_fetcher_last', 'consumer lag fetcher (jobs), last', 'messages', lag.consumerLast.fetcher);
    add(
      'consumer_lag_handler_max',
      'consumer lag result-handler (results), max',
      'messages',
      lag.consumerMax['result-handler'],
    );
    add(
      'consumer_lag_handler_last',
      'consumer lag result-handler (results), last',
      'messages',
      lag.consumerLast['result-handler'],
    );
    add('jobs_emitted', 'jobs emitted (whole run)', 'jobs', jobs.size, { jobMessages, distinctSlots: slots.size });
    add('rows_stored', 'rows stored of emitted jobs (whole run)', 'rows', rowsOfEmittedJobs, {
      rowsTotal: rows.length,
      rowsWithoutJob,
    });
    add('lost', `lost (slot before end − ${2 * o.intervalSeconds} s, no row)`, 'jobs', lost, { pendingRecent });
    add('dup_rows', 'duplicate rows (sharing a job_id)', 'rows', rowsSharingJob);
    add('dup_jobs', 'jobs emitted twice for one slot', 'jobs', jobsSameSlot + (jobMessages - jobs.size));
    const figures: ProcFigures[] = watch.figures(cpuAtWindowStart ?? new Map(), cpuAtWindowEnd);
    for (const p of figures) {
      const k = p.name.replace(/[^a-z]+/gi, '_');
      if (p.peakRssMiB !== undefined) add(`rss.${k}`, `${p.name}: peak RSS`, 'MiB', p.peakRssMiB, { pid: p.pid });
      add(
        `cpu.${k}`,
        `${p.name}: CPU in the window (${fmt((p.cpuWindowSeconds / windowSeconds) * 100)} % of a core)`,
        'CPU s',
        p.cpuWindowSeconds,
        {
          pid: p.pid,
          cpuTotalSeconds: p.cpuTotalSeconds,
          cpuPerKiloSample: rowsInWindow ? (p.cpuWindowSeconds / rowsInWindow) * 1000 : undefined,
        },
      );
    }
    report.settings.loadAtEnd = loadAtEnd.map((l) => Number(l.toFixed(2)));
    report.note(
      `${keptUp ? 'KEPT UP' : 'DID NOT KEEP UP'}: ${fmt(jobsPerSec)} jobs/s of ${fmt(expectedJobsPerSec)} expected, ${fmt(samplesPerSec)} rows/s, ` +
        `p99 delay ${fmt(p99)} s, window jobs without a row ${windowJobsWithoutRow}, lost ${lost}, duplicates ${rowsSharingJob + jobsSameSlot}`,
    );
    report.settings.keptUp = keptUp;
  } finally {
    await consumer?.disconnect().catch(() => undefined);
    await Promise.all([...services.values()].map((s) => s.stop().catch(() => null)));
    await pool.end().catch(() => undefined);
    await db.drop().catch((err: unknown) => report.note(`dropping schema failed: ${String(err)}`));
    await topics.remove().catch((err: unknown) => report.note(`removing topics failed: ${String(err)}`));
  }
}
