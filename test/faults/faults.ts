/**
 * The faults, one at a time. Each `inject` acts on the running pipeline and resolves when the
 * fault is over (the killed process restarted, the broker or database back, the API healthy
 * again); the time until the pipeline has caught up after that is the fault's recovery.
 */
import { createProducer, produceMany, type KafkaClient, type KafkaProducer } from '@mockstagram/shared';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { metricSum } from '@mockstagram/testkit';
import type { FaultEngines, Log } from './engines';
import type { Observer } from './observer';
import type { Member, Pipeline } from './pipeline';

export interface FaultContext {
  pipeline: Pipeline;
  engines: FaultEngines;
  observer: Observer;
  kafka: KafkaClient;
  log: Log;
  /** Poison messages produced so far: key → the DLQ reason they must carry. */
  poison: Map<string, { reason: string; topic: string }>;
}

export interface Fault {
  name: string;
  /** What the table calls it. */
  title: string;
  inject(ctx: FaultContext): Promise<void>;
  /** After the fault's audit: put the pipeline back as it was (e.g. start the fetcher that stays dead). */
  restore?(ctx: FaultContext): Promise<void>;
}

/** Poll `check` every `everyMs` until it returns true; false after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(everyMs);
  }
  return false;
}

/** True when some session of the pipeline's schema runs (or sits in the transaction of) a statement matching `pattern`. */
async function sessionAt(
  ctx: FaultContext,
  pattern: string,
  state: 'active' | 'idle in transaction',
): Promise<boolean> {
  const { rows } = await ctx.pipeline.pool.query(
    `SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = $1 AND query ILIKE $2 LIMIT 1`,
    [state, pattern],
  );
  return rows.length > 0;
}

async function killWhen(ctx: FaultContext, m: Member, what: string, check: () => Promise<boolean>): Promise<void> {
  const caught = await until(check, 30_000);
  await ctx.pipeline.kill(m);
  ctx.log(`  kill -9 ${m} ${caught ? what : `(${what} not seen within 30 s: killed anyway)`}`);
}

async function setApiFaults(ctx: FaultContext, method: 'PUT' | 'DELETE', body?: object): Promise<void> {
  const res = await fetch(`${ctx.pipeline.url('mock-api')}/admin/faults`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status !== 200)
    throw new Error(`mock API refused the faults ${JSON.stringify(body)}: ${res.status} ${await res.text()}`);
}

