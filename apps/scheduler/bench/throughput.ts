/**
 * Scheduler throughput on the engines DATABASE_URL / KAFKA_BROKERS point at (default: the devstack):
 * time to register N influencers (one range, spread and not), to claim + produce + commit N due
 * jobs in one uncapped tick, and the cost of the per-tick lag query and the stats query.
 *
 *   yarn workspace @mockstagram/scheduler bench [N]        (default N = 100000)
 *
 * Works in a throwaway schema and topic, removed at the end.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createKafka, createLogger, createPool, createProducer } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { InfluencerRegistry } from '../src/registry';
import { REGISTRY_DEFAULTS, SCHEDULER_DEFAULTS } from '../src/config';
import { Scheduler } from '../src/scheduler';
import { getRegistryStats } from '../src/sql/getRegistryStats';
import { getSchedulerLag } from '../src/sql/getSchedulerLag';

const n = Number(process.argv[2] ?? 100_000);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const logger = createLogger('scheduler-bench', 'silent');

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  console.log(
    `${label.padEnd(58)} ${(ms / 1000).toFixed(2).padStart(7)} s  (${Math.round((n / ms) * 1000).toLocaleString('en')}/s)`,
  );
  return result;
}

async function main(): Promise<void> {
  const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const schema = `bench_sched_${suffix}`;
  const topic = `bench.sched.${suffix}`;
  const admin = createPool({ connectionString: databaseUrl, max: 1 });
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema},public`);
  const pool = createPool({ connectionString: url.toString(), max: 4 });
  const kafkaAdmin = new Kafka({ clientId: 'scheduler-bench', brokers, logLevel: logLevel.NOTHING }).admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.createTopics({ topics: [{ topic, numPartitions: 12 }], waitForLeaders: true });
  const producer = createProducer(createKafka({ brokers, clientId: 'scheduler-bench', logger }));
  await producer.connect();
  try {
    await migrate({ pool, logger });
    const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool });
    console.log(`N = ${n.toLocaleString('en')} influencers; database ${url.host}, Kafka ${brokers.join(',')}`);
    await timed(`register 1..N (one range, spread over 60 s)`, () => registry.register({ range: { from: 1, to: n } }));
    await timed(`re-register 1..N (all known and active: no-op)`, () =>
      registry.register({ range: { from: 1, to: n } }),
    );
    await timed(`deactivate 1..N`, () => registry.deactivate({ range: { from: 1, to: n } }));
    await timed(`activate 1..N (spread: false → all due now)`, () =>
      registry.activate({ range: { from: 1, to: n } }, { spread: false }),
    );

    const t0 = performance.now();
    await getRegistryStats(pool);
    console.log(
      `${'stats query (count, Σ 1/interval over active)'.padEnd(58)} ${((performance.now() - t0) / 1000).toFixed(3).padStart(7)} s`,
    );
    const t1 = performance.now();
    await getSchedulerLag(pool);
    console.log(
      `${'lag query (min next_fetch_at among due)'.padEnd(58)} ${((performance.now() - t1) / 1000).toFixed(3).padStart(7)} s`,
    );

    const scheduler = new Scheduler({ ...SCHEDULER_DEFAULTS, pool, producer, topic, logger, maxJobsPerTick: n });
    const result = await timed(`one tick: claim + produce (acks=all) + commit N jobs, 5,000/batch`, () =>
      scheduler.tick(),
    );
    if (result.status !== 'ran' || result.jobs !== n) throw new Error(`tick: ${JSON.stringify(result)}`);
  } finally {
    await producer.disconnect();
    await kafkaAdmin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await kafkaAdmin.disconnect();
    await pool.end();
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
