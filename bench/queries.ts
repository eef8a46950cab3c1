/**
 * `yarn bench queries`: the read side on the native TimescaleDB at scale, in a schema of its own.
 *
 * Data (bulk-loaded with COPY, the same rows the pipeline would store; the mock API's counts):
 * - `--influencers` (1,000,000) influencers with one sample an hour for the last 25 hours, and
 *   their newest sample in influencer_latest;
 * - the first `--minute-influencers` (10,000) of them with a sample every minute of the last day;
 * - the first `--month-influencers` (1,000) with an hourly sample for the 30 days before that;
 * - the continuous aggregates refreshed, as their policies would.
 * Then: one suspicious-detection pass over everyone (time, precision and recall against the mock's
 * truth), the rank refresh, and — while a writer stores `--write-rate` (5,000) samples/s through
 * the result-handler's statement — autocannon against the api (built, its start script) for
 * each question, p50/p99, and each statement's EXPLAIN ANALYZE.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { countsAt, suspiciousIds, usernameFor } from '@mockstagram/mock-api';
import { storeResults } from '@mockstagram/result-handler';
import { createPool, type FetchResult, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { from as copyFrom } from 'pg-copy-streams';
import { encodeCursor } from '../apps/api/src/cursor';
import { freshSchema } from '../test/support/engines';
import { freePort, stopChild, waitUntil } from './lib/proc';
import { repoRoot } from './lib/report';

export interface QueriesOptions {
  influencers: number;
  minuteInfluencers: number;
  monthInfluencers: number;
  writeRate: number;
  seconds: number;
  connections: number;
  keep: boolean;
}

interface AutocannonResult {
  latency: { p50: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (o: Record<string, unknown>) => Promise<AutocannonResult>;
// autocannon ships no type declarations; this is the part used here.
const autocannon = require('autocannon') as Autocannon;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FIRST_ID = 1_000_000;

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

/** COPY text lines of follower_counts rows, streamed in chunks. */
async function copyRows(pool: Pool, table: string, columns: string, lines: () => Generator<string>): Promise<number> {
  const client = await pool.connect();
  try {
    const stream = client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`));
    await pipeline(Readable.from(chunked(lines())), stream);
    return stream.rowCount ?? 0;
  } finally {
    client.release();
  }
}

function* chunked(lines: Generator<string>): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length > 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

function sampleLine(id: number, t: number): string {
  const c = countsAt(id, t);
  return `${id}\t${new Date(t).toISOString()}\t${c.followerCount}\t${c.followingCount}\n`;
}

export async function queries(o: QueriesOptions): Promise<void> {
  const db = await freshSchema('bench_queries');
  const pool = createPool({ connectionString: db.url, max: 4 });
  const figures: Record<string, unknown> = { options: o };
  const hourEnd = Math.floor(Date.now() / HOUR) * HOUR; // the detector's window ends here
  const lastHourly = (h: number) => hourEnd - h * HOUR - 30_000; // hh:59:30, the last sample of the hour before
  let api: ReturnType<typeof spawn> | undefined;
  let writing = false;
  let writer: Promise<number> | undefined;
  try {
    await migrate({ pool });
    // The benchmark drives detection and refreshes itself; the schema's own jobs would compete.
    await pool.query(`SELECT delete_job(job_id) FROM timescaledb_information.jobs WHERE proc_schema = current_schema() AND proc_name IN ('detect_suspicious_job')`);
    log(`schema ${db.schema}; loading`);

    let t0 = Date.now();
    const hourly = await copyRows(pool, 'follower_counts', 'influencer_id, observed_at, follower_count, following_count', function* () {
      for (let h = 25; h >= 1; h--) for (let i = 0; i < o.influencers; i++) yield sampleLine(FIRST_ID + i, lastHourly(h - 1));
    });
    const minute = await copyRows(pool, 'follower_counts', 'influencer_id, observed_at, follower_count, following_count', function* () {
      for (let t = hourEnd - DAY; t < hourEnd; t += 60_000) {
        for (let i = 0; i < o.minuteInfluencers; i++) yield sampleLine(FIRST_ID + i, t);
      }
    });
    const month = await copyRows(pool, 'follower_counts', 'influencer_id, observed_at, follower_count, following_count', function* () {
      for (let t = lastHourly(25) - 30 * DAY; t < lastHourly(25); t += HOUR) for (let i = 0; i < o.monthInfluencers; i++) yield sampleLine(FIRST_ID + i, t);
    });
    const latest = await copyRows(pool, 'influencer_latest', 'influencer_id, username, follower_count, following_count, observed_at', function* () {
      const t = lastHourly(0);
      for (let i = 0; i < o.influencers; i++) {
        const id = FIRST_ID + i;
        const c = countsAt(id, t);
        yield `${id}\t${usernameFor(id)}\t${c.followerCount}\t${c.followingCount}\t${new Date(t).toISOString()}\n`;
      }
    });
    figures.load = { hourly, minute, month, latest, seconds: (Date.now() - t0) / 1000 };
    log(`loaded ${hourly + minute + month} samples, ${latest} latest in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    t0 = Date.now();
    await pool.query(`CALL refresh_continuous_aggregate('follower_counts_hourly', NULL, NULL)`);
    await pool.query(`CALL refresh_continuous_aggregate('follower_counts_daily', NULL, NULL)`);
    // This schema's tables only: a database-wide ANALYZE would queue behind other sessions' locks.
    await pool.query('ANALYZE follower_counts, influencer_latest');
    figures.aggregates = { seconds: (Date.now() - t0) / 1000 };
    log(`continuous aggregates refreshed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    // Suspicious detection over everyone, twice (the second finds nothing to change).
    const passes = [];
    for (let i = 0; i < 2; i++) {
      const { rows } = await pool.query('SELECT * FROM detect_suspicious()');
      passes.push(rows[0]);
      log(`detection pass ${i + 1}: ${Math.round(rows[0].duration_ms)} ms, ${rows[0].evaluated} judged, ${rows[0].flagged} flagged, ${rows[0].cleared} cleared`);
    }
    const truth = new Set(suspiciousIds(FIRST_ID, FIRST_ID + o.influencers - 1));
    const flagged = (await pool.query<{ id: number }>('SELECT influencer_id AS id FROM suspicious_influencers')).rows.map((r) => r.id);
    const tp = flagged.filter((id) => truth.has(id)).length;
    figures.detection = {
      passesMs: passes.map((p) => p.duration_ms),
      evaluated: passes[0].evaluated,
      truth: truth.size,
      flagged: flagged.length,
      truePositives: tp,
      precision: tp / flagged.length,
      recall: tp / truth.size,
    };
    log(`precision ${(tp / flagged.length).toFixed(4)}, recall ${(tp / truth.size).toFixed(4)} (${flagged.length} flagged, ${truth.size} truly suspicious)`);
    const refreshes = [];
    for (let i = 0; i < 2; i++) refreshes.push((await pool.query('SELECT duration_ms FROM refresh_rankings()')).rows[0].duration_ms);
    await pool.query(`UPDATE follower_stats SET source_version = NULL`); // the next refresh rebuilds
    figures.refreshRankingsMs = refreshes;
    log(`rank refresh: ${refreshes.map((r) => Math.round(r)).join(' ms, ')} ms (rebuild, then nothing changed)`);

    // The api as it ships, and a writer at the pipeline's rate.
    const port = await freePort();
    api = spawn(process.execPath, ['--max-old-space-size=128', '--max-semi-space-size=8', 'dist/main.js'], {
      cwd: path.join(repoRoot, 'apps', 'api'),
      env: { ...process.env, DATABASE_URL: db.url, API_HTTP_PORT: String(port), LOG_LEVEL: 'warn', OTEL_TRACES_SAMPLER_ARG: '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    await waitUntil('the api to be ready', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 60_000);
    writing = true;
    writer = (async () => {
      let written = 0;
      const batch = Math.max(1, Math.round(o.writeRate / 5));
      let next = Date.now();
      while (writing) {
        const now = Date.now();
        const rows: FetchResult[] = [];
        for (let i = 0; i < batch; i++) {
          const id = FIRST_ID + Math.floor(Math.random() * o.influencers);
          const c = countsAt(id, now);
          rows.push({ jobId: randomUUID(), influencerId: id, username: c.username, followerCount: c.followerCount, followingCount: c.followingCount, observedAt: new Date(now + i).toISOString() });
        }
        written += (await storeResults(pool, rows)).inserted;
        next += 200;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      return written;
    })();

    const randomId = (n: number) => FIRST_ID + Math.floor(Math.random() * n);
    const now = () => Date.now();
    const cases: Array<{ name: string; target?: string; path: () => string }> = [
      { name: 'latest + rank', target: 'p99 ≤ 5 ms', path: () => `/api/v1/influencers/${randomId(o.influencers)}` },
      { name: 'stats', target: 'p99 ≤ 5 ms', path: () => '/api/v1/stats' },
      { name: 'one day at 1 minute', target: 'p99 ≤ 20 ms', path: () => `/api/v1/influencers/${randomId(o.minuteInfluencers)}/series?from=${new Date(now() - DAY).toISOString()}&to=${new Date(now()).toISOString()}&resolution=1m` },
      { name: '30 days at 1 hour', target: 'p99 ≤ 20 ms', path: () => `/api/v1/influencers/${randomId(o.monthInfluencers)}/series?from=${new Date(now() - 30 * DAY).toISOString()}&to=${new Date(now()).toISOString()}&resolution=1h` },
      { name: 'leaderboard page (50, any depth)', target: 'p99 ≤ 10 ms', path: () => `/api/v1/rankings?limit=50&cursor=${encodeCursor('followers', [Math.floor(Math.random() * o.influencers * 0.9)])}` },
      { name: 'suspicious page (50)', path: () => '/api/v1/suspicious?limit=50' },
      { name: 'top growers 24 h (live)', path: () => '/api/v1/rankings?by=growth&window=24h&limit=50' },
    ];
    const http: Record<string, unknown> = {};
    for (const c of cases) {
      const slow = c.name.startsWith('top growers');
      const r = await autocannon({
        url: base,
        connections: slow ? 1 : o.connections,
        duration: slow ? Math.min(o.seconds, 10) : o.seconds,
        requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: c.path() }) }],
      });
      http[c.name] = { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, rps: r.requests.average, non2xx: r.non2xx, errors: r.errors, target: c.target };
      log(`${c.name.padEnd(34)} p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  ${Math.round(r.requests.average)} req/s  non-2xx ${r.non2xx}  ${c.target ?? ''}`);
    }
    figures.http = http;
    writing = false;
    const written = await writer;
    figures.written = written;

    // Plans of the statements behind them.
    const plans: Record<string, string> = {};
    const explain = async (name: string, sql: string, values: unknown[]) => {
      const { rows } = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, values);
      plans[name] = rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    };
    const id = FIRST_ID + 17;
    await explain('latest + rank', `SELECT l.influencer_id, r.rank, s.score, st.computed_at FROM influencer_latest l LEFT JOIN follower_rankings r ON r.influencer_id = l.influencer_id LEFT JOIN suspicious_influencers s ON s.influencer_id = l.influencer_id LEFT JOIN follower_stats st ON true WHERE l.influencer_id = $1::bigint`, [id]);
    await explain('stats', `SELECT st.average_followers, st.tracked, st.ranked, st.suspicious, st.computed_at, st.newest_sample_at FROM (SELECT 1) one LEFT JOIN follower_stats st ON true`, []);
    await explain('one day at 1 minute', `SELECT time_bucket(INTERVAL '1 minute', observed_at) AS t, last(follower_count, observed_at), last(following_count, observed_at) FROM follower_counts WHERE influencer_id = $1::bigint AND observed_at >= $2 AND observed_at < $3 GROUP BY 1 ORDER BY 1`, [id, new Date(now() - DAY), new Date(now())]);
    await explain('30 days at 1 hour', `SELECT bucket, follower_count_last, following_count_last FROM follower_counts_hourly WHERE influencer_id = $1::bigint AND bucket >= $2 AND bucket < $3 ORDER BY bucket`, [id, new Date(now() - 30 * DAY), new Date(now())]);
    await explain('leaderboard page', `SELECT rank, influencer_id, username, follower_count FROM follower_rankings WHERE rank > $1::bigint ORDER BY rank LIMIT 50`, [Math.floor(o.influencers / 2)]);
    figures.plans = plans;
    for (const [name, plan] of Object.entries(plans)) console.log(`\n--- plan: ${name}\n${plan}`);

    const out = path.join(repoRoot, 'bench', 'results', `queries-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(figures, null, 2));
    log(`wrote ${path.relative(repoRoot, out)}; writer stored ${written} samples during the HTTP phase`);
  } finally {
    writing = false;
    await writer?.catch(() => undefined);
    if (api) await stopChild(api);
    await pool.end();
    if (!o.keep) await db.drop();
    else log(`kept schema ${db.schema} (--keep)`);
  }
}
