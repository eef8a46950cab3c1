import { createPool, type Pool } from '@mockstagram/shared';
import type { KafkaProducer as Producer } from '@mockstagram/shared';
import { createTopics } from '@mockstagram/testkit';
import { InfluencerRegistry } from '../src/registry';
import { REGISTRY_DEFAULTS, SCHEDULER_DEFAULTS } from '../src/config';
import { Scheduler } from '../src/scheduler';
import {
  connectedProducer,
  eventually,
  migratedSchema,
  nextFetchTimes,
  quietLogger,
  TopicReader,
  type RegistryDb,
} from './support';

let db: RegistryDb;
let topics: { names: string[]; remove: () => Promise<void> };
let reader: TopicReader;

beforeAll(async () => {
  db = await migratedSchema('sched_conc');
  topics = await createTopics(['sched-two'], 6);
  reader = await TopicReader.start(topics.names);
});
afterAll(async () => {
  await reader?.stop();
  await topics?.remove();
  await db?.close();
});

test('two schedulers ticking on one registry for 3+ intervals emit every due slot exactly once', async () => {
  const topic = topics.names[0];
  const n = 40;
  const interval = 2;
  await new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool: db.pool }).register(
    { range: { from: 1, to: n } },
    { spread: false, intervalSeconds: interval },
  );
  const initial = await nextFetchTimes(db.pool);

  // Two scheduler processes' worth: separate pools, separate producers, same topic and table.
  const parts: Array<{ pool: Pool; producer: Producer; scheduler: Scheduler }> = [];
  for (let i = 0; i < 2; i++) {
    const pool = createPool({ connectionString: db.url, max: 2, logger: quietLogger });
    const producer = await connectedProducer();
    const scheduler = new Scheduler({
      ...SCHEDULER_DEFAULTS,
      pool,
      producer,
      topic,
      logger: quietLogger,
      tickCron: '* * * * * *',
      batchSize: 7,
    });
    parts.push({ pool, producer, scheduler });
  }
  try {
    for (const p of parts) p.scheduler.start();
    // Run until every influencer has had at least 4 slots claimed (3 intervals after the first).
    await eventually(
      async () => {
        const next = await nextFetchTimes(db.pool);
        return [...next].every(([id, t]) => t >= initial.get(id)! + 4 * interval * 1000);
      },
      30_000,
      'four slots per influencer',
    );
  } finally {
    await Promise.all(parts.map((p) => p.scheduler.stop()));
  }

  const emittedBy = await Promise.all(
    parts.map(
      async (p) =>
        (await p.scheduler.registry.getSingleMetric('scheduler_jobs_scheduled_total')!.get()).values[0].value,
    ),
  );
  for (const p of parts) {
    await p.producer.disconnect();
    await p.pool.end();
  }

  const jobs = await reader.all(topic);
  const final = await nextFetchTimes(db.pool);
  expect(emittedBy[0] + emittedBy[1]).toBe(jobs.length);

  // No (influencer, slot) twice.
  const pairs = jobs.map((j) => `${j.job.influencerId}@${j.job.scheduledFor}`);
  expect(new Set(pairs).size).toBe(pairs.length);

  // Every slot from the first to the last claimed one, each exactly once, and nothing else.
  for (let id = 1; id <= n; id++) {
    const slots = jobs
      .filter((j) => j.job.influencerId === id)
      .map((j) => Date.parse(j.job.scheduledFor))
      .sort((a, b) => a - b);
    const expected: number[] = [];
    for (let t = initial.get(id)!; t < final.get(id)!; t += interval * 1000) expected.push(t);
    expect(slots).toEqual(expected);
    expect(slots.length).toBeGreaterThanOrEqual(4);
  }
  // Both took part (FIFO access to the database lets the other in between batches).
  expect(emittedBy.every((c) => c > 0)).toBe(true);
});