export const FAULTS: Fault[] = [
  {
    name: 'none',
    title: 'none (steady state)',
    inject: async () => undefined,
  },
  {
    name: 'scheduler',
    title: 'kill -9 scheduler mid-claim',
    inject: async (ctx) => {
      // The claim's transaction is open and its jobs are on their way to Kafka: the claim
      // statement has run, COMMIT waits for the produce's acknowledgement.
      await killWhen(ctx, 'scheduler', 'in an open claim transaction', () =>
        sessionAt(ctx, '%FOR UPDATE SKIP LOCKED%', 'idle in transaction'),
      );
      await ctx.pipeline.startMember('scheduler');
    },
  },
  {
    name: 'fetcher',
    title: 'kill -9 fetcher mid-chunk (second fetcher runs)',
    inject: async (ctx) => {
      await killWhen(ctx, 'fetcher-1', 'with requests in flight', async () => {
        const text = await (await fetch(`${ctx.pipeline.url('fetcher-1')}/metrics`)).text();
        return metricSum(text, 'fetcher_inflight_requests') > 0;
      });
      // fetcher-2 takes over its partitions; fetcher-1 stays down until the audit is done.
    },
    restore: (ctx) => ctx.pipeline.startMember('fetcher-1'),
  },
  {
    name: 'result-handler',
    title: 'kill -9 result-handler mid-batch',
    inject: async (ctx) => {
      await killWhen(ctx, 'result-handler', 'while its batch statement runs', () =>
        sessionAt(ctx, '%INSERT INTO follower_counts%', 'active'),
      );
      await ctx.pipeline.startMember('result-handler');
    },
  },
  {
    name: 'broker',
    title: "kill -9 partition leaders' broker, restart after 20 s",
    inject: async (ctx) => {
      const leaders = await ctx.observer.leaders();
      const [node, led] = [...leaders].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
      await ctx.engines.killBroker(node);
      ctx.log(`  kill -9 Kafka node ${node} (leader of ${led} of the pipeline's partitions)`);
      await sleep(20_000);
      await ctx.engines.startBrokers();
      ctx.log(`  Kafka node ${node} restarted`);
    },
  },
  {
    name: 'db-restart',
    title: 'pg_ctl restart -m immediate',
    inject: async (ctx) => {
      await ctx.engines.restartDatabaseImmediately();
      ctx.log('  database restarted (immediate: crash recovery)');
    },
  },
  {
    name: 'db-outage',
    title: 'database down 30 s',
    inject: async (ctx) => {
      await ctx.engines.stopDatabase();
      ctx.log('  database stopped');
      await sleep(30_000);
      await ctx.engines.startDatabase();
      ctx.log('  database started again');
    },
  },
  {
    name: 'api',
    title: 'mock API 30 % 5xx + 429s 60 s, then 2-2.5 s latency 20 s',
    inject: async (ctx) => {
      await setApiFaults(ctx, 'PUT', { errorRate: 0.3, rateLimitRate: 0.1, retryAfterSeconds: 1 });
      ctx.log('  mock API: 30 % 500, 10 % 429 (Retry-After: 1)');
      await sleep(60_000);
      await setApiFaults(ctx, 'PUT', { errorRate: 0, rateLimitRate: 0, latencyMs: 2000, latencyJitterMs: 500 });
      ctx.log('  mock API: 2000-2500 ms latency (FETCHER_TIMEOUT_MS is 2000)');
      await sleep(20_000);
      await setApiFaults(ctx, 'DELETE');
      ctx.log('  mock API: healthy');
    },
  },
  {
    name: 'poison',
    title: '1 % poison on the jobs and results topics, 30 s',
    inject: async (ctx) => {
      const producer = createProducer(ctx.kafka);
      await producer.connect();
      const perSecond = Math.max(1, Math.round(ctx.pipeline.jobsPerSecond / 100));
      try {
        for (let s = 0; s < 30; s++) {
          const started = Date.now();
          for (const topic of [ctx.pipeline.topics.jobs, ctx.pipeline.topics.results]) {
            const messages = Array.from({ length: perSecond }, (_, i) => {
              const n = ctx.poison.size + i;
              const notJson = n % 2 === 0;
              const key = `poison-${topic}-${n}`;
              return {
                key,
                value: notJson ? `{"poison": ${n}` : JSON.stringify({ poison: n, influencerId: 'x' }),
                reason: notJson ? 'not-json' : 'invalid',
              };
            });
            await producePoison(ctx, producer, topic, messages);
            for (const m of messages) ctx.poison.set(m.key, { reason: m.reason, topic });
          }
          await sleep(Math.max(0, 1000 - (Date.now() - started)));
        }
      } finally {
        await producer.disconnect();
      }
      ctx.log(`  produced ${perSecond * 30} poison messages on each of the two topics`);
    },
  },
];

/**
 * The suite's own producer is a tool, not the system under test: a send it cannot complete is
 * logged with its causes and tried again (a poison message that lands twice is dead-lettered
 * twice under the same key, which the audit counts once). Recorded as poison only once acknowledged.
 */
async function producePoison(
  ctx: FaultContext,
  producer: KafkaProducer,
  topic: string,
  messages: { key: string; value: string }[],
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await produceMany(producer, { topic, messages: messages.map(({ key, value }) => ({ key, value })) });
      return;
    } catch (err) {
      if (attempt === 3) throw err;
      ctx.log(
        `  poison send to ${topic} failed (attempt ${attempt} of 3), again in 1 s: ${inspect(err, { depth: 4 })}`,
      );
      await sleep(1000);
    }
  }
}
