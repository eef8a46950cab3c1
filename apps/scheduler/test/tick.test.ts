import { FetchJobSchema, createKafka, createProducer, ensureTopics } from '@mockstagram/shared';
import type { KafkaProducer as Producer } from '@mockstagram/shared';
import { createTopics, testKafka, testKafkaClient } from '@mockstagram/testkit';
import { InfluencerRegistry } from '../src/registry';
import { SCHEDULER_DEFAULTS } from '../src/config';
import { Scheduler, type SchedulerOptions } from '../src/scheduler';
import {
  connectedProducer,
  eventually,
  messageCount,
  migratedSchema,
  nextFetchTimes,
  quietLogger,
  TopicReader,
  type RegistryDb,
} from './support';

const TOPICS = ['due', 'nothing', 'deactivate', 'catchup', 'down', 'missing', 'overlap'] as const;
type TopicKey = (typeof TOPICS)[number];

let db: RegistryDb;
let registry: InfluencerRegistry;
let producer: Producer;
let reader: TopicReader;
let topics: { names: string[]; remove: () => Promise<void> };
const topic = (key: TopicKey) => topics.names[TOPICS.indexOf(key)];

beforeAll(async () => {
  db = await migratedSchema('sched_tick');
  registry = new InfluencerRegistry({ pool: db.pool, defaultIntervalSeconds: 60 });
  topics = await createTopics(
    [...TOPICS].map((t) => `sched-${t}`),
    4,
  );
  producer = await connectedProducer();
  reader = await TopicReader.start(topics.names);
});
afterAll(async () => {
  await reader?.stop();
  await producer?.disconnect();
  await topics?.remove();
  await db?.close();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE influencers');
});

function scheduler(key: TopicKey, options: Partial<SchedulerOptions> = {}): Scheduler {
  return new Scheduler({
    ...SCHEDULER_DEFAULTS,
    pool: db.pool,
    producer,
    topic: topic(key),
    logger: quietLogger,
    ...options,
  });
}

