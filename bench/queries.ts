/**
 * `yarn bench queries`: the read side on the native TimescaleDB at scale, in a schema of its own.
 *
 * Data (bulk-loaded with COPY, the same rows the pipeline would store; the mock API's counts):
 * - `--influencers` (1,000,000) influencers with one sample an hour for the last 25 hours (or
 *   only the first `--hourly-influencers` of them), and their newest sample in influencer_latest;
 * - the first `--minute-influencers` (10,000) of them with a sample every minute of the last day;
 * - the first `--month-influencers` (1,000) with an hourly sample for the 30 days before that;
 * - the continuous aggregates refreshed, as their policies would.
 * Then: one suspicious-detection pass over everyone (time, precision and recall against the mock's
 * truth), the rank refresh, and — while a writer stores `--write-rate` (5,000) samples/s through
 * the result-handler's statement — autocannon against the api (built, its start script) for
 * each question, p50/p99, and each statement's EXPLAIN ANALYZE.
 */
import { fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { countsAt, suspiciousIds, usernameFor } from '@mockstagram/mock-api';
import { createPool, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { from as copyFrom } from 'pg-copy-streams';
import { getInfluencer, getSeries, getStats, listTopFollowers, encodeCursor, type Queryable } from '@mockstagram/api';
import { databaseUrl, freshSchema, withSearchPath } from '@mockstagram/testkit';
import { freePort, stopChild, waitUntil } from './lib/proc';
import { percentile, ProcWatch } from './lib/procstats';
import type { WriterSummary } from './lib/queries-writer';
import { databasePid } from './lib/sink';
import { repoRoot } from './lib/report';

export interface QueriesOptions {
  influencers: number;
  /** How many of them (the first) get the 25 hours of hourly samples (default: all). */
  hourlyInfluencers?: number;
  minuteInfluencers: number;
  monthInfluencers: number;
  writeRate: number;
  seconds: number;
  connections: number;
  keep: boolean;
  /** A schema kept by an earlier run (`--keep`): skip loading, aggregates and detection. */
  reuse?: string;
  /** Only the questions whose names start with one of these (default: all). */
  only?: string[];
  /** Start the api with `--cpu-prof` and write its profile under bench/results/. */
  profile?: boolean;
  /** Run the HTTP phase without the writer (the api alone, for comparison). */
  noWriter?: boolean;
  /**
   * Builds of the api to measure, directories under apps/api (default `dist`, its start script's);
   * with several, each question is asked of each in turn, in the same minutes.
   */
  apiDists?: string[];
}

interface AutocannonResult {
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (o: Record<string, unknown>) => Promise<AutocannonResult>;
// autocannon ships no type declarations; this is the part used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- autocannon ships no ES module typings
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
  const db = o.reuse ? reusedSchema(o.reuse) : await freshSchema('bench_queries');
  const pool = createPool({ connectionString: db.url, max: 4 });
  const figures: Record<string, unknown> = { options: o };
  const hourEnd = Math.floor(Date.now() / HOUR) * HOUR; // the detector's window ends here
  const lastHourly = (h: number) => hourEnd - h * HOUR - 30_000; // hh:59:30, the last sample of the hour before
  const children: ReturnType<typeof spawn>[] = [];
  let writer: ReturnType<typeof fork> | undefined;
  try {
    if (o.reuse) {
      const applied = await migrate({ pool }); // a migration added since the schema was kept
      log(`reusing schema ${db.schema} (loaded by an earlier run)`);
      if (applied.applied.length > 0) await vacuumTables(pool);
    } else await load();
    await httpPhase();
  } finally {
    if (writer && writer.exitCode === null) writer.kill('SIGTERM');
    for (const child of children) await stopChild(child);
    await pool.end();
    if (!o.keep && !o.reuse) await db.drop();
    else log(`kept schema ${db.schema} (rerun the HTTP phase with --reuse ${db.schema})`);
  }

  async function load(): Promise<void> {
    await migrate({ pool });
    // The benchmark drives detection and refreshes itself; the schema's own jobs would compete.
    await pool.query(
      `SELECT delete_job(job_id) FROM timescaledb_information.jobs WHERE proc_schema = current_schema() AND proc_name IN ('detect_suspicious_job')`,
    );
    log(`schema ${db.schema}; loading`);

    let t0 = Date.now();
    const hourly = await copyRows(
      pool,
      'follower_counts',
      'influencer_id, observed_at, follower_count, following_count',
      function* () {
        const n = Math.min(o.hourlyInfluencers ?? o.influencers, o.influencers);
        for (let h = 25; h >= 1; h--) for (let i = 0; i < n; i++) yield sampleLine(FIRST_ID + i, lastHourly(h - 1));
      },
    );
    const minute = await copyRows(
      pool,
      'follower_counts',
      'influencer_id, observed_at, follower_count, following_count',
      function* () {
        for (let t = hourEnd - DAY; t < hourEnd; t += 60_000) {
          for (let i = 0; i < o.minuteInfluencers; i++) yield sampleLine(FIRST_ID + i, t);
        }
      },
    );
    const month = await copyRows(
      pool,
      'follower_counts',
      'influencer_id, observed_at, follower_count, following_count',
      function* () {
        for (let t = lastHourly(25) - 30 * DAY; t < lastHourly(25); t += HOUR)
          for (let i = 0; i < o.monthInfluencers; i++) yield sampleLine(FIRST_ID + i, t);
      },
    );
    const latest = await copyRows(
      pool,
      'influencer_latest',
      'influencer_id, username, follower_count, following_count, observed_at',
      function* () {
        const t = lastHourly(0);
        for (let i = 0; i < o.influencers; i++) {
          const id = FIRST_ID + i;
          const c = countsAt(id, t);
          yield `${id}\t${usernameFor(id)}\t${c.followerCount}\t${c.followingCount}\t${new Date(t).toISOString()}\n`;
        }
      },
    );
    figures.load = { hourly, minute, month, latest, seconds: (Date.now() - t0) / 1000 };
    log(`loaded ${hourly + minute + month} samples, ${latest} latest in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    t0 = Date.now();
    for (const view of ['follower_counts_hourly', 'follower_counts_daily']) {
      // The schema's own refresh policy may be running (its first run comes at once): wait for it.
      for (let attempt = 1; ; attempt++) {
        try {
          await pool.query(`CALL refresh_continuous_aggregate('${view}', NULL, NULL)`);
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== '55P03' || attempt >= 60) throw err;
          await new Promise((r) => setTimeout(r, 5_000));
        }
      }
    }
    figures.aggregates = { seconds: (Date.now() - t0) / 1000 };
    await vacuumTables(pool);
    log(`continuous aggregates refreshed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    // Suspicious detection over everyone, twice (the second finds nothing to change).
    const passes = [];
    for (let i = 0; i < 2; i++) {
      const { rows } = await pool.query('SELECT * FROM detect_suspicious()');
      passes.push(rows[0]);
      log(
        `detection pass ${i + 1}: ${Math.round(rows[0].duration_ms)} ms, ${rows[0].evaluated} judged, ${rows[0].flagged} flagged, ${rows[0].cleared} cleared`,
      );
    }
    // Judged: those with the hourly history.
    const truth = new Set(
      suspiciousIds(FIRST_ID, FIRST_ID + Math.min(o.hourlyInfluencers ?? o.influencers, o.influencers) - 1),
    );
    const flagged = (
      await pool.query<{ id: number }>('SELECT influencer_id AS id FROM suspicious_influencers')
    ).rows.map((r) => r.id);
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
    log(
      `precision ${(tp / flagged.length).toFixed(4)}, recall ${(tp / truth.size).toFixed(4)} (${flagged.length} flagged, ${truth.size} truly suspicious)`,
    );
    const refreshes = [];
    for (let i = 0; i < 2; i++)
      refreshes.push((await pool.query('SELECT duration_ms FROM refresh_rankings()')).rows[0].duration_ms);
    await pool.query(`UPDATE follower_stats SET source_version = NULL`); // the next refresh rebuilds
    figures.refreshRankingsMs = refreshes;
    log(`rank refresh: ${refreshes.map((r) => Math.round(r)).join(' ms, ')} ms (rebuild, then nothing changed)`);
  }

  async function httpPhase(): Promise<void> {
    // The api as it ships (its start script's flags), and a writer at the pipeline's rate in a
    // process of its own (bench/lib/queries-writer.ts).
    const profileDir = path.join(repoRoot, 'bench', 'results', 'profiles');
    if (o.profile) fs.mkdirSync(profileDir, { recursive: true });
    const apis: Array<{ dist: string; base: string; child: ReturnType<typeof spawn> }> = [];
    for (const dist of o.apiDists ?? ['dist']) {
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [
          ...(o.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
          '--max-old-space-size=128',
          '--max-semi-space-size=8',
          path.join(dist, 'main.js'),
        ],
        {
          cwd: path.join(repoRoot, 'apps', 'api'),
          env: {
            ...process.env,
            DATABASE_URL: db.url,
            API_HTTP_PORT: String(port),
            LOG_LEVEL: 'warn',
            OTEL_TRACES_SAMPLER_ARG: '0',
          },
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      children.push(child);
      const base = `http://127.0.0.1:${port}`;
      await waitUntil(
        `the api (${dist}) to be ready`,
        async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
        60_000,
      );
      apis.push({ dist, base, child });
    }
    if (!o.noWriter) {
      const w = fork(
        path.join(__dirname, 'lib', 'queries-writer.ts'),
        [JSON.stringify({ url: db.url, rate: o.writeRate, influencers: o.influencers, firstId: FIRST_ID })],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
      );
      writer = w;
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready`)));
      });
    }
    const dbPid = databasePid();
    const watch = new ProcWatch();
    for (const a of apis) watch.add(apis.length > 1 ? `api ${a.dist}` : 'api', a.child.pid!, true);
    watch.add('autocannon (this process)', process.pid, false);
    if (writer) watch.add('writer', writer.pid!, false);
    if (dbPid) watch.add('database (server and backends)', dbPid, false, { tree: true });

    // The background with no questions asked: the writer, the jobs, the idle api (5 s).
    watch.poll();
    const idle0 = watch.cpuSnapshot();
    const idleLoad = os.loadavg()[0];
    await new Promise((r) => setTimeout(r, 5_000));
    watch.poll();
    const idleCores = new Map(watch.figures(idle0, watch.cpuSnapshot()).map((p) => [p.name, p.cpuWindowSeconds / 5]));
    figures.background = { loadAverage: idleLoad, cpuCores: Object.fromEntries(idleCores) };
    log(
      `background (writer and jobs, no questions; 5 s): load ${idleLoad.toFixed(1)}; cores: ${[...idleCores].map(([n, c]) => `${n} ${c.toFixed(2)}`).join(', ')}`,
    );

    const randomId = (n: number) => FIRST_ID + Math.floor(Math.random() * n);
    const now = () => Date.now();
    const cases: Array<{ name: string; target?: string; path: () => string }> = [
      { name: 'latest + rank', target: 'p99 ≤ 5 ms', path: () => `/api/v1/influencers/${randomId(o.influencers)}` },
      { name: 'stats', target: 'p99 ≤ 5 ms', path: () => '/api/v1/stats' },
      {
        name: 'one day at 1 minute',
        target: 'p99 ≤ 20 ms',
        path: () =>
          `/api/v1/influencers/${randomId(o.minuteInfluencers)}/series?from=${new Date(now() - DAY).toISOString()}&to=${new Date(now()).toISOString()}&resolution=1m`,
      },
      {
        name: '30 days at 1 hour',
        target: 'p99 ≤ 20 ms',
        path: () =>
          `/api/v1/influencers/${randomId(o.monthInfluencers)}/series?from=${new Date(now() - 30 * DAY).toISOString()}&to=${new Date(now()).toISOString()}&resolution=1h`,
      },
      {
        name: 'leaderboard page (50, any depth)',
        target: 'p99 ≤ 10 ms',
        path: () =>
          `/api/v1/rankings?limit=50&cursor=${encodeCursor('followers', [Math.floor(Math.random() * o.influencers * 0.9)])}`,
      },
      { name: 'suspicious page (50)', path: () => '/api/v1/suspicious?limit=50' },
      { name: 'top growers 24 h (live)', path: () => '/api/v1/rankings?by=growth&window=24h&limit=50' },
    ];
    const http: Record<string, unknown> = {};
    const DB = 'database (server and backends)';
    const apiName = (a: { dist: string }) => (apis.length > 1 ? `api ${a.dist}` : 'api');
    for (const c of cases) {
      if (o.only?.length && !o.only.some((prefix) => c.name.startsWith(prefix))) continue;
      const slow = c.name.startsWith('top growers');
      const connections = slow ? 1 : o.connections;
      const seconds = slow ? Math.min(o.seconds, 10) : o.seconds;
      // Each build gets a 1 s warm-up (JIT, connections; not counted), then `rounds` turns of
      // seconds/rounds each, the builds alternating (A B B A A B): what the machine's load does in
      // those minutes falls on both. Percentiles are over every answer of a build's turns.
      const rounds = apis.length > 1 && !slow ? 4 : 1;
      for (const a of apis)
        await autocannon({
          url: a.base,
          connections,
          duration: 1,
          requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: c.path() }) }],
        });
      const acc = new Map(
        apis.map((a) => [
          a.dist,
          {
            times: [] as number[],
            non2xx: 0,
            errors: 0,
            wall: 0,
            cpu: new Map<string, number>(),
            busy: 0,
            total: 0,
            load: [] as number[],
          },
        ]),
      );
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? apis : [...apis].reverse();
        for (const a of order) {
          const m = acc.get(a.dist)!;
          m.load.push(os.loadavg()[0]);
          watch.poll();
          const cpu0 = watch.cpuSnapshot();
          const machine0 = machineCpu();
          const started = performance.now();
          const run = autocannon({
            url: a.base,
            connections,
            duration: seconds / rounds,
            requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: c.path() }) }],
          });
          (
            run as unknown as {
              on: (e: string, f: (client: unknown, status: number, bytes: number, ms: number) => void) => void;
            }
          ).on('response', (_client, status, _bytes, ms) => {
            m.times.push(ms);
            if (status < 200 || status > 299) m.non2xx++;
          });
          const r = await run;
          m.errors += r.errors;
          m.wall += (performance.now() - started) / 1000;
          watch.poll();
          for (const f of watch.figures(cpu0, watch.cpuSnapshot()))
            m.cpu.set(f.name, (m.cpu.get(f.name) ?? 0) + f.cpuWindowSeconds);
          const machine = machineCpu();
          m.busy += machine.busy - machine0.busy;
          m.total += machine.total - machine0.total;
          m.load.push(os.loadavg()[0]);
        }
      }
      for (const a of apis) {
        const m = acc.get(a.dist)!;
        const label = apis.length > 1 ? `${c.name} [${a.dist}]` : c.name;
        const sorted = [...m.times].sort((x, y) => x - y);
        const q = (p: number) => Math.round(percentile(sorted, p) * 10) / 10;
        const answered = sorted.length;
        // CPU per answer: what a question costs the api and the database. The database's is all
        // its CPU in those seconds (the writer's and the jobs' too) and that less the background's rate.
        const perAnswer = (name: string, less = 0) =>
          (Math.max(0, (m.cpu.get(name) ?? 0) - less * m.wall) * 1000) / Math.max(1, answered);
        const cpuMsPerRequest = {
          api: perAnswer(apiName(a)),
          database: perAnswer(DB),
          databaseAboveBackground: perAnswer(DB, idleCores.get(DB) ?? 0),
        };
        const cores = [...m.cpu].map(([name, sec]) => ({ name, cores: sec / m.wall }));
        const busy = m.busy / Math.max(1, m.total);
        const load = [Math.min(...m.load), Math.max(...m.load)];
        http[label] = {
          api: a.dist,
          p50: q(0.5),
          p90: q(0.9),
          p99: q(0.99),
          max: sorted.at(-1),
          answers: answered,
          rps: answered / m.wall,
          non2xx: m.non2xx,
          errors: m.errors,
          target: c.target,
          rounds,
          loadAverage: load,
          machineBusy: busy,
          cpuCores: Object.fromEntries(cores.map((p) => [p.name, p.cores])),
          cpuMsPerRequest,
        };
        log(
          `${label.padEnd(44)} p50 ${q(0.5)} ms  p90 ${q(0.9)} ms  p99 ${q(0.99)} ms  ${Math.round(answered / m.wall)} req/s  non-2xx ${m.non2xx}  ${c.target ?? ''}`,
        );
        log(
          `${''.padEnd(44)} load ${load[0].toFixed(1)}–${load[1].toFixed(1)}; machine ${(busy * 100).toFixed(0)} % busy; cores: ${cores
            .filter((p) => p.cores >= 0.005)
            .map((p) => `${p.name} ${p.cores.toFixed(2)}`)
            .join(', ')}`,
        );
        log(
          `${''.padEnd(44)} CPU per answer: api ${cpuMsPerRequest.api.toFixed(2)} ms, database ${cpuMsPerRequest.database.toFixed(2)} ms (${cpuMsPerRequest.databaseAboveBackground.toFixed(2)} above the background)`,
        );
      }
    }
    figures.http = http;
    if (writer) {
      const w = writer;
      const summary = await new Promise<WriterSummary>((resolve) => {
        w.once('message', (m) => resolve(m as WriterSummary));
        w.send('stop');
      });
      figures.written = summary;
      log(`writer: ${summary.written} samples in ${summary.batches} batches (${summary.late} started late)`);
    }

    // Plans of the statements behind them, as the api sends them.
    const plans: Record<string, string> = {};
    const explain = async (name: string, sql: string, values: unknown[]) => {
      const { rows } = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, values);
      plans[name] = rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    };
    const id = FIRST_ID + 17;
    for (const [name, q] of Object.entries(await statements(id, now()))) await explain(name, q.text, q.values);
    figures.plans = plans;
    for (const [name, plan] of Object.entries(plans)) console.log(`\n--- plan: ${name}\n${plan}`);

    const out = path.join(
      repoRoot,
      'bench',
      'results',
      `queries-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    );
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(figures, null, 2));
    log(`wrote ${path.relative(repoRoot, out)}`);
  }
}

/**
 * VACUUM (ANALYZE) this schema's tables and the aggregates' materialized hypertables, as
 * autovacuum does in time to data that has stopped changing: bulk-loaded rows are not yet
 * marked all-visible, and until they are an index-only scan still visits the heap. This
 * schema's only: a database-wide VACUUM would queue behind other sessions' locks.
 */
async function vacuumTables(pool: Pool): Promise<void> {
  const started = Date.now();
  const { rows } = await pool.query<{ t: string }>(`
    SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) AS t
      FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema()`);
  for (const t of ['follower_counts', 'influencer_latest', ...rows.map((r) => r.t)])
    await pool.query(`VACUUM (ANALYZE) ${t}`);
  log(
    `vacuumed follower_counts, influencer_latest and ${rows.length} aggregates in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}

/** A schema kept by an earlier run, by name. */
function reusedSchema(schema: string): { schema: string; url: string; drop: () => Promise<void> } {
  if (!/^[a-z0-9_]+$/.test(schema))
    throw new Error(`--reuse ${schema}: not a schema name (lower-case letters, digits, _)`);
  return { schema, url: withSearchPath(databaseUrl(), schema), drop: async () => undefined };
}

/** Busy and total jiffies of all CPUs (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * The statements behind the timed questions, exactly as the api's sql modules send them
 * (captured from the modules with a stand-in for the pool), for EXPLAIN ANALYZE.
 */
async function statements(id: number, now: number): Promise<Record<string, { text: string; values: unknown[] }>> {
  const capture = async (run: (db: Queryable) => Promise<unknown>): Promise<{ text: string; values: unknown[] }[]> => {
    const sent: { text: string; values: unknown[] }[] = [];
    const db = {
      query: async (q: string | { text: string; values?: unknown[] }) => {
        sent.push(typeof q === 'string' ? { text: q, values: [] } : { text: q.text, values: q.values ?? [] });
        return { rows: [{}] };
      },
    } as unknown as Queryable;
    await run(db).catch(() => undefined);
    return sent;
  };
  const out: Record<string, { text: string; values: unknown[] }> = {};
  const add = (name: string, list: { text: string; values: unknown[] }[]) =>
    list.forEach((q, i) => (out[list.length > 1 ? `${name} (${i + 1} of ${list.length})` : name] = q));
  add('latest + rank', await capture((db) => getInfluencer(db, id, 20)));
  add('stats', await capture((db) => getStats(db)));
  add('one day at 1 minute', await capture((db) => getSeries(db, id, '1m', new Date(now - DAY), new Date(now))));
  add('30 days at 1 hour', await capture((db) => getSeries(db, id, '1h', new Date(now - 30 * DAY), new Date(now))));
  add('leaderboard page', await capture((db) => listTopFollowers(db, 500_000, 50)));
  return out;
}
