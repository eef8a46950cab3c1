/**
 * The database disappears for 10 s while results flow: the handler pauses (gauge), retries with
 * backoff, stays in its group (heartbeats; the session timeout here is shorter than the outage),
 * resumes, and in the end every sample is stored exactly once, nothing dead-lettered.
 */
import { createTopics } from '@mockstagram/testkit';
import {
  committedTotal,
  count,
  type Env,
  expectStoredExactlyOnce,
  hostPort,
  metricValue,
  produce,
  result,
  resultMessage,
  type RunningHandler,
  setupEnv,
  startHandler,
  TcpProxy,
  uniqueName,
  waitFor,
} from './support';

let env: Env;
let proxy: TcpProxy;
let rh: RunningHandler | undefined;
let flowing = true;

beforeAll(async () => {
  env = await setupEnv('rh_outage');
  const [host, port] = hostPort(env.db.url);
  proxy = new TcpProxy(host, port);
  await proxy.start();
});

afterAll(async () => {
  flowing = false;
  await proxy?.start().catch(() => undefined); // a failed test may have left it stopped
  await rh?.stop();
  await proxy?.stop();
  await env?.close();
});

it('pauses while the database is down for 10 s, resumes, and stores every sample exactly once', async () => {
  rh = await startHandler(env, {
    databaseUrl: proxy.url(env.db.url),
    // Shorter than the outage: only heartbeats sent while waiting keep the member in the group.
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 1000,
    retryMaxDelayMs: 1000,
    flushMs: 100,
  });
  const handler = rh.handler;
  // Group joins after the first: rebalances.
  const joinsAtStart = handler.groupJoins;

  const total = 3000;
  const results = Array.from({ length: total }, (_, i) => result(i, { influencerId: 1_000_000 + (i % 300) }));
  const flow = (async () => {
    // ~15 s of traffic: 100 results every 500 ms.
    for (let i = 0; i < total && flowing; i += 100) {
      await produce(
        env.resultsTopic,
        results.slice(i, i + 100).map((r) => resultMessage(r)),
      );
      await new Promise((r) => setTimeout(r, 500));
    }
  })();

  await waitFor(
    'first rows stored',
    async () => (await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')) > 0,
  );

  const outageStarted = Date.now();
  await proxy.stop();
  await waitFor('paused gauge', async () => (await metricValue(handler.metrics.paused)) === 1, 15_000);
  expect(handler.paused).toBe(true);
  expect(await handler.isReady()).toBe(false);
  const storedDuringOutage = await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts');
  // The outage lasts 10 s (the scenario's length, not a readiness wait).
  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - outageStarted))));
  expect(await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')).toBe(storedDuringOutage);
  expect(await metricValue(handler.metrics.paused)).toBe(1);
  await proxy.start();

  await waitFor('resumed', async () => (await metricValue(handler.metrics.paused)) === 0, 30_000);
  await flow;
  await waitFor(
    `${total} rows`,
    async () => (await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')) === total,
    60_000,
  );
  // Exactly once: as many rows as results, each result's own values.
  expect(total).toBe(results.length);
  await expectStoredExactlyOnce(env.db.pool, results);

  expect(await metricValue(handler.metrics.dlqMessages)).toBe(0);
  expect(await metricValue(handler.metrics.dbRetries)).toBeGreaterThan(0);
  // A COMMIT whose answer was lost is retried and then counts as duplicate: together they add up.
  await waitFor(
    'rows_written + rows_duplicate to cover every result',
    async () =>
      (await metricValue(handler.metrics.rowsWritten)) + (await metricValue(handler.metrics.rowsDuplicate)) >= total,
    5000,
  );
  expect(handler.groupJoins - joinsAtStart).toBe(0); // never kicked out of the group, no rebalance
  await waitFor('ready again', () => handler.isReady(), 10_000);
});

it('on stop while the database stays down, abandons the batch without committing it; the next member stores it', async () => {
  const topics = await createTopics(['rh-outage-stop-results', 'rh-outage-stop-dlq']);
  const [resultsTopic, dlqTopic] = topics.names as [string, string];
  const scoped = { ...env, resultsTopic, dlqTopic };
  const groupId = uniqueName('rh-outage-stop-group');
  try {
    await proxy.stop();
    const first = await startHandler(scoped, {
      groupId,
      databaseUrl: proxy.url(env.db.url),
      stopTimeoutMs: 2000,
      retryMaxDelayMs: 500,
    });
    const results = Array.from({ length: 100 }, (_, i) => result(i, { influencerId: 3_000_000 + i }));
    await produce(
      resultsTopic,
      results.map((r) => resultMessage(r)),
    );
    await waitFor('paused', async () => (await metricValue(first.handler.metrics.paused)) === 1, 15_000);

    const t0 = Date.now();
    await expect(first.stop()).rejects.toThrow(/100 messages were not stored/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await committedTotal(groupId, resultsTopic)).toBe(0);

    await proxy.start();
    const second = await startHandler(scoped, { groupId });
    try {
      await waitFor('all offsets committed', async () => (await committedTotal(groupId, resultsTopic)) === 100, 30_000);
      expect(await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts WHERE influencer_id >= 3000000')).toBe(
        100,
      );
    } finally {
      await second.stop();
    }
  } finally {
    await proxy.start().catch(() => undefined);
    await topics.remove();
  }
});
