/**
 * Members join and leave while results flow: every rebalance moves partitions between handlers
 * whose backlogs are not yet written. In the end every sample is stored exactly once and every
 * offset is committed.
 */
import {
  committedTotal,
  count,
  type Env,
  expectStoredExactlyOnce,
  metricValue,
  produce,
  result,
  resultMessage,
  type RunningHandler,
  setupEnv,
  startHandler,
  uniqueName,
  waitFor,
} from './support';

let env: Env;
const handlers: RunningHandler[] = [];
let flowing = true;

beforeAll(async () => {
  env = await setupEnv('rh_rebalance');
});

afterAll(async () => {
  flowing = false;
  for (const h of handlers) await h.stop().catch(() => undefined);
  await env?.close();
});

it('stores every sample exactly once while members join and leave', async () => {
  const groupId = uniqueName('rh-rebalance-group');
  const total = 6000;
  const results = Array.from({ length: total }, (_, i) => result(i, { influencerId: 1_000_000 + (i % 500) }));
  const options = { groupId, flushMs: 100, batchSize: 500, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500 };

  const a = await startHandler(env, options);
  handlers.push(a);
  let produced = 0;
  const flow = (async () => {
    for (let i = 0; i < total && flowing; i += 200) {
      await produce(
        env.resultsTopic,
        results.slice(i, i + 200).map((r) => resultMessage(r)),
      );
      produced = i + 200;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  await waitFor('a third produced', () => produced >= total / 3, 60_000);
  const b = await startHandler(env, options); // rebalance: a gives up half its partitions
  handlers.push(b);
  await waitFor('two thirds produced', () => produced >= (2 * total) / 3, 60_000);
  await a.stop(); // rebalance: b takes everything; a flushed and committed what it had
  await flow;

  await waitFor(
    'every offset committed',
    async () => (await committedTotal(groupId, env.resultsTopic)) === total,
    60_000,
  );
  expect(total).toBe(results.length);
  await expectStoredExactlyOnce(env.db.pool, results);
  const written =
    (await metricValue(a.handler.metrics.rowsWritten)) + (await metricValue(b.handler.metrics.rowsWritten));
  expect(written).toBe(total);
  expect(await count(env.db.pool, 'SELECT count(*) AS n FROM influencer_latest')).toBe(500);
  expect((await metricValue(a.handler.metrics.dlqMessages)) + (await metricValue(b.handler.metrics.dlqMessages))).toBe(
    0,
  );
});
