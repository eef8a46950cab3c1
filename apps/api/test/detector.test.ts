/**
 * Suspicious detection (migration 007's detect_suspicious(), as the TimescaleDB job and
 * `yarn detect-suspicious` run it) on synthetic histories with known answers, written through
 * the result-handler's storage path.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { storeResults } from '@mockstagram/result-handler';
import type { FetchResult } from '@mockstagram/shared';
import { detectSuspicious } from '../src/sql/detectSuspicious';
import { refreshRankings } from '../src/sql/refreshRankings';
import { startApiEnv, type ApiEnv } from './support';

const HOUR = 3_600_000;
const STEP = 10 * 60_000;
/** End of the first judged window: the history below runs 30 hours up to it, and 2 days past it. */
const AS_OF = Date.UTC(2026, 10, 20, 0, 0, 0);
const START = AS_OF - 30 * HOUR;
const AFTER = AS_OF + 2 * 24 * HOUR;

const STEADY = 4_000_001;
const SPIKE_PURGE = 4_000_002;
const SHORT = 4_000_003;
const ZERO_FOLLOWING = 4_000_004;
const REFORMED = 4_000_005;
const ERRATIC = 4_000_006;
const SHRINKING = 4_000_007;
const TINY = 4_000_008;

/** Followers at t: a steady trend of `dailyRate` with a ±0.05 % wobble, plus `extra(t)` bought followers. */
function followers(base: number, dailyRate: number, t: number, extra = 0): number {
  const days = (t - START) / 86_400_000;
  const wobble = 0.0005 * Math.sin(t / 1_700_000);
  return Math.round(base * (1 + dailyRate * days) * (1 + wobble + extra));
}

/** +30 % at `at`, purged linearly over the next 3 hours. */
const spikeThenPurge = (at: number) => (t: number) => (t < at ? 0 : Math.max(0, 0.3 * (1 - (t - at) / (3 * HOUR))));

const histories: Record<number, { from: number; to: number; value: (t: number) => number; following?: number }> = {
  [STEADY]: { from: START, to: AFTER, value: (t) => followers(50_000, 0.004, t) },
  [SPIKE_PURGE]: {
    from: START,
    to: AFTER,
    value: (t) => followers(80_000, 0.002, t, spikeThenPurge(AS_OF - 8 * HOUR)(t)),
  },
  [SHORT]: {
    from: AS_OF - 5 * HOUR,
    to: AS_OF,
    value: (t) => followers(10_000, 0.01, t, spikeThenPurge(AS_OF - 3 * HOUR)(t)),
  },
  [ZERO_FOLLOWING]: { from: START, to: AFTER, value: (t) => followers(30_000, 0.003, t), following: 0 },
  [REFORMED]: {
    from: START,
    to: AFTER,
    value: (t) => followers(60_000, 0.001, t, spikeThenPurge(AS_OF - 12 * HOUR)(t)),
  },
  // Buys and purges all the time: a jump of 5-25 % every hour, half of it gone by the next.
  [ERRATIC]: {
    from: START,
    to: AFTER,
    value: (t) =>
      followers(
        40_000,
        0.001,
        t,
        0.05 + 0.2 * Math.abs(Math.sin(Math.floor(t / HOUR) * 1.7)) * (1 - (t % HOUR) / (2 * HOUR)),
      ),
  },
  [SHRINKING]: { from: START, to: AFTER, value: (t) => followers(200_000, -0.0015, t) },
  // 120 followers: one follower more or less is ~0.8 %, never a 2 % hour.
  [TINY]: { from: START, to: AFTER, value: (t) => 120 + (Math.floor(t / (5 * HOUR)) % 2) },
};

let env: ApiEnv;

