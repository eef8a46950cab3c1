/**
 * The Grafana provisioning and dashboards under volumes/grafana, checked without a Grafana server:
 * - the files are valid, their datasource uids exist, panel ids are unique, panels do not overlap;
 * - every SQL query of "Follower growth" (panel targets and variable queries), expanded as Grafana
 *   would (./grafana-sql.ts), runs on a real TimescaleDB holding 31 days of samples of 50
 *   influencers, for ranges of 1 h, 2 days and 30 days, and returns what the same rules computed
 *   here from the samples give: the chart series, the top growers, the flagged jumps;
 * - every PromQL expression of "Pipeline health" parses (the Prometheus project's own grammar)
 *   and names only metrics and labels that the four services register, each used as its type
 *   allows (counters and histograms through rate(), buckets through histogram_quantile()).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { countsAt, profileOf, usernameFor, createMockApiMetrics } from '@mockstagram/mock-api';
import { createResultHandlerMetrics } from '@mockstagram/result-handler';
import { createSchedulerMetrics } from '@mockstagram/scheduler';
import { createLogger, createRegistry, type Registry } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { createFetcherMetrics } from '@mockstagram/fetcher';
import { freshSchema, pausePolicies, type TestSchema } from '@mockstagram/testkit';
import { expandSql, panelIntervalMs, type VariableValue } from './grafana-sql';

const GRAFANA = path.resolve(__dirname, '..', '..', 'volumes', 'grafana');
const readJson = (file: string): Dashboard =>
  JSON.parse(readFileSync(path.join(GRAFANA, 'dashboards', file), 'utf8')) as Dashboard;
const readYaml = (file: string): unknown => parseYaml(readFileSync(path.join(GRAFANA, 'provisioning', file), 'utf8'));

// ---------------------------------------------------------------------------------------------
// Dashboard model (the parts the tests read)

interface DatasourceRef {
  type: string;
  uid: string;
}
interface Target {
  refId: string;
  datasource?: DatasourceRef;
  rawSql?: string;
  format?: 'time_series' | 'table';
  expr?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: DatasourceRef;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  datasource?: DatasourceRef;
  query: string | { rawSql?: string; query?: string };
  multi?: boolean;
  includeAll?: boolean;
  current?: { value?: string | string[] };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Every panel, rows' nested panels included. */
function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}
const variableSql = (v: Variable): string =>
  typeof v.query === 'string' ? v.query : (v.query.rawSql ?? v.query.query ?? '');

const followerGrowth = readJson('follower-growth.json');
const pipelineHealth = readJson('pipeline-health.json');

// ---------------------------------------------------------------------------------------------
// Files and structure

