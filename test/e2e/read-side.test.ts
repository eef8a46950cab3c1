/**
 * The read side end to end, each service its own process, on a real Kafka broker and a real
 * TimescaleDB: a day of history for 500 influencers written through the result-handler's storage
 * path (the mock API's counts are a pure function of time), then the live pipeline (mock-api →
 * scheduler → fetcher → result-handler) adding samples, `yarn detect-suspicious`, and the api:
 * the mock's suspicious accounts (its GET /admin/suspicious) are the ones flagged, they drop out
 * of rank and average, and their samples are still stored, the live ones included.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { InfluencerRegistry, REGISTRY_DEFAULTS } from '@mockstagram/scheduler';
import { createLogger, createPool, DATABASE_ROLES, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import {
  createTopics,
  freshSchema,
  kafkaBrokers,
  roleUrl,
  uniqueName,
  type TestSchema,
  idRange,
  writeHistory,
  eventually,
  pipelineEnvironments,
  ServiceProcess,
  type ServiceName,
} from '@mockstagram/testkit';

const HOUR = 3_600_000;
const IDS = idRange(1_000_000, 500);
const INTERVAL_SECONDS = 5;

const logger = createLogger('e2e-read-side', 'silent');
let db: TestSchema;
let pool: Pool;
let topics: { names: string[]; remove: () => Promise<void> };
let ports: Record<ServiceName, number>;
const services = new Map<ServiceName, ServiceProcess>();
let liveFrom: number;

const api = async (p: string) => {
  const res = await fetch(`http://127.0.0.1:${ports.api}${p}`);
  expect({ p, status: res.status }).toEqual({ p, status: 200 });
  return (await res.json()) as any;
};
async function allPages(p: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await api(`${p}${p.includes('?') ? '&' : '?'}limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

beforeAll(async () => {
  db = await freshSchema('e2e_read');
  pool = createPool({ connectionString: db.url, max: 2, logger });
  await migrate({ pool, logger });
  topics = await createTopics(['e2e.read.jobs', 'e2e.read.results', 'e2e.read.dlq']);
  const now = Date.now();
  // History up to a minute ago, every 10 minutes (the detector reads hourly values).
  await writeHistory(pool, { ids: IDS, from: now - 26 * HOUR, to: now - 60_000, stepMs: 10 * 60_000 });
  liveFrom = Date.now();

  const [jobs, results, dlq] = topics.names;
  const wiring = await pipelineEnvironments({
    kafkaBrokers: kafkaBrokers().join(','),
    databaseUrl: db.url,
    topics: { jobs, results, dlq },
    groups: { fetchers: uniqueName('e2e-read-fetchers'), handlers: uniqueName('e2e-read-handlers') },
    // each service as its own role (migrations/011_roles.sql); detect-suspicious below runs as
    // the role that migrated (the owner of the detection's tables, as the scheduled job does)
    only: {
      scheduler: { SCHEDULER_TICK_CRON: '* * * * * *', DATABASE_URL: roleUrl(db.url, DATABASE_ROLES.scheduler) },
      'result-handler': { DATABASE_URL: roleUrl(db.url, DATABASE_ROLES.resultHandler) },
      api: { DATABASE_URL: roleUrl(db.url, DATABASE_ROLES.reader) },
    },
  });
  ports = wiring.ports;
  const names: ServiceName[] = ['mock-api', 'result-handler', 'fetcher', 'scheduler', 'api'];
  const started = await Promise.all(names.map((name) => ServiceProcess.start(name, ports[name], wiring.envs[name])));
  for (const s of started) services.set(s.name, s);
  await new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool }).register(
    { range: { from: IDS[0], to: IDS.at(-1)! } },
    { intervalSeconds: INTERVAL_SECONDS, spread: false },
  );
}, 300_000);

afterAll(async () => {
  await Promise.all([...services.values()].map((s) => s.stop()));
  await pool?.end();
  await db?.drop();
  await topics?.remove();
});

test('the mock’s suspicious accounts are flagged, leave rank and average, and are still stored', async () => {
  // The live pipeline stores new samples of every influencer.
  await eventually(
    'a live sample of every influencer',
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM influencer_latest WHERE observed_at >= $1',
        [new Date(liveFrom)],
      );
      return rows[0].n === IDS.length ? true : undefined;
    },
    120_000,
  );

  // Stop the writers (each flushes and commits), so the rank snapshot stays the same for the reads below.
  for (const name of ['scheduler', 'fetcher', 'result-handler'] as ServiceName[])
    expect(await services.get(name)!.stop()).toBe(0);

  const truthRes = await fetch(
    `http://127.0.0.1:${ports['mock-api']}/admin/suspicious?from=${IDS[0]}&to=${IDS.at(-1)}`,
  );
  const truth = new Set(((await truthRes.json()) as { ids: number[] }).ids);
  expect(truth.size).toBeGreaterThan(3);

  const repo = path.resolve(__dirname, '..', '..');
  const { stdout } = await promisify(execFile)('yarn', ['-s', 'detect-suspicious'], {
    cwd: repo,
    env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
  });
  const run = JSON.parse(stdout.trim().split('\n').at(-1)!);
  expect(run).toMatchObject({ evaluated: IDS.length, skipped: 0, suspicious: truth.size });

  // Flagged = the mock's truth.
  const flagged = await allPages('/api/v1/suspicious');
  expect(new Set(flagged.map((i) => i.id))).toEqual(truth);

  // Out of rank: every ranked influencer is honest, and every honest one is ranked.
  const ranked = await allPages('/api/v1/rankings?by=followers');
  expect(ranked.filter((i) => truth.has(i.id))).toEqual([]);
  expect(ranked).toHaveLength(IDS.length - truth.size);
  const one = [...truth][0];
  const influencer = await api(`/api/v1/influencers/${one}`);
  expect(influencer).toMatchObject({ rank: null, suspicious: { reason: expect.stringMatching(/spike|erratic/) } });

  // Out of the average: the mean of the honest ones' latest counts as the snapshot took them.
  const stats = await api('/api/v1/stats');
  const mean = ranked.reduce((s, i) => s + i.followerCount, 0) / ranked.length;
  expect(stats.averageFollowers).toBeCloseTo(mean, 6);
  expect(stats).toMatchObject({ tracked: IDS.length, ranked: IDS.length - truth.size, suspicious: truth.size });

  // Still polled and stored: their series holds the history and the live samples.
  const series = await api(
    `/api/v1/influencers/${one}/series?from=${new Date(liveFrom - HOUR).toISOString()}&to=${new Date().toISOString()}&resolution=raw`,
  );
  expect(series.points.filter((p: { t: string }) => Date.parse(p.t) >= liveFrom).length).toBeGreaterThan(0);
  expect(series.points.filter((p: { t: string }) => Date.parse(p.t) < liveFrom).length).toBeGreaterThan(4);
});