beforeAll(async () => {
  env = await startApiEnv('detector');
  const rows: FetchResult[] = [];
  for (const [id, h] of Object.entries(histories)) {
    for (let t = h.from; t < h.to; t += STEP) {
      rows.push({
        jobId: randomUUID(),
        influencerId: Number(id),
        username: `synthetic_${id}`,
        followerCount: h.value(t),
        followingCount: h.following ?? 300,
        observedAt: new Date(t).toISOString(),
      });
    }
  }
  for (let i = 0; i < rows.length; i += 5000) await storeResults(env.pool, rows.slice(i, i + 5000));
});

afterAll(async () => {
  await env?.close();
});

async function flags(): Promise<Map<number, string>> {
  const { rows } = await env.pool.query<{ id: number; reason: string }>(
    'SELECT influencer_id AS id, reason FROM suspicious_influencers',
  );
  return new Map(rows.map((r) => [r.id, r.reason]));
}

describe('detect_suspicious()', () => {
  it('flags the spike-then-purge, the reformed (at its spike) and the erratic; not the steady, shrinking, tiny or zero-following; skips the short history', async () => {
    const run = await detectSuspicious(env.pool, {}, new Date(AS_OF));
    expect(await flags()).toEqual(
      new Map([
        [SPIKE_PURGE, 'spike'],
        [REFORMED, 'spike'],
        [ERRATIC, 'erratic'],
      ]),
    );
    expect(run).toMatchObject({
      evaluated: 7,
      skipped: 1,
      flagged: 3,
      cleared: 0,
      suspicious: 3,
      triggeredBy: 'manual',
    });
    expect(run.windowEnd).toEqual(new Date(AS_OF));
    expect(run.windowStart).toEqual(new Date(AS_OF - 24 * HOUR));
    expect(run.durationMs).toBeGreaterThan(0);
    const { rows } = await env.pool.query(
      `SELECT influencer_id AS id, event, reason FROM suspicious_events ORDER BY influencer_id`,
    );
    expect(rows).toEqual([
      { id: SPIKE_PURGE, event: 'flagged', reason: 'spike' },
      { id: REFORMED, event: 'flagged', reason: 'spike' },
      { id: ERRATIC, event: 'flagged', reason: 'erratic' },
    ]);
    const details = (
      await env.pool.query(`SELECT score, details FROM suspicious_influencers WHERE influencer_id = $1`, [SPIKE_PURGE])
    ).rows[0];
    expect(details.score).toBeGreaterThan(6);
    expect(details.details).toMatchObject({ hours: 24, maxGrowth: expect.any(Number) });
    expect(details.details.maxGrowth).toBeGreaterThan(0.2);
  });

  it('is idempotent: the same history again changes nothing and records another run', async () => {
    const before = await flags();
    const run = await detectSuspicious(env.pool, {}, new Date(AS_OF));
    expect(run).toMatchObject({ flagged: 0, cleared: 0, suspicious: 3 });
    expect(await flags()).toEqual(before);
    expect((await env.pool.query('SELECT count(*)::int AS n FROM suspicious_events')).rows[0].n).toBe(3);
    expect(
      (await env.pool.query('SELECT count(*)::int AS n FROM suspicious_detection_runs WHERE finished_at IS NOT NULL'))
        .rows[0].n,
    ).toBe(2);
  });

  it('clears an influencer who stops being suspicious, keeping the history of both', async () => {
    const run = await detectSuspicious(env.pool, {}, new Date(AFTER));
    // Two days on, the window holds quiet hours for all but the erratic one; the short history has stopped.
    expect(await flags()).toEqual(new Map([[ERRATIC, 'erratic']]));
    expect(run).toMatchObject({ flagged: 0, cleared: 2, suspicious: 1, skipped: 0, evaluated: 7 });
    const { rows } = await env.pool.query(
      `SELECT event FROM suspicious_events WHERE influencer_id = $1 ORDER BY at, id`,
      [REFORMED],
    );
    expect(rows.map((r) => r.event)).toEqual(['flagged', 'cleared']);
  });

  it('leaves flagged influencers out of rank and average, and still stores their samples', async () => {
    await refreshRankings(env.pool);
    const { rows } = await env.pool.query(`SELECT influencer_id AS id FROM follower_rankings ORDER BY rank`);
    expect(rows.map((r) => r.id)).not.toContain(ERRATIC);
    expect(rows).toHaveLength(Object.keys(histories).length - 1);
    const stats = (await env.pool.query('SELECT ranked, suspicious, tracked, average_followers FROM follower_stats'))
      .rows[0];
    const average = (
      await env.pool.query('SELECT avg(follower_count)::float8 AS a FROM influencer_latest WHERE influencer_id <> $1', [
        ERRATIC,
      ])
    ).rows[0].a;
    expect(stats).toEqual({ ranked: 7, suspicious: 1, tracked: 8, average_followers: average });
    const stored = (
      await env.pool.query('SELECT count(*)::int AS n FROM follower_counts WHERE influencer_id = $1', [ERRATIC])
    ).rows[0].n;
    expect(stored).toBe((AFTER - START) / STEP);
  });

  it('refuses unknown or out-of-range settings, naming them', async () => {
    await expect(detectSuspicious(env.pool, { zthreshold: 3 })).rejects.toThrow(/unknown setting\(s\) zthreshold/);
    await expect(detectSuspicious(env.pool, { min_hours: 1 })).rejects.toThrow(/settings out of range/);
  });

  it('stricter settings flag fewer: min_change above the spike clears the spike-only accounts', async () => {
    const run = await detectSuspicious(env.pool, { min_change: 0.5 }, new Date(AS_OF));
    expect(run.settings).toMatchObject({ min_change: 0.5, z_threshold: 6 });
    expect([...(await flags()).keys()]).toEqual([ERRATIC]);
  });
});

