/**
 * The whole pipeline, each service its own process, on a real Kafka broker and a real TimescaleDB:
 * 1,000 influencers at a 5 s interval for 3 intervals → exactly 3,000 rows, one per (influencer,
 * slot), each equal to what the mock API's pure function gives for that (id, fetch time), and
 * influencer_latest = the newest row.
 * Every part logs in as its own role (migrations/011_roles.sql): the registration and the
 * scheduler as mockstagram_scheduler, the result-handler as mockstagram_result_handler, the
 * dashboard's queries as mockstagram_reader (Grafana's datasource user).
 */
import { countsAt } from '@mockstagram/mock-api';
import { InfluencerRegistry, REGISTRY_DEFAULTS } from '@mockstagram/scheduler';
import { createLogger, createPool, DATABASE_ROLES, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import fs from 'node:fs';
import path from 'node:path';
import { expandSql, panelIntervalMs } from '../grafana/grafana-sql';
import {
  createTopics,
  freshSchema,
  kafkaBrokers,
  roleUrl,
  uniqueName,
  type TestSchema,
  eventually,
  metricSum,
  pipelineEnvironments,
  ServiceProcess,
  type ServiceName,
} from '@mockstagram/testkit';

const INFLUENCERS = 1000;
const FIRST_ID = 1_000_000;
const INTERVAL_SECONDS = 5;
const SLOTS = 3;

const logger = createLogger('e2e-test', 'silent');
let db: TestSchema;
let pool: Pool;
let schedulerPool: Pool;
let readerPool: Pool;
let topics: { names: string[]; remove: () => Promise<void> };
const services = new Map<ServiceName, ServiceProcess>();

async function startAll(): Promise<void> {
  const [jobs, results, dlq] = topics.names;
  const { ports, envs } = await pipelineEnvironments({
    kafkaBrokers: kafkaBrokers().join(','),
    databaseUrl: db.url,
    topics: { jobs, results, dlq },
    groups: { fetchers: uniqueName('e2e-fetchers'), handlers: uniqueName('e2e-handlers') },
    // each service logs in as its own role (migrations/011_roles.sql), as compose and `yarn dev` do
    only: {
      scheduler: { SCHEDULER_TICK_CRON: '* * * * * *', DATABASE_URL: roleUrl(db.url, DATABASE_ROLES.scheduler) },
      'result-handler': { DATABASE_URL: roleUrl(db.url, DATABASE_ROLES.resultHandler) },
      api: { DATABASE_URL: roleUrl(db.url, DATABASE_ROLES.reader) },
    },
  });
  const names: ServiceName[] = ['mock-api', 'result-handler', 'fetcher', 'scheduler'];
  const started = await Promise.all(names.map((name) => ServiceProcess.start(name, ports[name], envs[name])));
  for (const s of started) services.set(s.name, s);
}

beforeAll(async () => {
  db = await freshSchema('e2e');
  pool = createPool({ connectionString: db.url, max: 2, logger });
  await migrate({ pool, logger });
  schedulerPool = createPool({ connectionString: roleUrl(db.url, DATABASE_ROLES.scheduler), max: 1, logger });
  readerPool = createPool({ connectionString: roleUrl(db.url, DATABASE_ROLES.reader), max: 1, logger });
  topics = await createTopics(['e2e.jobs', 'e2e.results', 'e2e.dlq']);
  await startAll();
}, 180_000);

afterAll(async () => {
  await Promise.all([...services.values()].map((s) => s.stop()));
  await Promise.all([pool?.end(), schedulerPool?.end(), readerPool?.end()]);
  await db?.drop();
  await topics?.remove();
});

test('1,000 influencers × 3 slots → exactly 3,000 rows with the API function’s values', async () => {
  const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool: schedulerPool });
  await registry.register(
    { range: { from: FIRST_ID, to: FIRST_ID + INFLUENCERS - 1 } },
    { intervalSeconds: INTERVAL_SECONDS, spread: false },
  );
  // The first slot as the database holds it (microseconds; a JS Date keeps milliseconds only).
  const { rows: firstSlot } = await pool.query<{ slot: Date; exact: string }>(
    'SELECT min(next_fetch_at) AS slot, min(next_fetch_at)::text AS exact FROM influencers',
  );
  const t0 = firstSlot[0].slot.getTime();
  const t0Exact = firstSlot[0].exact;

  // The services are logged in as their own roles, not as the test's superuser. (The PGlite front,
  // which `yarn test:pglite` runs this file on, makes every session its one superuser whatever
  // the user name: there the roles are not enforced, so not checked.)
  const { rows: who } = await schedulerPool.query<{ role: string }>('SELECT current_user::text AS role');
  if (who[0].role !== 'postgres') {
    expect(who[0].role).toBe(DATABASE_ROLES.scheduler);
    const sessions = await eventually(
      'the scheduler and the result-handler to be connected',
      async () => {
        const { rows } = await pool.query<{ app: string; role: string }>(
          `SELECT DISTINCT application_name AS app, usename::text AS role FROM pg_stat_activity
            WHERE datname = current_database() AND application_name IN ('scheduler', 'result-handler') ORDER BY 1, 2`,
        );
        return new Set(rows.map((r) => r.app)).size === 2 ? rows : undefined;
      },
      20_000,
    );
    expect(sessions).toEqual([
      { app: 'result-handler', role: DATABASE_ROLES.resultHandler },
      { app: 'scheduler', role: DATABASE_ROLES.scheduler },
    ]);
  }

  // Let the scheduler claim exactly SLOTS slots of every influencer: once every next_fetch_at has
  // moved past the last wanted slot, stop it before the following slot (t0 + SLOTS × interval) is due.
  await eventually(
    `every influencer's slot ${SLOTS} to be claimed`,
    async () => {
      const { rows } = await pool.query<{ behind: number }>(
        `SELECT count(*) AS behind FROM influencers WHERE next_fetch_at <= $1::timestamptz + make_interval(secs => $2)`,
        [t0Exact, (SLOTS - 1) * INTERVAL_SECONDS],
      );
      return rows[0].behind === 0 ? true : undefined;
    },
    (SLOTS + 4) * INTERVAL_SECONDS * 1000,
  );
  expect(Date.now()).toBeLessThan(t0 + SLOTS * INTERVAL_SECONDS * 1000); // the next slot was not yet due
  const schedulerMetrics = await services.get('scheduler')!.metrics();
  expect(await services.get('scheduler')!.stop()).toBe(0);

  // Every influencer was claimed exactly SLOTS times: its next slot is t0 + SLOTS × interval.
  const { rows: next } = await pool.query<{ n: number; slots: number }>(
    `SELECT count(*) AS n, min(round(extract(epoch FROM next_fetch_at - $1::timestamptz) / $2))::int AS slots FROM influencers
     GROUP BY next_fetch_at`,
    [t0Exact, INTERVAL_SECONDS],
  );
  expect(next).toEqual([{ n: INFLUENCERS, slots: SLOTS }]);

  const expected = INFLUENCERS * SLOTS;
  await eventually(
    `${expected} rows in follower_counts`,
    async () => {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*) AS n FROM follower_counts');
      return rows[0].n >= expected ? true : undefined;
    },
    60_000,
  );

  // Exactly that many: per influencer SLOTS rows from SLOTS distinct jobs, nothing dead-lettered.
  const { rows: totals } = await pool.query<{ rows: number; jobs: number; influencers: number }>(
    'SELECT count(*) AS rows, count(DISTINCT job_id) AS jobs, count(DISTINCT influencer_id) AS influencers FROM follower_counts',
  );
  expect(totals[0]).toEqual({ rows: expected, jobs: expected, influencers: INFLUENCERS });
  const { rows: perInfluencer } = await pool.query<{ n: number; influencers: number }>(
    'SELECT n, count(*) AS influencers FROM (SELECT count(*) AS n FROM follower_counts GROUP BY influencer_id) t GROUP BY n',
  );
  expect(perInfluencer).toEqual([{ n: SLOTS, influencers: INFLUENCERS }]);

  // Each row stands for one of the slots (observed_at = the job's scheduledFor: t0, t0 + interval,
  // t0 + 2 × interval), fetched at or after it. A job carries its slot in milliseconds (ISO 8601,
  // the registry's microseconds truncated), so the slots are counted from t0 truncated alike.
  const { rows: slots } = await pool.query<{ slot: number; n: number; early: number }>(
    `SELECT round(extract(epoch FROM observed_at - date_trunc('milliseconds', $1::timestamptz)) * 1000)::int AS slot, count(*) AS n,
            count(*) FILTER (WHERE fetched_at < observed_at) AS early
       FROM follower_counts GROUP BY 1 ORDER BY 1`,
    [t0Exact],
  );
  expect(slots).toEqual(
    Array.from({ length: SLOTS }, (_, i) => ({ slot: i * INTERVAL_SECONDS * 1000, n: INFLUENCERS, early: 0 })),
  );

  // Each row holds exactly what the mock API's pure function gives for (id, the time it was fetched).
  const { rows: samples } = await pool.query<{
    influencer_id: number;
    fetched_at: Date;
    follower_count: number;
    following_count: number;
  }>('SELECT influencer_id, fetched_at, follower_count, following_count FROM follower_counts');
  const wrong = samples.filter((s) => {
    const c = countsAt(s.influencer_id, s.fetched_at);
    return c.followerCount !== s.follower_count || c.followingCount !== s.following_count;
  });
  expect(wrong).toEqual([]);

  // influencer_latest is the newest row of each influencer.
  const { rows: mismatched } = await pool.query(
    `SELECT l.influencer_id FROM influencer_latest l
       JOIN LATERAL (SELECT * FROM follower_counts f WHERE f.influencer_id = l.influencer_id ORDER BY observed_at DESC LIMIT 1) f ON true
      WHERE l.observed_at <> f.observed_at OR l.follower_count <> f.follower_count OR l.following_count <> f.following_count`,
  );
  expect(mismatched).toEqual([]);
  const { rows: latest } = await pool.query<{ n: number }>('SELECT count(*) AS n FROM influencer_latest');
  expect(latest[0].n).toBe(INFLUENCERS);

  // What each service counted agrees with what was stored.
  const fetcherMetrics = await services.get('fetcher')!.metrics();
  const handlerMetrics = await services.get('result-handler')!.metrics();
  const apiMetrics = await services.get('mock-api')!.metrics();
  expect(metricSum(schedulerMetrics, 'scheduler_jobs_scheduled_total')).toBe(expected);
  expect(metricSum(fetcherMetrics, 'fetcher_jobs_consumed_total')).toBe(expected);
  expect(metricSum(fetcherMetrics, 'fetcher_results_produced_total')).toBe(expected);
  expect(metricSum(fetcherMetrics, 'fetcher_requests_total', { outcome: '2xx' })).toBe(expected);
  expect(metricSum(fetcherMetrics, 'fetcher_dlq_messages_total')).toBe(0);
  expect(metricSum(apiMetrics, 'mock_api_requests_total', { status: '200' })).toBe(expected);
  expect(metricSum(handlerMetrics, 'result_handler_messages_consumed_total')).toBe(expected);
  expect(metricSum(handlerMetrics, 'result_handler_rows_written_total')).toBe(totals[0].rows);
  expect(metricSum(handlerMetrics, 'result_handler_rows_duplicate_total')).toBe(0);
  expect(metricSum(handlerMetrics, 'result_handler_dlq_messages_total')).toBe(0);
  expect(metricSum(handlerMetrics, 'result_handler_batch_size_sum')).toBe(expected);
});

