/**
 * A handler dies between the database commit and the offset commit (its afterStore hook never
 * resolves, then it is SIGKILLed). A new handler in the same group re-reads the uncommitted
 * messages: nothing lost, no duplicate row.
 */
import path from 'node:path';
import { kafkaBrokers } from '@mockstagram/testkit';
import {
  type Child,
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
  spawnTs,
  startHandler,
  uniqueName,
  waitFor,
} from './support';

let env: Env;
let child: Child | undefined;
let rh: RunningHandler | undefined;

beforeAll(async () => {
  env = await setupEnv('rh_crash');
});

afterAll(async () => {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await rh?.stop();
  await env?.close();
});

it('loses nothing and duplicates nothing after a crash between the database commit and the offset commit', async () => {
  const total = 600;
  const results = Array.from({ length: total }, (_, i) => result(i, { influencerId: 1_000_000 + (i % 200) }));
  await produce(
    env.resultsTopic,
    results.map((r) => resultMessage(r)),
  );
  const groupId = uniqueName('rh-crash-group');

  child = spawnTs(
    path.join(__dirname, 'fixtures', 'crash-child.ts'),
    {
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: env.db.url,
      RESULTS_TOPIC: env.resultsTopic,
      DLQ_TOPIC: env.dlqTopic,
      GROUP_ID: groupId,
    },
    'node',
  );
  await waitFor(
    'the child to store its first batch',
    () =>
      child!.stdout().includes('stored') ||
      (child!.proc.exitCode !== null && Promise.reject(new Error(child!.stderr()))),
    60_000,
  );
  const storedByChild = await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts');
  expect(storedByChild).toBeGreaterThan(0);
  expect(await committedTotal(groupId, env.resultsTopic)).toBe(0);

  child.proc.kill('SIGKILL');
  expect(await child.exited).toBe('SIGKILL');
  expect(await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')).toBe(storedByChild);
  expect(await committedTotal(groupId, env.resultsTopic)).toBe(0);

  // Same group: once the dead member's session (6 s) expires, the new one gets every partition.
  rh = await startHandler(env, { groupId });
  await waitFor(
    'every offset committed',
    async () => (await committedTotal(groupId, env.resultsTopic)) === total,
    60_000,
  );

  expect(total).toBe(results.length);
  await expectStoredExactlyOnce(env.db.pool, results);
  // The redelivered batch was absorbed by the unique key.
  expect(await metricValue(rh.handler.metrics.rowsDuplicate)).toBe(storedByChild);
  expect(await metricValue(rh.handler.metrics.rowsWritten)).toBe(total - storedByChild);
});