describe('the scheduled job and yarn detect-suspicious', () => {
  it('migration 008 schedules detection once a day and the rank refresh every minute', async () => {
    const { rows } = await env.pool.query(
      `SELECT proc_name, schedule_interval::text AS every, fixed_schedule FROM timescaledb_information.jobs
        WHERE proc_schema = $1 AND proc_name IN ('detect_suspicious_job', 'refresh_rankings_job') ORDER BY proc_name`,
      [env.db.schema],
    );
    expect(rows).toEqual([
      { proc_name: 'detect_suspicious_job', every: '1 day', fixed_schedule: true },
      { proc_name: 'refresh_rankings_job', every: '00:01:00', fixed_schedule: true },
    ]);
  });

  it('the job, run by the server, records a run triggered by "job"', async () => {
    const { rows } = await env.pool.query(
      `SELECT job_id FROM timescaledb_information.jobs WHERE proc_schema = $1 AND proc_name = 'detect_suspicious_job'`,
      [env.db.schema],
    );
    await env.pool.query('CALL run_job($1)', [rows[0].job_id]);
    const last = (
      await env.pool.query(`SELECT triggered_by, finished_at FROM suspicious_detection_runs ORDER BY id DESC LIMIT 1`)
    ).rows[0];
    expect(last.triggered_by).toBe('job');
    expect(last.finished_at).not.toBeNull();
  });

  it('yarn detect-suspicious runs one pass against DATABASE_URL and prints the run', async () => {
    const repo = path.resolve(__dirname, '..', '..', '..');
    const { stdout } = await promisify(execFile)('yarn', ['-s', 'detect-suspicious'], {
      cwd: repo,
      env: { ...process.env, DATABASE_URL: env.db.url, LOG_LEVEL: 'silent' },
    });
    const run = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(run).toMatchObject({ triggeredBy: 'manual', settings: expect.objectContaining({ lookback: '1 day' }) });
    const count = (
      await env.pool.query(`SELECT count(*)::int AS n FROM suspicious_detection_runs WHERE id = $1`, [run.id])
    ).rows[0].n;
    expect(count).toBe(1);
  });
});