interface GrafanaPanel {
  title: string;
  targets?: { refId: string; rawSql?: string }[];
  panels?: GrafanaPanel[];
}

test('every SQL query of the Follower growth dashboard runs on what the pipeline stored', async () => {
  const dashboard = JSON.parse(
    fs.readFileSync(
      path.join(__dirname, '..', '..', 'volumes', 'grafana', 'dashboards', 'follower-growth.json'),
      'utf8',
    ),
  ) as { panels: GrafanaPanel[] };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const to = new Date();
  const from = new Date(to.getTime() - 3600_000); // "Last 1 hour": raw samples
  const variables = {
    influencer: { value: [String(FIRST_ID), String(FIRST_ID + 1), String(FIRST_ID + 2)], multi: true },
    rank_by: { value: 'absolute' },
    jump_threshold: { value: '10' },
  };
  const rowsByPanel = new Map<string, number>();
  for (const panel of panels) {
    for (const target of panel.targets ?? []) {
      if (target.rawSql === undefined) continue;
      const sql = expandSql(target.rawSql, {
        from,
        to,
        intervalMs: panelIntervalMs(from, to, 1000, 60_000),
        variables,
      });
      const { rows } = await readerPool.query(sql).catch((err: Error) => {
        throw new Error(`${panel.title} / ${target.refId}: ${err.message}\n${sql}`);
      });
      rowsByPanel.set(panel.title, (rowsByPanel.get(panel.title) ?? 0) + rows.length);
    }
  }
  // Everything but the jump table has data after a 15 s run (no account jumps in 15 s).
  const empty = [
    'Influencers',
    'Newest sample',
    'Latest counts of the selected influencers',
    'Followers',
    'Following',
    'Follower / following ratio',
    'Top growers in the time range',
  ].filter((title) => !rowsByPanel.get(title));
  expect(empty).toEqual([]);
});
