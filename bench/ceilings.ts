/**
 * `yarn bench ceilings`: what the machine does without our code in the way.
 *
 * - api:   wrk (1 thread, keep-alive) pinned to core 1 against the mock API pinned to core 0,
 *          a random existing id per request.
 * - db:    rows/s of the result-handler's per-batch write (writeNewResults, imported: ONE statement
 *          that inserts into `follower_counts` and upserts `influencer_latest`) and of COPY FROM
 *          STDIN into `follower_counts` alone, one client, --batch-row pre-built batches: into the
 *          migrated tables (`follower_counts` a hypertable) and into plain copies of them on the
 *          devstack's database (native TimescaleDB, or PGlite behind the wire front), and into the
 *          plain tables on a throwaway native PostgreSQL cluster without TimescaleDB.
 * - kafka: the broker's ProducerPerformance (acks=all, idempotent, unthrottled) and ConsumerPerformance,
 *          --record-size-byte records, into / from a fresh 12-partition topic.
 */
import { createPool, type Pool, type PoolClient } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { createTopics, databaseUrl, freshSchema, hoursAgo } from '@mockstagram/testkit';
import { databasePid, engineOf } from './lib/sink';
import { copyRate, makeBatches, plainTablesDdl, TRUNCATE_SQL, writeRate, type Batch } from './lib/db';
import { consumerPerformance, kafkaClasspath, producerPerformance } from './lib/kafka';
import { startMockApi, WRK_INSTALL, wrk } from './lib/mock-api';
import { requireTool } from './lib/proc';
import { startNativePg } from './lib/native-pg';
import type { Report } from './lib/report';

export interface CeilingOptions {
  runs: number;
  only: Set<string>;
  wrkSeconds: number;
  wrkConnections: number;
  dbRows: number;
  batch: number;
  kafkaRecords: number;
  recordSize: number;
}

export async function ceilings(o: CeilingOptions, report: Report): Promise<void> {
  const want = (part: string) => o.only.size === 0 || o.only.has(part);
  if (want('api')) await apiCeiling(o, report).catch((err) => report.fail('api ceiling', err));
  if (want('db')) await dbCeilings(o, report).catch((err) => report.fail('db ceilings (devstack database)', err));
  if (want('native'))
    await nativeCeilings(o, report).catch((err) => report.fail('db ceilings (native PostgreSQL)', err));
  if (want('kafka')) await kafkaCeilings(o, report).catch((err) => report.fail('kafka ceilings', err));
}

async function apiCeiling(o: CeilingOptions, report: Report): Promise<void> {
  console.log('api: mock API on core 0, wrk on core 1');
  requireTool('wrk', WRK_INSTALL);
  const api = await startMockApi(0);
  report.command(`mock API: ${api.command}`);
  try {
    await wrk(api.url, { seconds: 2, connections: o.wrkConnections, core: 1, randomIds: true }); // warm-up (JIT)
    const runs: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const r = await wrk(api.url, { seconds: o.wrkSeconds, connections: o.wrkConnections, core: 1, randomIds: true });
      report.command(`wrk: ${r.command}`);
      runs.push(r.rps);
    }
    report.add({ key: 'api.wrk', label: 'mock API, wrk, keep-alive, 1 core', unit: 'req/s', runs });
  } finally {
    await api.stop();
  }
}

/** Runs `measure` once per run, each on an empty table (`reset`), with fresh rows for each run. */
async function perRun(
  o: CeilingOptions,
  reset: () => Promise<unknown>,
  measure: (batches: Batch[]) => Promise<number>,
): Promise<number[]> {
  // Warm-up: two batches, not reported.
  await reset();
  await measure(makeBatches(2 * o.batch, o.batch, hoursAgo(2)));
  const runs: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    await reset();
    // Recent samples: a real server's retention policy would drop old ones in the background.
    const batches = makeBatches(o.dbRows, o.batch, hoursAgo(6 * (i + 1)));
    runs.push(await measure(batches));
  }
  await reset();
  return runs;
}

async function withClient<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    return await fn(c);
  } finally {
    c.release();
  }
}

