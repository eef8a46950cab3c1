import { testKafka, uniqueName, freePort, startMain } from '@mockstagram/testkit';
import { eventually, messageCount, migratedSchema, type RegistryDb } from './support';

test.each([
  ['SCHEDULER_BATCH_SIZE', 'abc', 'SCHEDULER_BATCH_SIZE="abc": expected a positive integer'],
  ['SCHEDULER_TICK_CRON', 'every 5s', 'SCHEDULER_TICK_CRON="every 5s": expected a node-cron expression'],
  ['SCHEDULER_MAX_JOBS_PER_TICK', '-1', 'SCHEDULER_MAX_JOBS_PER_TICK="-1": expected a positive integer or "auto"'],
])('invalid %s=%s → exits non-zero, naming the variable', async (variable, value, message) => {
  const proc = startMain('scheduler', { [variable]: value });
  try {
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain(message);
  } finally {
    proc.child.kill('SIGKILL');
  }
});

describe('the service', () => {
  let db: RegistryDb;
  const topic = uniqueName('sched-main').replace(/_/g, '.');
  beforeAll(async () => {
    db = await migratedSchema('sched_main');
  });
  afterAll(async () => {
    const admin = testKafka().admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await db?.close();
  });

  test('creates its topic, registers over HTTP, emits jobs on the cron, serves metrics, exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const proc = startMain('scheduler', {
      DATABASE_URL: db.url,
      TOPIC_FETCH_JOBS: topic,
      TOPIC_PARTITIONS: '3',
      SCHEDULER_HTTP_PORT: String(port),
      SCHEDULER_TICK_CRON: '* * * * * *',
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await eventually(
        async () =>
          (await fetch(`${base}/readyz`)
            .then((r) => r.status)
            .catch(() => 0)) === 200,
        60_000,
        `/readyz (output so far: ${proc.output().slice(-500)})`,
      );
      const res = await fetch(`${base}/influencers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ range: { from: 1_000_000, to: 1_000_019 }, spread: false }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ requested: 20, inserted: 20 });

      await eventually(async () => (await messageCount(topic)) >= 20, 20_000, '20 jobs on the topic');
      // the counter moves after Kafka's ack and the claim's commit, so it can trail the topic
      const counted = /^scheduler_jobs_scheduled_total\{service="scheduler"\} 20$/m;
      await eventually(
        async () => counted.test(await (await fetch(`${base}/metrics`)).text()),
        20_000,
        'the scheduled-jobs counter at 20',
      );
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^scheduler_jobs_scheduled_total\{service="scheduler"\} 20$/m);
      expect(metrics).toContain('scheduler_tick_duration_seconds_bucket');
      expect(metrics).toMatch(/^scheduler_active_influencers\{service="scheduler"\} 20$/m);

      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toContain('scheduler stopped');
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});