describe('provisioning and dashboard files', () => {
  const datasources = (
    readYaml('datasources/datasources.yml') as { datasources: (DatasourceRef & Record<string, unknown>)[] }
  ).datasources;
  const byUid = new Map(datasources.map((d) => [d.uid, d]));

  test('datasources: TimescaleDB (PostgreSQL with timescaledb) and Prometheus (default)', () => {
    expect(byUid.get('timescaledb')).toMatchObject({
      type: 'grafana-postgresql-datasource',
      url: 'timescaledb:5432',
      user: 'mockstagram_reader',
      secureJsonData: { password: '${POSTGRES_READER_PASSWORD}' },
      jsonData: { database: 'postgres', sslmode: 'disable', timescaledb: true },
    });
    expect((byUid.get('timescaledb')!.jsonData as { postgresVersion: number }).postgresVersion).toBeGreaterThanOrEqual(
      1500,
    );
    expect(byUid.get('prometheus')).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      isDefault: true,
    });
    expect(datasources.filter((d) => d.isDefault === true)).toHaveLength(1);
  });

  test('the dashboard provider loads the folder compose mounts the dashboards into', () => {
    const { providers } = readYaml('dashboards/dashboards.yml') as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers).toEqual([
      expect.objectContaining({
        type: 'file',
        options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }),
      }),
    ]);
  });

  test('docker-compose.yml gives Grafana these files, the password, and the hosts the datasources name', () => {
    const repo = path.resolve(GRAFANA, '..', '..');
    const compose = parseYaml(readFileSync(path.join(repo, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>;
    };
    const grafana = compose.services.grafana;
    const mounts = (grafana.volumes ?? []).map((v) => v.replace(/:ro$/, ''));
    expect(mounts).toEqual(
      expect.arrayContaining([
        './volumes/grafana/provisioning:/etc/grafana/provisioning',
        './volumes/grafana/dashboards:/var/lib/grafana/dashboards',
      ]),
    );
    expect(grafana.environment?.POSTGRES_READER_PASSWORD).toBeDefined();
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['timescaledb', 'prometheus']));
    // $__rate_interval is derived from the datasource's scrape interval: keep it equal to Prometheus'.
    const prometheus = parseYaml(readFileSync(path.join(repo, 'volumes', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      global: { scrape_interval: string };
    };
    expect((byUid.get('prometheus')!.jsonData as { timeInterval: string }).timeInterval).toBe(
      prometheus.global.scrape_interval,
    );
  });

  test.each([
    ['follower-growth.json', followerGrowth, 'follower-growth', 'Follower growth'],
    ['pipeline-health.json', pipelineHealth, 'pipeline-health', 'Pipeline health'],
  ])(
    '%s: uid, title, unique panel ids, known datasources, described panels that do not overlap',
    (_file, dashboard, uid, title) => {
      expect(dashboard.uid).toBe(uid);
      expect(dashboard.title).toBe(title);
      const panels = allPanels(dashboard);
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const panel of panels) {
        expect(panel.title).toBeTruthy();
        if (panel.type === 'row') continue;
        expect({ panel: panel.title, description: Boolean(panel.description) }).toEqual({
          panel: panel.title,
          description: true,
        });
        expect(panel.targets?.length).toBeGreaterThan(0);
        for (const ref of [panel.datasource, ...panel.targets!.map((t) => t.datasource)]) {
          expect(ref).toBeDefined();
          expect({ panel: panel.title, type: byUid.get(ref!.uid)?.type }).toEqual({
            panel: panel.title,
            type: ref!.type,
          });
        }
      }
      for (const variable of dashboard.templating.list.filter((v) => v.datasource)) {
        expect(byUid.get(variable.datasource!.uid)?.type).toBe(variable.datasource!.type);
      }
      // No two panels share a grid cell (Grafana would push one down, which hides layout mistakes).
      const cells = new Map<string, string>();
      for (const { title: panelTitle, gridPos: g } of panels) {
        for (let x = g.x; x < g.x + g.w; x++) {
          for (let y = g.y; y < g.y + g.h; y++) {
            const key = `${x},${y}`;
            expect({ cell: key, taken: cells.get(key) }).toEqual({ cell: key, taken: undefined });
            cells.set(key, panelTitle);
          }
        }
        expect(g.x + g.w).toBeLessThanOrEqual(24);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Follower growth: every SQL query on a real TimescaleDB

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MINUTE = 60_000;
const FIRST_ID = 1_000_000;
const ORDINARY = 45;
const SUSPICIOUS = 5;
const INACTIVE = 3;
const HISTORY_DAYS = 30;
/** Grafana's max data points of a panel ≈ its width in pixels; the datasource's minimum interval. */
const MAX_DATA_POINTS = 1000;
const MIN_INTERVAL_MS = MINUTE;
const JUMP_THRESHOLD = 10;
/** Hours after the start of the per-minute day during which nothing was stored. */
const OUTAGE = [4 * HOUR, 8 * HOUR];

interface Sample {
  id: number;
  t: number;
  followers: number;
  following: number;
}
type Resolution = 'raw' | 'hourly' | 'daily';
interface Range {
  name: string;
  from: Date;
  to: Date;
  resolution: Resolution;
}

const logger = createLogger('grafana-test', 'silent');
let db: TestSchema;
const samples = new Map<number, Sample[]>(); // by influencer, in time order
let ids: number[];
let suspiciousIds: number[];
let now: number;
let ranges: Range[];
let selected: string[];

/** 45 ordinary influencers and 5 with bought followers (the mock API's "suspicious" profile). */
function pickInfluencers(): { all: number[]; suspicious: number[] } {
  const ordinary = Array.from({ length: ORDINARY }, (_, i) => FIRST_ID + i);
  const suspicious: number[] = [];
  for (let id = FIRST_ID + ORDINARY; suspicious.length < SUSPICIOUS; id++)
    if (profileOf(id).suspicious) suspicious.push(id);
  return { all: [...ordinary, ...suspicious], suspicious };
}

/**
 * Samples as the pipeline would have stored them with the mock API's counts: the last 24 h every
 * minute, the 30 days before once an hour; each influencer at its own second of the minute. The
 * pipeline was down for 4 hours on that day (no samples), so hours are not all consecutive.
 */
function generateSamples(): void {
  const rawStart = Math.floor(now / MINUTE) * MINUTE - DAY;
  ids.forEach((id, i) => {
    const offset = ((i * 7) % 60) * 1000;
    const list: Sample[] = [];
    const add = (t: number) => {
      const c = countsAt(id, t);
      list.push({ id, t, followers: c.followerCount, following: c.followingCount });
    };
    for (let t = rawStart - HISTORY_DAYS * DAY + offset; t < rawStart; t += HOUR) add(t);
    for (let t = rawStart + offset; t <= now; t += MINUTE)
      if (t < rawStart + OUTAGE[0] || t >= rawStart + OUTAGE[1]) add(t);
    samples.set(id, list);
  });
}

async function store(): Promise<void> {
  const { pool } = db;
  await pool.query(
    `INSERT INTO influencers (id, username, active, fetch_interval_seconds)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::integer[])`,
    [ids, ids.map(usernameFor), ids.map((_, i) => i >= INACTIVE), ids.map(() => 60)],
  );
  const rows = [...samples.values()].flat();
  for (let i = 0; i < rows.length; i += 10_000) {
    const batch = rows.slice(i, i + 10_000);
    await pool.query(
      `INSERT INTO follower_counts (influencer_id, observed_at, follower_count, following_count)
       SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[])`,
      [
        batch.map((s) => s.id),
        batch.map((s) => new Date(s.t).toISOString()),
        batch.map((s) => s.followers),
        batch.map((s) => s.following),
      ],
    );
  }
  const latest = ids.map((id) => samples.get(id)!.at(-1)!);
  await pool.query(
    `INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[])`,
    [
      latest.map((s) => s.id),
      latest.map((s) => usernameFor(s.id)),
      latest.map((s) => s.followers),
      latest.map((s) => s.following),
      latest.map((s) => new Date(s.t).toISOString()),
    ],
  );
  // Materialize most of the aggregates as the refresh policies would; the newest hours stay to
  // real-time aggregation (materialized_only = false), so queries read both parts.
  await pool.query(
    `CALL refresh_continuous_aggregate('follower_counts_hourly', NULL, '${new Date(now - 6 * HOUR).toISOString()}')`,
  );
  await pool.query(
    `CALL refresh_continuous_aggregate('follower_counts_daily', NULL, '${new Date(Math.floor(now / DAY) * DAY - DAY).toISOString()}')`,
  );
}

// --- the dashboard's rules, computed from the samples --------------------------------------------

interface Bucket {
  start: number;
  first: Sample;
  last: Sample;
  maxFollowers: number;
}
function buckets(list: Sample[], size: number): Bucket[] {
  const out: Bucket[] = [];
  for (const s of list) {
    const start = Math.floor(s.t / size) * size;
    const b = out.at(-1);
    if (b && b.start === start) {
      b.last = s;
      b.maxFollowers = Math.max(b.maxFollowers, s.followers);
    } else out.push({ start, first: s, last: s, maxFollowers: s.followers });
  }
  return out;
}
const inRange = (t: number, r: Range) => t >= r.from.getTime() && t <= r.to.getTime();
const BUCKET_MS: Record<Exclude<Resolution, 'raw'>, number> = { hourly: HOUR, daily: DAY };

/** (first, last) sample of an influencer in the range, at the range's resolution. */
function firstLast(id: number, r: Range): { first: Sample; last: Sample } | undefined {
  if (r.resolution === 'raw') {
    const list = samples.get(id)!.filter((s) => inRange(s.t, r));
    return list.length ? { first: list[0], last: list.at(-1)! } : undefined;
  }
  const list = buckets(samples.get(id)!, BUCKET_MS[r.resolution]).filter((b) => inRange(b.start, r));
  return list.length ? { first: list[0].first, last: list.at(-1)!.last } : undefined;
}

/** The chart's points of one influencer: [time, username, followers]. */
function expectedFollowerPoints(id: number, r: Range, intervalMs: number): [number, string, number][] {
  const name = usernameFor(id);
  if (r.resolution === 'raw') {
    return buckets(
      samples.get(id)!.filter((s) => inRange(s.t, r)),
      intervalMs,
    ).map((b) => [b.start, name, b.last.followers]);
  }
  return buckets(samples.get(id)!, BUCKET_MS[r.resolution])
    .filter((b) => inRange(b.start, r))
    .map((b) => [b.start, name, b.last.followers]);
}

/** Hour-over-hour changes above the threshold: the jump panel's rule. */
function expectedJumps(r: Range, thresholdPercent: number): Map<number, { jumps: number; largest: number }> {
  const out = new Map<number, { jumps: number; largest: number }>();
  const lowest = Math.floor(r.from.getTime() / HOUR) * HOUR - HOUR;
  for (const id of ids) {
    const hours = buckets(samples.get(id)!, HOUR).filter((b) => b.start >= lowest && b.start <= r.to.getTime());
    for (let i = 1; i < hours.length; i++) {
      const [previous, hour] = [hours[i - 1], hours[i]];
      if (previous.start !== hour.start - HOUR || previous.last.followers <= 0) continue;
      const change = (hour.maxFollowers - previous.last.followers) / previous.last.followers;
      if (change <= thresholdPercent / 100) continue;
      const seen = out.get(id) ?? { jumps: 0, largest: -Infinity };
      out.set(id, { jumps: seen.jumps + 1, largest: Math.max(seen.largest, change) });
    }
  }
  return out;
}

// --- running the dashboard's SQL -----------------------------------------------------------------

function variables(overrides: Record<string, VariableValue> = {}): Record<string, VariableValue> {
  return {
    influencer: { value: selected, multi: true },
    rank_by: { value: 'absolute' },
    jump_threshold: { value: String(JUMP_THRESHOLD) },
    ...overrides,
  };
}

async function run(
  sql: string,
  r: Range,
  vars = variables(),
  maxDataPoints = MAX_DATA_POINTS,
): Promise<Record<string, unknown>[]> {
  const expanded = expandSql(sql, {
    from: r.from,
    to: r.to,
    intervalMs: intervalOf(r, maxDataPoints),
    variables: vars,
  });
  try {
    return (await db.pool.query(expanded)).rows;
  } catch (err) {
    throw new Error(`${(err as Error).message}\nin:\n${expanded}`, { cause: err });
  }
}
const intervalOf = (r: Range, maxDataPoints = MAX_DATA_POINTS) =>
  panelIntervalMs(r.from, r.to, maxDataPoints, MIN_INTERVAL_MS);
const panelByTitle = (title: string): Panel => {
  const panel = allPanels(followerGrowth).find((p) => p.title === title);
  if (!panel) throw new Error(`no panel "${title}" in follower-growth.json`);
  return panel;
};
const sqlPanels = () => allPanels(followerGrowth).filter((p) => p.targets?.some((t) => t.rawSql !== undefined));
/** Which source a chart target reads: the resolution it is meant for. */
function resolutionOf(sql: string): Resolution {
  if (/\bFROM follower_counts_hourly\b/.test(sql)) return 'hourly';
  if (/\bFROM follower_counts_daily\b/.test(sql)) return 'daily';
  if (/\bFROM follower_counts\b/.test(sql)) return 'raw';
  throw new Error(`cannot tell the source of:\n${sql}`);
}
const num = (v: unknown): number => Number(v);
const time = (v: unknown): number => (v instanceof Date ? v.getTime() : new Date(String(v)).getTime());

describe('Follower growth: every SQL query on TimescaleDB', () => {
  const influencerVariable = followerGrowth.templating.list.find((v) => v.name === 'influencer')!;

  beforeAll(async () => {
    db = await freshSchema('grafana');
    await migrate({ pool: db.pool, logger });
    // The history is written at once, then refreshed as the policies would have (store()); a
    // policy run in the middle of the writing would hide the rows it did not see (below the
    // aggregates' watermark) until its next run.
    expect(await pausePolicies(db.pool, db.schema)).toBe(6); // 4 policies, the rank refresh, the detection
    ({ all: ids, suspicious: suspiciousIds } = pickInfluencers());
    now = Date.now();
    generateSamples();
    await store();
    // The daily suspicious detection and the rank snapshot, as their TimescaleDB jobs would run them.
    await db.pool.query('SELECT detect_suspicious()');
    await db.pool.query('SELECT refresh_rankings()');

    // A 1 h window around an hour in which a suspicious influencer's count jumped (by the rule above).
    const day: Range = {
      name: '',
      from: new Date(now - DAY + 2 * HOUR),
      to: new Date(now - 2 * HOUR),
      resolution: 'hourly',
    };
    const jumpHour = ids
      .flatMap((id) => buckets(samples.get(id)!, HOUR).map((b, i, all) => ({ id, b, previous: all[i - 1] })))
      .find(
        ({ b, previous }) =>
          previous?.start === b.start - HOUR &&
          inRange(b.start, day) &&
          b.maxFollowers > previous.last.followers * (1 + JUMP_THRESHOLD / 100),
      );
    if (!jumpHour) throw new Error('the generated day holds no jump: pick other suspicious influencers');
    ranges = [
      { name: 'last 1 h', from: new Date(now - HOUR), to: new Date(now), resolution: 'raw' },
      {
        name: '1 h around a jump',
        from: new Date(jumpHour.b.start - HOUR / 2),
        to: new Date(jumpHour.b.start + HOUR / 2),
        resolution: 'raw',
      },
      { name: 'last 2 days', from: new Date(now - 2 * DAY), to: new Date(now), resolution: 'hourly' },
      { name: 'last 30 days', from: new Date(now - 30 * DAY), to: new Date(now), resolution: 'daily' },
    ];

    // The influencers a user would chart: the top of the drop-down, plus the one that jumped.
    const { rows: options } = await db.pool.query<{ __value: string }>(
      expandSql(variableSql(influencerVariable), {
        from: ranges[0].from,
        to: ranges[0].to,
        intervalMs: MINUTE,
        searchFilter: '',
      }),
    );
    selected = [...new Set([...options.slice(0, 3).map((o) => String(o.__value)), String(jumpHour.id)])];
  }, 300_000);

  afterAll(async () => {
    await db?.drop();
  });

  test('variable "influencer": multi-select key/value query, searchable by username part or id prefix', async () => {
    expect(influencerVariable).toMatchObject({ type: 'query', multi: true, datasource: { uid: 'timescaledb' } });
    const query = (searchFilter: string) =>
      db.pool.query<{ __value: string; __text: string }>(
        expandSql(variableSql(influencerVariable), {
          from: ranges[0].from,
          to: ranges[0].to,
          intervalMs: MINUTE,
          searchFilter,
        }),
      );
    // Nothing typed: every influencer with data, most followed first.
    const { rows: all, fields } = await query('');
    expect(fields.map((f) => f.name)).toEqual(['__value', '__text']);
    expect(all).toHaveLength(ids.length);
    const newest = ids.map((id) => samples.get(id)!.at(-1)!).sort((a, b) => b.followers - a.followers || a.id - b.id);
    expect(all.map((r) => Number(r.__value))).toEqual(newest.map((s) => s.id));
    expect(all[0].__text).toBe(`${usernameFor(newest[0].id)} (${newest[0].id})`);
    // Part of a username (case-insensitive), and the start of an id.
    const name = usernameFor(suspiciousIds[0]);
    const part = name.slice(2, 6).toUpperCase();
    const { rows: byName } = await query(part);
    expect(byName.map((r) => Number(r.__value))).toEqual(
      newest
        .filter((s) => usernameFor(s.id).toUpperCase().includes(part) || String(s.id).startsWith(part))
        .map((s) => s.id),
    );
    expect(byName.map((r) => Number(r.__value))).toContain(suspiciousIds[0]);
    const { rows: byId } = await query('100001');
    expect(byId.map((r) => Number(r.__value)).sort()).toEqual(
      ids.filter((id) => String(id).startsWith('100001')).sort(),
    );
  });

  test('every panel query runs for every range; the charts read exactly one source per range, in time order', async () => {
    for (const r of ranges) {
      for (const panel of sqlPanels()) {
        const results = await Promise.all(
          panel.targets!.map(async (t) => ({ target: t, rows: await run(t.rawSql!, r) })),
        );
        const total = results.reduce((n, x) => n + x.rows.length, 0);
        const where = `${panel.title} / ${r.name}`;
        if (panel.title.startsWith('Sudden jumps')) {
          expect({ where, rows: total }).toEqual({ where, rows: expectedJumps(r, JUMP_THRESHOLD).size });
        } else {
          expect({ where, hasRows: total > 0 }).toEqual({ where, hasRows: true });
        }
        for (const { target, rows } of results.filter((x) => x.target.format === 'time_series')) {
          const source = resolutionOf(target.rawSql!);
          expect({ where, source, hasRows: rows.length > 0 }).toEqual({
            where,
            source,
            hasRows: source === r.resolution,
          });
          const times = rows.map((row) => time(row.time));
          expect(times.every((t, i) => i === 0 || times[i - 1] <= t)).toBe(true);
        }
      }
    }
  });

  test('every range has its resolution exercised and a jump to find where the data holds one', () => {
    expect(new Set(ranges.map((r) => r.resolution))).toEqual(new Set(['raw', 'hourly', 'daily']));
    for (const name of ['1 h around a jump', 'last 2 days', 'last 30 days']) {
      expect({
        name,
        jumps:
          expectedJumps(
            ranges.find((r) => r.name === name)!,
            JUMP_THRESHOLD,
          ).size > 0,
      }).toEqual({ name, jumps: true });
    }
  });

  test('Followers: the last count per interval of each selected influencer, from the source the range calls for', async () => {
    const panel = panelByTitle('Followers');
    // A wide panel (1 min buckets at 1 h: one sample each) and a tiny one (2 min: several samples).
    for (const maxDataPoints of [MAX_DATA_POINTS, 20]) {
      for (const r of ranges) {
        const rows = (
          await Promise.all(panel.targets!.map((t) => run(t.rawSql!, r, variables(), maxDataPoints)))
        ).flat();
        const got = rows.map((row) => [time(row.time), row.metric, num(row.followers)]);
        const expected = selected
          .flatMap((id) => expectedFollowerPoints(Number(id), r, intervalOf(r, maxDataPoints)))
          .sort((a, b) => a[0] - b[0] || String(a[1]).localeCompare(String(b[1])));
        got.sort((a, b) => (a[0] as number) - (b[0] as number) || String(a[1]).localeCompare(String(b[1])));
        expect({ range: r.name, maxDataPoints, points: got }).toEqual({
          range: r.name,
          maxDataPoints,
          points: expected,
        });
      }
    }
  });

  test('Following and the ratio: the same points as Followers, with their own values', async () => {
    for (const r of ranges) {
      const points = async (title: string) =>
        (await Promise.all(panelByTitle(title).targets!.map((t) => run(t.rawSql!, r))))
          .flat()
          .sort((a, b) => time(a.time) - time(b.time) || String(a.metric).localeCompare(String(b.metric)));
      const [followers, following, ratio] = await Promise.all([
        points('Followers'),
        points('Following'),
        points('Follower / following ratio'),
      ]);
      expect(following.map((p) => [time(p.time), p.metric])).toEqual(followers.map((p) => [time(p.time), p.metric]));
      expect(ratio.map((p) => [time(p.time), p.metric])).toEqual(followers.map((p) => [time(p.time), p.metric]));
      ratio.forEach((p, i) =>
        expect(num(p.ratio)).toBeCloseTo(num(followers[i].followers) / num(following[i].following), 9),
      );
    }
  });

  test('Top growers: first vs last count in the range, ranked by absolute or percent growth', async () => {
    const sql = panelByTitle('Top growers in the time range').targets![0].rawSql!;
    for (const r of ranges) {
      const growth = ids
        .map((id) => ({ id, fl: firstLast(id, r) }))
        .filter((x) => x.fl !== undefined)
        .map(({ id, fl }) => ({
          id,
          first: fl!.first.followers,
          last: fl!.last.followers,
          growth: fl!.last.followers - fl!.first.followers,
        }));
      const byAbsolute = [...growth].sort((a, b) => b.growth - a.growth || a.id - b.id).slice(0, 25);
      const rows = await run(sql, r);
      expect({
        range: r.name,
        rows: rows.map((x) => [num(x.ID), num(x.First), num(x.Last), num(x.Growth), x.Influencer]),
      }).toEqual({
        range: r.name,
        rows: byAbsolute.map((g) => [g.id, g.first, g.last, g.growth, usernameFor(g.id)]),
      });
      // "Growth %" is rounded to 2 decimals: within half a hundredth of the exact share.
      rows.forEach((x) =>
        expect(Math.abs(num(x['Growth %']) - (100 * num(x.Growth)) / num(x.First))).toBeLessThanOrEqual(0.005 + 1e-9),
      );

      const byPercent = await run(sql, r, variables({ rank_by: { value: 'percent' } }));
      const percents = byPercent.map((x) => num(x['Growth %']));
      expect(percents.every((p, i) => i === 0 || percents[i - 1] >= p)).toBe(true);
      expect(Math.abs(percents[0] - Math.max(...growth.map((g) => (100 * g.growth) / g.first)))).toBeLessThanOrEqual(
        0.005 + 1e-9,
      );
    }
  });

  test('Sudden jumps: the influencers whose count rose more than the threshold hour over hour, and only suspicious ones', async () => {
    const sql = panelByTitle('Sudden jumps (possible bought followers)').targets![0].rawSql!;
    for (const r of ranges) {
      for (const threshold of [JUMP_THRESHOLD, 50]) {
        const expected = expectedJumps(r, threshold);
        const rows = await run(sql, r, variables({ jump_threshold: { value: String(threshold) } }));
        const got = new Map(rows.map((x) => [num(x.ID), { jumps: num(x.Jumps), largest: num(x['Largest jump %']) }]));
        expect({ range: r.name, threshold, ids: [...got.keys()].sort() }).toEqual({
          range: r.name,
          threshold,
          ids: [...expected.keys()].sort(),
        });
        for (const [id, e] of expected) {
          expect(got.get(id)!.jumps).toBe(e.jumps);
          expect(Math.abs(got.get(id)!.largest - 100 * e.largest)).toBeLessThanOrEqual(0.05 + 1e-9);
        }
        for (const id of got.keys()) expect(suspiciousIds).toContain(id);
      }
    }
  });

  test('stats and the latest-counts table', async () => {
    const r = ranges[0];
    const [influencers] = await run(panelByTitle('Influencers').targets![0].rawSql!, r);
    expect({ active: num(influencers.Active), registered: num(influencers.Registered) }).toEqual({
      active: ids.length - INACTIVE,
      registered: ids.length,
    });
    const [newest] = await run(panelByTitle('Newest sample').targets![0].rawSql!, r);
    const newestSample = Math.max(...ids.map((id) => samples.get(id)!.at(-1)!.t));
    expect(num(newest['Newest sample age'])).toBeGreaterThanOrEqual((now - newestSample) / 1000 - 1);
    expect(num(newest['Newest sample age'])).toBeLessThan((Date.now() - newestSample) / 1000 + 1);
    const latest = await run(panelByTitle('Latest counts of the selected influencers').targets![0].rawSql!, r);
    expect(latest.map((x) => String(x.ID)).sort()).toEqual([...selected].sort());
    for (const x of latest) expect(num(x.Followers)).toBe(samples.get(num(x.ID))!.at(-1)!.followers);
  });
});

// ---------------------------------------------------------------------------------------------
// Pipeline health: every PromQL expression names what the services expose

interface Exposed {
  type: string;
  labels: Set<string>;
  /** Label values the registry already has children for (e.g. outcome="2xx"). */
  values: Map<string, Set<string>>;
  service: Set<string>;
}

/** What the four services register: their registries exactly as main.ts builds them. */
async function exposedMetrics(): Promise<Map<string, Exposed>> {
  const registries: Record<string, Registry> = {};
  const make = (service: string) => (registries[service] = createRegistry(service));
  createMockApiMetrics(make('mock-api'));
  createSchedulerMetrics(make('scheduler'));
  createFetcherMetrics(make('fetcher'));
  createResultHandlerMetrics(make('result-handler'));
  const out = new Map<string, Exposed>();
  for (const [service, registry] of Object.entries(registries)) {
    for (const metric of await registry.getMetricsAsJSON()) {
      const declared = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
      const labels = new Set([...declared, 'service', 'instance', 'job']);
      const values = new Map<string, Set<string>>();
      for (const v of metric.values) {
        for (const [k, val] of Object.entries(v.labels)) values.set(k, (values.get(k) ?? new Set()).add(String(val)));
      }
      const type = String(metric.type);
      const names =
        type === 'histogram'
          ? [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`]
          : type === 'summary'
            ? [metric.name, `${metric.name}_sum`, `${metric.name}_count`]
            : [metric.name];
      for (const name of names) {
        const seen = out.get(name);
        if (seen) seen.service.add(service);
        else
          out.set(name, {
            type,
            labels: name.endsWith('_bucket') ? new Set([...labels, 'le']) : labels,
            values,
            service: new Set([service]),
          });
      }
    }
    registry.clear();
  }
  return out;
}

interface SelectorUse {
  metric: string;
  functions: string[]; // enclosing function calls, innermost first
  matchers: { label: string; op: string; value: string }[];
}

/** Parses a PromQL expression (Grafana's $__ durations replaced) and lists its selectors and labels. */
function analyse(expr: string): { errors: string[]; selectors: SelectorUse[]; groupingLabels: string[] } {
  const text = expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '1m');
  const errors: string[] = [];
  if (/\$/.test(text)) errors.push(`unexpanded variable in ${text}`);
  const selectors: SelectorUse[] = [];
  const groupingLabels: string[] = [];
  const tree = parser.parse(text);
  tree.iterate({
    enter(ref) {
      if (ref.type.isError)
        errors.push(`syntax error at ${ref.from}: "${text.slice(Math.max(0, ref.from - 10), ref.to + 10)}"`);
      if (ref.name === 'GroupingLabels') {
        for (let c = ref.node.firstChild; c; c = c.nextSibling)
          if (c.name === 'LabelName') groupingLabels.push(text.slice(c.from, c.to));
      }
      if (ref.name !== 'VectorSelector') return;
      const node = ref.node;
      const id = node.getChild('Identifier');
      const matchers: SelectorUse['matchers'] = [];
      for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const label = m.getChild('LabelName');
        const op = m.getChild('MatchOp');
        const value = m.getChild('StringLiteral');
        if (label && op && value)
          matchers.push({
            label: text.slice(label.from, label.to),
            op: text.slice(op.from, op.to),
            value: JSON.parse(text.slice(value.from, value.to)) as string,
          });
      }
      const functions: string[] = [];
      for (let p = node.parent; p; p = p.parent) {
        if (p.name === 'FunctionCall') {
          const f = p.getChild('FunctionIdentifier');
          if (f) functions.push(text.slice(f.from, f.to));
        }
      }
      selectors.push({ metric: id ? text.slice(id.from, id.to) : '', functions, matchers });
    },
  });
  return { errors, selectors, groupingLabels };
}

describe('Pipeline health: PromQL names what the services expose', () => {
  const expressions = allPanels(pipelineHealth).flatMap((p) =>
    (p.targets ?? []).filter((t) => t.expr !== undefined).map((t) => ({ panel: p.title, expr: t.expr! })),
  );
  let exposed: Map<string, Exposed>;

  beforeAll(async () => {
    exposed = await exposedMetrics();
  });

  test('every panel is a Prometheus panel with queries', () => {
    for (const panel of allPanels(pipelineHealth).filter((p) => p.type !== 'row')) {
      expect({
        panel: panel.title,
        uid: panel.datasource?.uid,
        queries: (panel.targets ?? []).every((t) => t.expr),
      }).toEqual({ panel: panel.title, uid: 'prometheus', queries: true });
    }
    expect(expressions.length).toBeGreaterThan(20);
  });

  test('the issue’s signals are all charted', () => {
    const all = expressions.map((e) => e.expr).join('\n');
    for (const metric of [
      'scheduler_jobs_scheduled_total',
      'result_handler_rows_written_total',
      'fetcher_request_duration_seconds_bucket',
      'fetcher_requests_total',
      'fetcher_retries_total',
      'kafka_consumer_lag',
      'fetcher_dlq_messages_total',
      'result_handler_dlq_messages_total',
      'result_handler_batch_size_bucket',
      'result_handler_flush_duration_seconds_bucket',
      'scheduler_lag_seconds',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
    ]) {
      expect(all).toContain(metric);
    }
  });

  test('every expression parses, and names registered metrics and labels, each used as its type allows', () => {
    const problems: string[] = [];
    for (const { panel, expr } of expressions) {
      const { errors, selectors, groupingLabels } = analyse(expr);
      const at = `${panel}: ${expr}`;
      problems.push(...errors.map((e) => `${at}: ${e}`));
      if (selectors.length === 0) problems.push(`${at}: names no metric`);
      const labelsHere = new Set<string>();
      for (const { metric, functions, matchers } of selectors) {
        const known = exposed.get(metric);
        if (!known) {
          problems.push(`${at}: ${metric || '(no name)'} is not registered by any service`);
          continue;
        }
        known.labels.forEach((l) => labelsHere.add(l));
        const counterLike =
          known.type === 'counter' ||
          known.type === 'histogram' ||
          (known.type === 'summary' && metric !== metric.replace(/_(sum|count)$/, ''));
        const rated = ['rate', 'irate', 'increase'].includes(functions[0]);
        if (counterLike && !rated)
          problems.push(`${at}: ${metric} is a ${known.type} series: wrap it in rate() or increase()`);
        if (!counterLike && ['rate', 'irate', 'increase'].includes(functions[0]))
          problems.push(`${at}: ${metric} is a gauge: rate() is meaningless on it`);
        if (metric.endsWith('_bucket') && !functions.includes('histogram_quantile'))
          problems.push(`${at}: ${metric} outside histogram_quantile()`);
        for (const { label, op, value } of matchers) {
          if (!known.labels.has(label)) problems.push(`${at}: ${metric} has no label ${label}`);
          const values = known.values.get(label);
          if (values && (op === '=' || op === '!=') && !values.has(value)) {
            problems.push(`${at}: ${label}="${value}" never occurs on ${metric} (known: ${[...values].join(', ')})`);
          }
        }
      }
      for (const label of groupingLabels)
        if (!labelsHere.has(label)) problems.push(`${at}: grouping by ${label}, which none of its metrics has`);
    }
    expect(problems).toEqual([]);
  });

  test('the checker itself rejects what it should', () => {
    expect(analyse('sum(rate(foo_total[5m])').errors.length).toBeGreaterThan(0);
    expect(analyse('rate(fetcher_requests_total{outcome="2xx"}[$__rate_interval])').selectors).toEqual([
      {
        metric: 'fetcher_requests_total',
        functions: ['rate'],
        matchers: [{ label: 'outcome', op: '=', value: '2xx' }],
      },
    ]);
    expect(analyse('histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m])))').selectors[0].functions).toEqual([
      'rate',
      'histogram_quantile',
    ]);
    expect(exposed.has('fetcher_requests_total')).toBe(true);
    expect(exposed.get('result_handler_batch_size_bucket')?.labels.has('le')).toBe(true);
    expect(exposed.has('fetcher_request_duration_seconds')).toBe(false); // a histogram is only its _bucket/_sum/_count
  });
});
