/**
 * The service as users run it: `tsx apps/result-handler/src/main.ts` with environment variables.
 */
import http from 'node:http';
import { kafkaBrokers } from '@mockstagram/testkit';
import {
  committedTotal,
  count,
  produce,
  result,
  resultMessage,
  setupEnv,
  spawnTs,
  uniqueName,
  waitFor,
  type Child,
  type Env,
} from './support';

const MAIN = 'apps/result-handler/src/main.ts';
let env: Env;
let child: Child | undefined;

beforeAll(async () => {
  env = await setupEnv('rh_main');
});

afterAll(async () => {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await env?.close();
});

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

it('on SIGTERM flushes the open batch, commits its offsets and exits 0', async () => {
  const groupId = uniqueName('rh-main-group');
  child = spawnTs(MAIN, {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: env.db.url,
    TOPIC_FETCH_RESULTS: env.resultsTopic,
    TOPIC_DLQ: env.dlqTopic,
    RESULT_HANDLER_GROUP_ID: groupId,
    RESULT_HANDLER_HTTP_PORT: '0',
    // Longer than the test: the batch is still open when SIGTERM arrives.
    RESULT_HANDLER_FLUSH_MS: '600000',
    LOG_LEVEL: 'info',
  });
  const port = await waitFor(
    'the http port in the log',
    () => {
      if (child!.proc.exitCode !== null) throw new Error(`exited early: ${child!.stderr()}`);
      const match = /http listening on :(\d+)/.exec(child!.stdout());
      return match ? Number(match[1]) : undefined;
    },
    60_000,
  );
  await waitFor('/readyz 200', async () => (await get(port, '/readyz')).status === 200, 60_000);

  const total = 300;
  await produce(
    env.resultsTopic,
    Array.from({ length: total }, (_, i) => resultMessage(result(i))),
  );
  await waitFor(
    'all messages consumed',
    async () => metric((await get(port, '/metrics')).body, 'result_handler_messages_consumed_total') === total,
    30_000,
  );
  expect(await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')).toBe(0);
  expect(await committedTotal(groupId, env.resultsTopic)).toBe(0);

  child.proc.kill('SIGTERM');
  expect(await child.exited).toBe(0);
  expect(await count(env.db.pool, 'SELECT count(*) AS n FROM follower_counts')).toBe(total);
  expect(await committedTotal(groupId, env.resultsTopic)).toBe(total);
  expect(child.stdout()).toContain('shutdown complete, exiting 0');
});

it('exits non-zero naming the variable when the configuration is invalid', async () => {
  const bad = spawnTs(MAIN, { RESULT_HANDLER_BATCH_SIZE: 'abc', RESULT_HANDLER_HTTP_PORT: '0' });
  const code = await bad.exited;
  expect(code).not.toBe(0);
  expect(bad.stderr()).toContain('RESULT_HANDLER_BATCH_SIZE');
  expect(bad.stderr()).toContain('a positive integer');
});