async function dbCeilings(o: CeilingOptions, report: Report): Promise<void> {
  const pid = databasePid();
  const engine = pid ? engineOf(pid) : 'external';
  console.log(
    `db: ${engine} TimescaleDB ${databaseUrl().replace(/:[^:@/]*@/, ':***@')}, ${o.dbRows} rows per run in ${o.batch}-row batches`,
  );
  const hyper = await freshSchema('bench_ceil_hyper');
  const plain = await freshSchema('bench_ceil_plain');
  const hyperPool = createPool({ connectionString: hyper.url, max: 2 }); // one measuring client + one for TRUNCATE
  const plainPool = createPool({ connectionString: plain.url, max: 2 }); // one measuring client + one for TRUNCATE
  try {
    await migrate({ pool: hyperPool });
    await plainPool.query(plainTablesDdl());
    const v = await hyperPool.query<{ version: string; ts: string | null }>(
      `SELECT version() AS version, (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ts`,
    );
    report.versions.postgres = v.rows[0].version;
    report.versions.timescaledb = v.rows[0].ts ?? undefined;
    report.command(
      `database (${engine} TimescaleDB): ${databaseUrl()} with a fresh schema per target: the migrations (hypertable) / migrations/003 without create_hypertable + 004 (plain)`,
    );
    report.command(
      'insert: writeNewResults() from apps/result-handler/src/sql/writeResults.ts (follower_counts insert + influencer_latest upsert, one statement; what storeResults runs per batch when no sample is stored yet), one per batch, parameters pre-built (resultParameters), autocommit; rows = N/2 influencers × 2 samples (the second half updates influencer_latest)',
    );
    report.command(
      'copy: COPY follower_counts (influencer_id, observed_at, follower_count, following_count, job_id) FROM STDIN (text), one per batch, pg-copy-streams',
    );

    const truncate = (pool: Pool) => () => pool.query(TRUNCATE_SQL);
    await withClient(hyperPool, async (c) => {
      const runs = await perRun(o, truncate(hyperPool), (b) => writeRate(c, b));
      report.add({
        key: 'db.insert.devstack.hypertable',
        label: `result-handler write statement (follower_counts + influencer_latest) → hypertable, ${engine} TimescaleDB`,
        unit: 'rows/s',
        runs,
      });
    });
    await withClient(hyperPool, async (c) => {
      const runs = await perRun(o, truncate(hyperPool), (b) => copyRate(c, 'follower_counts', b));
      report.add({
        key: 'db.copy.devstack.hypertable',
        label: `COPY FROM STDIN → hypertable, ${engine} TimescaleDB`,
        unit: 'rows/s',
        runs,
      });
    });
    await withClient(plainPool, async (c) => {
      const runs = await perRun(o, truncate(plainPool), (b) => writeRate(c, b));
      report.add({
        key: 'db.insert.devstack.plain',
        label: `result-handler write statement → plain tables, ${engine} TimescaleDB`,
        unit: 'rows/s',
        runs,
      });
    });
  } finally {
    await hyperPool.end();
    await plainPool.end();
    await hyper.drop();
    await plain.drop();
  }
}

async function nativeCeilings(o: CeilingOptions, report: Report): Promise<void> {
  console.log('db: native PostgreSQL, throwaway cluster');
  const pg = await startNativePg();
  report.versions.nativePostgres = pg.version;
  for (const c of pg.commands) report.command(`native PostgreSQL: ${c}`);
  const pool = createPool({ connectionString: pg.url, max: 2 }); // one measuring client + one for TRUNCATE
  try {
    await pool.query(plainTablesDdl());
    const truncate = () => pool.query(TRUNCATE_SQL);
    await withClient(pool, async (c) => {
      const runs = await perRun(o, truncate, (b) => writeRate(c, b));
      report.add({
        key: 'db.insert.native.plain',
        label: 'result-handler write statement → plain tables, native PostgreSQL',
        unit: 'rows/s',
        runs,
      });
    });
    await withClient(pool, async (c) => {
      const runs = await perRun(o, truncate, (b) => copyRate(c, 'follower_counts', b));
      report.add({
        key: 'db.copy.native.plain',
        label: 'COPY FROM STDIN → plain table, native PostgreSQL',
        unit: 'rows/s',
        runs,
      });
    });
  } finally {
    await pool.end();
    await pg.stop();
  }
}

async function kafkaCeilings(o: CeilingOptions, report: Report): Promise<void> {
  const { classpath, version } = await kafkaClasspath();
  report.versions.kafka = version;
  console.log(
    `kafka ${version}: ProducerPerformance / ConsumerPerformance, ${o.kafkaRecords} records of ${o.recordSize} bytes, 12 partitions`,
  );
  const produce: number[] = [];
  const consume: number[] = [];
  const produceP99: number[] = [];
  const consumeTotal: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const topics = await createTopics(['bench-perf'], 12);
    try {
      const p = await producerPerformance(classpath, topics.names[0], o.kafkaRecords, o.recordSize);
      report.command(p.command.replace(topics.names[0], '<fresh 12-partition topic>'));
      produce.push(p.recordsPerSec);
      produceP99.push(p.p99LatencyMs);
      const c = await consumerPerformance(classpath, topics.names[0], o.kafkaRecords);
      report.command(
        c.command.replace(topics.names[0], '<the same topic>').replace(/bench-cperf-\w+/, '<fresh group>'),
      );
      consume.push(c.fetchMsgPerSec);
      consumeTotal.push(c.msgPerSec);
    } finally {
      await topics.remove();
    }
  }
  report.add({
    key: 'kafka.produce',
    label: `ProducerPerformance, ${o.recordSize} B, acks=all`,
    unit: 'msg/s',
    runs: produce,
    extra: { p99LatencyMs: produceP99 },
  });
  report.add({
    key: 'kafka.consume',
    label: `ConsumerPerformance, ${o.recordSize} B (fetch time)`,
    unit: 'msg/s',
    runs: consume,
    extra: { withRebalanceMsgPerSec: consumeTotal },
  });
}