async function metric(s: Scheduler, name: string): Promise<number> {
  const found = (await s.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return Number((found?.values[0] as { value?: number } | undefined)?.value ?? NaN);
}

test('50 due influencers → 50 jobs keyed by id, scheduledFor = slot, next_fetch_at advanced by one interval', async () => {
  await registry.register({ range: { from: 1_000_000, to: 1_000_049 } }, { spread: false, intervalSeconds: 60 });
  await registry.register({ range: { from: 1_000_050, to: 1_000_059 } }); // spread over the next minute: mostly not due
  await db.pool.query(`UPDATE influencers SET next_fetch_at = now() + interval '1 minute' WHERE id >= 1000050`);
  const before = await nextFetchTimes(db.pool);

  const s = scheduler('due', { batchSize: 20, maxJobsPerTick: 1000 });
  const result = await s.tick();
  expect(result).toMatchObject({ status: 'ran', jobs: 50, batches: 3 });

  const jobs = await reader.all(topic('due'));
  expect(jobs).toHaveLength(50);
  const after = await nextFetchTimes(db.pool);
  const seen = new Set<number>();
  for (const { key, job } of jobs) {
    expect(FetchJobSchema.parse(job)).toEqual(job);
    expect(key).toBe(String(job.influencerId));
    expect(job.attempt).toBe(1);
    expect(job.jobId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(job.influencerId).toBeLessThan(1_000_050);
    expect(Date.parse(job.scheduledFor)).toBe(before.get(job.influencerId));
    expect(after.get(job.influencerId)! - before.get(job.influencerId)!).toBe(60_000);
    seen.add(job.influencerId);
  }
  expect(seen.size).toBe(50);
  for (let id = 1_000_050; id < 1_000_060; id++) expect(after.get(id)).toBe(before.get(id));

  expect(await metric(s, 'scheduler_jobs_scheduled_total')).toBe(50);
  expect(await metric(s, 'scheduler_active_influencers')).toBe(60);
  expect(await metric(s, 'scheduler_lag_seconds')).toBe(0);

  expect(await s.tick()).toMatchObject({ status: 'ran', jobs: 0 });
  expect(await messageCount(topic('due'))).toBe(50);
});

test('nothing due → no jobs, and the lag gauge shows how late the oldest due slot is', async () => {
  await registry.register({ range: { from: 1, to: 20 } });
  await db.pool.query(`UPDATE influencers SET next_fetch_at = now() + interval '10 seconds'`);
  const s = scheduler('nothing');
  expect(await s.tick()).toMatchObject({ status: 'ran', jobs: 0, batches: 0, lagSeconds: 0 });
  expect(await messageCount(topic('nothing'))).toBe(0);

  // The lag is measured after the tick: with a cap of 1, one of two rows 30 s overdue stays due.
  await db.pool.query(`UPDATE influencers SET next_fetch_at = now() - interval '30 seconds' WHERE id IN (1, 2)`);
  const capped = scheduler('nothing', { maxJobsPerTick: 1, batchSize: 1 });
  expect(await capped.tick()).toMatchObject({ status: 'ran', jobs: 1 });
  expect(await metric(capped, 'scheduler_lag_seconds')).toBeGreaterThanOrEqual(29);
  expect(await metric(capped, 'scheduler_max_jobs_per_tick')).toBe(1);
});

test('deactivated influencers get no more jobs', async () => {
  await registry.register({ range: { from: 10, to: 19 } }, { spread: false, intervalSeconds: 1 });
  const s = scheduler('deactivate');
  expect(await s.tick()).toMatchObject({ jobs: 10 });
  const first = new Set((await reader.all(topic('deactivate'))).map((j) => j.job.jobId));
  expect(first.size).toBe(10);

  await registry.deactivate({ range: { from: 10, to: 14 } });
  await db.pool.query(`UPDATE influencers SET next_fetch_at = now() - interval '1 second'`); // all due again
  expect(await s.tick()).toMatchObject({ jobs: 5 });
  const second = (await reader.all(topic('deactivate'))).filter((j) => !first.has(j.job.jobId));
  expect(second.map((j) => j.job.influencerId).sort()).toEqual([15, 16, 17, 18, 19]);
});

test('catch-up: 10 intervals behind → one job per influencer, spread over ticks by the cap, next slot in the future on the same phase', async () => {
  const n = 25;
  await registry.register({ range: { from: 500, to: 500 + n - 1 } }, { spread: false, intervalSeconds: 60 });
  await db.pool.query(
    `UPDATE influencers SET next_fetch_at = date_trunc('second', now()) - interval '600 seconds' - (id - 500) * interval '1 second'`,
  );
  const before = await nextFetchTimes(db.pool);

  const s = scheduler('catchup', { maxJobsPerTick: 10, batchSize: 4 });
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await s.tick());
  expect(results.map((r) => r.jobs)).toEqual([10, 10, 5, 0]);
  expect(results[0].lagSeconds).toBeGreaterThan(600); // still behind after the first capped tick
  expect(results[3].lagSeconds).toBe(0);

  const jobs = await reader.all(topic('catchup'));
  expect(jobs).toHaveLength(n);
  expect(new Set(jobs.map((j) => j.job.influencerId)).size).toBe(n);
  const after = await nextFetchTimes(db.pool);
  const now = Date.now();
  for (const { job } of jobs) {
    const slot = before.get(job.influencerId)!;
    expect(Date.parse(job.scheduledFor)).toBe(slot); // the oldest (missed) slot, emitted once
    const next = after.get(job.influencerId)!;
    expect(next).toBeGreaterThan(now - 5_000); // jumped to the present ...
    expect(next).toBeLessThanOrEqual(now + 60_000);
    expect((next - slot) % 60_000).toBe(0); // ... on the same phase
  }
  // Oldest first: the first tick took the 10 most overdue.
  const firstTick = jobs
    .slice()
    .sort((a, b) => Date.parse(a.job.scheduledFor) - Date.parse(b.job.scheduledFor))
    .slice(0, 10);
  expect(firstTick.map((j) => j.job.influencerId).sort()).toEqual([515, 516, 517, 518, 519, 520, 521, 522, 523, 524]);
});

test('a slot only a little late keeps its successor (no slot skipped for a slow tick)', async () => {
  await registry.register({ ids: [42] }, { spread: false, intervalSeconds: 60 });
  await db.pool.query(`UPDATE influencers SET next_fetch_at = date_trunc('second', now()) - interval '90 seconds'`);
  const [slot] = [...(await nextFetchTimes(db.pool)).values()];
  expect(await scheduler('catchup').tick()).toMatchObject({ jobs: 1 });
  expect((await nextFetchTimes(db.pool)).get(42)).toBe(slot + 60_000); // still 30 s in the past: due next tick
});

test('the auto cap is twice the steady-state jobs per tick, at least one batch', async () => {
  await registry.register({ range: { from: 1, to: 600 } }, { intervalSeconds: 1 }); // 600 jobs/s
  await db.pool.query(`UPDATE influencers SET next_fetch_at = now() + interval '1 hour'`);
  const s = scheduler('nothing', { tickCron: '*/5 * * * * *', batchSize: 100 });
  expect(s.tickSeconds).toBe(5);
  expect(await s.tick()).toMatchObject({ status: 'ran', maxJobs: 6000 }); // 2 × 5 s × 600/s
  const small = scheduler('nothing', { batchSize: 10_000 });
  expect(await small.tick()).toMatchObject({ maxJobs: 10_000 });
});

test('Kafka unreachable during a tick → rolled back, slots still due; the next tick emits them', async () => {
  await registry.register({ range: { from: 1, to: 30 } }, { spread: false });
  const before = await nextFetchTimes(db.pool);

  // A producer for a broker that is not there (nothing listens on port 1): its send fails.
  const deadProducer = createProducer(
    createKafka({
      brokers: ['127.0.0.1:1'],
      clientId: 'sched-test-dead',
      logger: quietLogger,
      connectionTimeoutMs: 200,
    }),
  );
  const broken = new Scheduler({
    ...SCHEDULER_DEFAULTS,
    pool: db.pool,
    producer: deadProducer,
    topic: topic('down'),
    logger: quietLogger,
    produceTimeoutMs: 3000,
  });
  const failed = await broken.tick();
  expect(failed.status).toBe('failed');
  expect(failed.jobs).toBe(0);
  expect(failed.error?.message).toBeTruthy();
  expect(await metric(broken, 'scheduler_tick_errors_total')).toBe(1);
  expect(await nextFetchTimes(db.pool)).toEqual(before);
  const { rows } = await db.pool.query<{ due: number }>(
    'SELECT count(*)::int AS due FROM influencers WHERE next_fetch_at <= now()',
  );
  expect(rows[0].due).toBe(30);

  expect(await scheduler('down').tick()).toMatchObject({ status: 'ran', jobs: 30 });
  const jobs = await reader.all(topic('down'));
  expect(jobs).toHaveLength(30);
});

test('a missing topic → the batch times out and rolls back; a late acknowledgement can duplicate, never lose', async () => {
  await registry.register({ range: { from: 1, to: 5 } }, { spread: false });
  const before = await nextFetchTimes(db.pool);
  const lateTopic = `${topic('missing')}.late`;
  const own = await connectedProducer();
  try {
    const s = new Scheduler({
      ...SCHEDULER_DEFAULTS,
      pool: db.pool,
      producer: own,
      topic: lateTopic,
      logger: quietLogger,
      produceTimeoutMs: 2000,
    });
    const started = Date.now();
    const result = await s.tick();
    expect(result.status).toBe('failed');
    expect(result.error?.message).toContain(`Kafka did not acknowledge 5 jobs on "${lateTopic}" within 2000 ms`);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await nextFetchTimes(db.pool)).toEqual(before); // rolled back: still due

    // The producer keeps retrying the timed-out send; once the topic exists it lands...
    await ensureTopics(testKafkaClient(), [{ topic: lateTopic, numPartitions: 2 }]);
    await eventually(async () => (await messageCount(lateTopic)) === 5, 60_000, 'the late batch');
    // ... and the rolled-back slots are emitted again: at least once, never lost.
    expect(await s.tick()).toMatchObject({ status: 'ran', jobs: 5 });
    expect(await messageCount(lateTopic)).toBe(10);
  } finally {
    await own.disconnect();
    const admin = testKafka().admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [lateTopic] }).catch(() => undefined);
    await admin.disconnect();
  }
});

