/**
 * `yarn bench scheduler`: the scheduler's own work on the devstack's database and broker, per run
 * in a fresh (migrated) schema and a fresh 12-partition topic, removed afterwards:
 *
 * - register 1..N (one range, spread over the interval), the same again (all known and active: a
 *   no-op), deactivate 1..N, activate 1..N with `spread: false` (all due at once);
 * - the per-tick lag query and the stats query (count, Σ 1/interval over the active ones);
 * - one uncapped tick: claim + produce (acks=all) + commit the N due jobs, in the scheduler's
 *   batches.
 *
 * N is --influencers (default 100,000).
 */
import {
  InfluencerRegistry,
  REGISTRY_DEFAULTS,
  Scheduler,
  SCHEDULER_DEFAULTS,
  getRegistryStats,
  getSchedulerLag,
} from '@mockstagram/scheduler';
import { createPool, createProducer } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { createTopics, freshSchema } from '@mockstagram/testkit';
import { benchKafka, benchLogger } from './lib/kafka';
import type { Report } from './lib/report';

export interface SchedulerBenchOptions {
  runs: number;
  influencers: number;
}

const STEPS = {
  register: 'register 1..N (one range, spread)',
  reregister: 're-register 1..N (all known and active: no-op)',
  deactivate: 'deactivate 1..N',
  activate: 'activate 1..N (spread: false → all due now)',
  tick: 'one tick: claim + produce (acks=all) + commit N jobs',
} as const;

export async function schedulerBench(o: SchedulerBenchOptions, report: Report): Promise<void> {
  const n = o.influencers;
  const perSecond = new Map<keyof typeof STEPS, number[]>(
    (Object.keys(STEPS) as Array<keyof typeof STEPS>).map((k) => [k, []]),
  );
  const statsMs: number[] = [];
  const lagMs: number[] = [];
  const producer = createProducer(benchKafka('bench-scheduler'));
  await producer.connect();
  try {
    for (let i = 0; i < o.runs; i++) {
      const schema = await freshSchema('bench_sched');
      const topics = await createTopics(['bench-sched-jobs'], 12);
      const pool = createPool({ connectionString: schema.url, max: 4 });
      try {
        await migrate({ pool });
        const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool });
        const timed = async <T>(step: keyof typeof STEPS, fn: () => Promise<T>): Promise<T> => {
          const t0 = performance.now();
          const result = await fn();
          const seconds = (performance.now() - t0) / 1000;
          perSecond.get(step)!.push(n / seconds);
          console.log(`  run ${i + 1}: ${STEPS[step].padEnd(54)} ${seconds.toFixed(2).padStart(7)} s`);
          return result;
        };
        const all = { range: { from: 1, to: n } };
        await timed('register', () => registry.register(all));
        await timed('reregister', () => registry.register(all));
        await timed('deactivate', () => registry.deactivate(all));
        await timed('activate', () => registry.activate(all, { spread: false }));

        let t0 = performance.now();
        await getRegistryStats(pool);
        statsMs.push(performance.now() - t0);
        t0 = performance.now();
        await getSchedulerLag(pool);
        lagMs.push(performance.now() - t0);

        const scheduler = new Scheduler({
          ...SCHEDULER_DEFAULTS,
          pool,
          producer,
          topic: topics.names[0],
          logger: benchLogger,
          maxJobsPerTick: n,
        });
        const result = await timed('tick', () => scheduler.tick());
        if (result.status !== 'ran' || result.jobs !== n) throw new Error(`tick: ${JSON.stringify(result)}`);
      } finally {
        await pool.end();
        await topics.remove();
        await schema.drop();
      }
    }
  } finally {
    await producer.disconnect();
  }
  report.command(
    `scheduler: ${n} influencers, InfluencerRegistry and Scheduler (@mockstagram/scheduler) in-process on a fresh migrated schema and a fresh 12-partition topic per run; one tick with maxJobsPerTick = N, the scheduler's default batch size`,
  );
  for (const [step, runs] of perSecond)
    report.add({ key: `scheduler.${step}`, label: STEPS[step], unit: 'influencers/s', runs });
  report.add({
    key: 'scheduler.statsQuery',
    label: `stats query (count, Σ 1/interval), N = ${n}`,
    unit: 'ms',
    runs: statsMs,
  });
  report.add({
    key: 'scheduler.lagQuery',
    label: `lag query (min next_fetch_at among due), N = ${n}`,
    unit: 'ms',
    runs: lagMs,
  });
}
