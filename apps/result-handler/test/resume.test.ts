/**
 * Consumption resumes only when what paused it succeeds. A batch's finish (dead letters, offset
 * commit) runs while the NEXT batch is stored; if the database goes down during that next store,
 * the earlier batch's finish must not resume consumption while the store is still being retried.
 */
import { createLogger } from '@mockstagram/shared';
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

beforeAll(async () => {
  env = await setupEnv('rh_resume');
  const [host, port] = hostPort(env.db.url);
  proxy = new TcpProxy(host, port);
  await proxy.start();
});

afterAll(async () => {
  await proxy?.start().catch(() => undefined); // a failed test may have left it stopped
  await rh?.stop();
  await proxy?.stop();
  await env?.close();
});

it("a batch's finish does not resume consumption while the next batch's store is still failing", async () => {
  const groupId = uniqueName('rh-resume-group');
  const first = Array.from({ length: 100 }, (_, i) => result(i, { influencerId: 1_000_000 + i }));
  const second = Array.from({ length: 100 }, (_, i) => result(100 + i, { influencerId: 1_000_000 + i }));
  let finishes = 0;
  let firstFinishReleased = false;
  // The handler's log lines, to see what it says about pausing and resuming.
  const lines: Array<{ msg: string; step?: string }> = [];
  const logger = createLogger('result-handler', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  const resumedLines = () => lines.filter((l) => /consumption resumed/.test(l.msg));
  rh = await startHandler(env, {
    groupId,
    logger,
    databaseUrl: proxy.url(env.db.url),
    batchSize: 100,
    flushMs: 100,
    // Long enough that a wrong resume is not hidden by the next failed attempt pausing again.
    retryInitialDelayMs: 1000,
    retryMaxDelayMs: 2000,
    // Runs inside a batch's finish, after its rows are committed in the database and before its
    // dead letters and offset commit.
    afterStore: async () => {
      finishes += 1;
      if (finishes !== 1) return;
      // The first batch is stored. Cut the database off, then give the handler a next batch,
      // whose store now fails and is retried (and pauses consumption) while this finish waits.
      await proxy.stop();
      await produce(
        env.resultsTopic,
        second.map((r) => resultMessage(r)),
      );
      await waitFor('the next batch to fail and pause consumption', () => rh!.handler.paused, 30_000);
      firstFinishReleased = true;
    },
  });
  const handler = rh.handler;
  await produce(
    env.resultsTopic,
    first.map((r) => resultMessage(r)),
  );

  // The first batch's finish has run to its end: its offsets are committed.
  await waitFor(
    'the first batch committed',
    async () => firstFinishReleased && (await committedTotal(groupId, env.resultsTopic)) > 0,
    60_000,
  );
  // The database is still down and the next batch is still being retried: still paused, and
  // nothing ever said the write succeeded.
  expect(await metricValue(handler.metrics.dbRetries)).toBeGreaterThan(0);
  expect(resumedLines()).toEqual([]);
  expect(handler.paused).toBe(true);
  expect(await metricValue(handler.metrics.paused)).toBe(1);
  expect(await handler.isReady()).toBe(false);

  await proxy.start();
  await waitFor('resumed', async () => (await metricValue(handler.metrics.paused)) === 0, 30_000);
  expect(handler.paused).toBe(false);
  expect(resumedLines()).toHaveLength(1);
  expect(resumedLines()[0].msg).toBe('database write succeeded; consumption resumed');
  await waitFor(
    'every row stored',
    async () => (await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')) === 200,
    60_000,
  );
  await expectStoredExactlyOnce(env.db.pool, [...first, ...second]);
  await waitFor(
    'every offset committed',
    async () => (await committedTotal(groupId, env.resultsTopic)) === 200,
    30_000,
  );
  expect(await metricValue(handler.metrics.dlqMessages)).toBe(0);
});