test('ticks never overlap: one started while another runs is skipped and counted', async () => {
  await registry.register({ range: { from: 1, to: 10 } }, { spread: false });
  const s = scheduler('overlap');
  const first = s.tick();
  const second = await s.tick();
  expect(second.status).toBe('skipped');
  expect(await first).toMatchObject({ status: 'ran', jobs: 10 });
  expect(await metric(s, 'scheduler_ticks_skipped_total')).toBe(1);
  expect((await reader.all(topic('overlap'))).length).toBe(10);
});

test('start() ticks on the cron; stop() waits for the running tick', async () => {
  await registry.register({ range: { from: 1, to: 10 } }, { spread: false, intervalSeconds: 1 });
  const s = scheduler('overlap', { tickCron: '* * * * * *' });
  const before = await messageCount(topic('overlap'));
  s.start();
  try {
    // every second, each of the 10 is due again: wait for at least two rounds
    const deadline = Date.now() + 15_000;
    while ((await messageCount(topic('overlap'))) < before + 20) {
      if (Date.now() > deadline) throw new Error('the cron did not tick');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await s.stop();
  }
  expect(s.busy).toBe(false);
  const after = await messageCount(topic('overlap'));
  await new Promise((r) => setTimeout(r, 1500));
  expect(await messageCount(topic('overlap'))).toBe(after); // stopped: no more ticks
});
