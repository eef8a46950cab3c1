/**
 * Kafka → `follower_counts` sinks measured the same way: a fresh schema (all migrations, so the
 * same hypertable with its unique key and continuous-aggregate triggers), a fresh consumer group
 * reading a pre-filled results topic from the start.
 *
 * - drain: from starting the sink to the moment the group's committed offsets cover the topic's
 *   end and `count(*)` equals the message count (polled every 250 ms through the Kafka admin API,
 *   the table is counted only once the offsets are covered, so polling does not load the database).
 * - live (optional): then `liveRate` results/s for `liveSeconds` with `observedAt` = the moment
 *   they are produced; lag = inserted_at − observed_at of those rows (inserted_at defaults to now(),
 *   the start of the inserting transaction, so the lag is slightly understated for every sink alike).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createPool,
  createProducer,
  encodeFetchResult,
  loadConfig,
  produceMany,
  Registry,
  type Message,
  type Pool,
} from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import type { Admin } from 'kafkajs';
import {
  ResultHandler,
  resultHandlerEnv,
  resultHandlerSettings,
  type ResultHandlerConfig,
} from '@mockstagram/result-handler';
import { databaseUrl, freshSchema, kafkaBrokers, testKafka, uniqueName, type TestSchema } from '@mockstagram/testkit';
import { benchKafka, benchLogger, committedCovers, topicEnd } from './kafka';
import { sleep, stopChild } from './proc';
import { treeCpuSeconds } from './procstats';

export interface SinkRunResult {
  /** Rows drained (the topic's messages when the run started). */
  rows: number;
  /** messages / (sink started → offsets committed and rows counted). */
  rowsPerSec: number;
  seconds: number;
  /** messages / (first → last inserting transaction, from inserted_at): excludes start-up and group join. */
  insertRowsPerSec: number;
  lag?: { p50Ms: number; p99Ms: number; maxMs: number; rows: number };
  /** CPU seconds of the sink process during the drain (ours: this process, incl. the polling). */
  cpuSeconds?: number;
  /** CPU seconds of the database process (the devstack's pg-server) during the drain. */
  dbCpuSeconds?: number;
  peakRssMb?: number;
}

export interface Sink {
  name: string;
  /** Human description of the configuration, for the record. */
  describe(): string;
  /** Adjusts the migrated schema before the run, if the sink cannot write the table as it is. */
  prepare?(pool: Pool): Promise<void>;
  start(ctx: { schema: TestSchema; groupId: string; topic: string; dlqTopic: string }): Promise<void>;
  stop(): Promise<void>;
  /** CPU seconds and RSS so far (for the process doing the work). */
  usage(): { cpuSeconds: number; rssMb: number };
}

export interface SinkRunOptions {
  topic: string;
  dlqTopic: string;
  messages: number;
  liveSeconds: number;
  liveRate: number;
  timeoutMs?: number;
}

export async function runSink(sink: Sink, o: SinkRunOptions): Promise<SinkRunResult> {
  const admin = testKafka('bench-sink').admin();
  await admin.connect();
  const schema = await freshSchema('bench_sink');
  const pool = createPool({ connectionString: schema.url, max: 1 });
  const groupId = uniqueName('bench-sink');
  let started = false;
  try {
    await migrate({ pool });
    await sink.prepare?.(pool);
    const ends = await topicEnd(admin, o.topic);
    // The pre-filled messages plus those of earlier runs' live phases: all of them are drained.
    const total = [...ends.values()].reduce((a, b) => a + b, 0);
    if (total < o.messages)
      throw new Error(`topic ${o.topic} holds ${total} messages, expected at least ${o.messages}`);

    const u0 = sink.usage();
    const dbPid = databasePid();
    const db0 = dbPid ? treeCpuSeconds(dbPid) : undefined;
    await sink.start({ schema, groupId, topic: o.topic, dlqTopic: o.dlqTopic });
    started = true;
    let peakRss = u0.rssMb;
    const seconds = await waitStored(admin, pool, groupId, o.topic, ends, total, o.timeoutMs ?? 20 * 60_000, () => {
      peakRss = Math.max(peakRss, sink.usage().rssMb);
    });
    const cpuSeconds = sink.usage().cpuSeconds - u0.cpuSeconds;
    const db1 = dbPid ? treeCpuSeconds(dbPid) : undefined;
    const span = await pool.query<{ s: number }>(
      `SELECT extract(epoch FROM max(inserted_at) - min(inserted_at))::float8 AS s FROM follower_counts`,
    );
    const result: SinkRunResult = {
      rows: total,
      rowsPerSec: total / seconds,
      seconds: seconds,
      insertRowsPerSec: span.rows[0].s > 0 ? total / span.rows[0].s : NaN,
      cpuSeconds,
      dbCpuSeconds: db0 !== undefined && db1 !== undefined ? db1 - db0 : undefined,
      peakRssMb: peakRss,
    };
    if (o.liveSeconds > 0 && o.liveRate > 0) result.lag = await livePhase(admin, pool, groupId, o, total);
    return result;
  } finally {
    if (started) await sink.stop().catch((err: unknown) => console.log(`  (stopping ${sink.name}: ${String(err)})`));
    await pool.end();
    await schema.drop().catch((err: unknown) => console.log(`  (dropping ${schema.schema}: ${String(err)})`));
    await admin.disconnect();
  }
}

async function waitStored(
  admin: Admin,
  pool: Pool,
  groupId: string,
  topic: string,
  ends: Map<number, number>,
  rows: number,
  timeoutMs: number,
  onPoll: () => void,
): Promise<number> {
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    onPoll();
    if (await committedCovers(admin, groupId, topic, ends)) {
      const { rows: r } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM follower_counts');
      if (r[0].n >= rows) {
        if (r[0].n > rows) throw new Error(`${r[0].n} rows stored for ${rows} messages`);
        return (performance.now() - t0) / 1000;
      }
    }
    if (Date.now() > deadline) {
      const { rows: r } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM follower_counts');
      throw new Error(`after ${timeoutMs / 1000} s: ${r[0].n} of ${rows} rows stored`);
    }
    await sleep(250);
  }
}

async function livePhase(
  admin: Admin,
  pool: Pool,
  groupId: string,
  o: SinkRunOptions,
  stored: number,
): Promise<SinkRunResult['lag']> {
  const kafka = benchKafka('bench-live');
  const producer = createProducer(kafka);
  await producer.connect();
  const liveStart = new Date();
  let sent = 0;
  try {
    const tickMs = 100;
    const perTick = Math.max(1, Math.round((o.liveRate * tickMs) / 1000));
    const t0 = performance.now();
    for (let tick = 0; performance.now() - t0 < o.liveSeconds * 1000; tick++) {
      const messages: Message[] = [];
      const now = new Date().toISOString();
      for (let j = 0; j < perTick; j++, sent++) {
        const influencerId = 1_000_000 + ((stored + sent) % 1_000_000);
        messages.push({
          key: String(influencerId),
          value: encodeFetchResult({
            jobId: randomUUID(),
            influencerId,
            username: `user_${influencerId}`,
            followerCount: 20_000 + sent,
            followingCount: 200,
            observedAt: now, // (id, observed_at) stays unique: ids repeat only after 1,000,000 messages
          }),
        });
      }
      await produceMany(producer, { topic: o.topic, messages });
      const wait = t0 + (tick + 1) * tickMs - performance.now();
      if (wait > 0) await sleep(wait);
    }
  } finally {
    await producer.disconnect();
  }
  const ends = await topicEnd(admin, o.topic);
  await waitStored(admin, pool, groupId, o.topic, ends, stored + sent, 5 * 60_000, () => undefined);
  const { rows } = await pool.query<{ p50: number; p99: number; max: number; n: number }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
            max(ms) AS max, count(*)::int AS n
       FROM (SELECT extract(epoch FROM inserted_at - observed_at)::float8 * 1000 AS ms FROM follower_counts WHERE observed_at >= $1) s`,
    [liveStart.toISOString()],
  );
  const r = rows[0];
  return { p50Ms: r.p50, p99Ms: r.p99, maxMs: r.max, rows: r.n };
}

// ---------------------------------------------------------------------------------------------
// Ours: ResultHandler in this process, with the service's settings read from the environment as
// the service reads them (so `RESULT_HANDLER_BATCH_SIZE=5000 yarn bench parts --only sink` compares
// settings; unset, the service defaults).

export class OurSink implements Sink {
  readonly name = 'ours';
  private handler: ResultHandler | undefined;
  private pool: Pool | undefined;
  private readonly config: ResultHandlerConfig = loadConfig(resultHandlerEnv, process.env);

  describe(): string {
    const c = this.config;
    return `ResultHandler in-process (apps/result-handler/src/result-handler.ts), the service's settings from the environment: RESULT_HANDLER_BATCH_SIZE=${c.RESULT_HANDLER_BATCH_SIZE} RESULT_HANDLER_FLUSH_MS=${c.RESULT_HANDLER_FLUSH_MS} DATABASE_POOL_SIZE=${c.DATABASE_POOL_SIZE}, partitionsConsumedConcurrently = partitions; insert into follower_counts + upsert influencer_latest per batch`;
  }

  async start(ctx: { schema: TestSchema; groupId: string; topic: string; dlqTopic: string }): Promise<void> {
    this.pool = createPool({
      connectionString: ctx.schema.url,
      max: this.config.DATABASE_POOL_SIZE,
      logger: benchLogger,
    });
    this.handler = new ResultHandler({
      kafka: benchKafka(uniqueName('bench-rh')),
      pool: this.pool,
      logger: benchLogger,
      registry: new Registry(),
      resultsTopic: ctx.topic,
      dlqTopic: ctx.dlqTopic,
      ...resultHandlerSettings(this.config),
      groupId: ctx.groupId,
    });
    await this.handler.start();
  }

  async stop(): Promise<void> {
    await this.handler?.stop();
    await this.pool?.end();
  }

  usage(): { cpuSeconds: number; rssMb: number } {
    const u = process.cpuUsage();
    return { cpuSeconds: (u.user + u.system) / 1e6, rssMb: process.memoryUsage().rss / 2 ** 20 };
  }
}

// ---------------------------------------------------------------------------------------------
// Telegraf: kafka_consumer (json_v2) → postgresql output, built once with `go install`.

export const TELEGRAF_VERSION = 'v1.37.2';
const TELEGRAF_TAGS = 'custom,inputs.kafka_consumer,outputs.postgresql,parsers.json_v2';
export const benchCacheDir = () =>
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'mockstagram-bench');

export function telegrafInstallCommand(): string {
  return `GOBIN=${path.join(benchCacheDir(), 'bin')} go install -tags "${TELEGRAF_TAGS}" github.com/influxdata/telegraf/cmd/telegraf@${TELEGRAF_VERSION}`;
}

/** Builds Telegraf (only the plugins used, via Telegraf's custom-build tags) into the cache unless there. */
export async function ensureTelegraf(): Promise<string> {
  const bin = path.join(benchCacheDir(), 'bin', 'telegraf');
  const stamp = `${bin}.version`;
  if (
    fs.existsSync(bin) &&
    fs.existsSync(stamp) &&
    fs.readFileSync(stamp, 'utf8').trim() === `${TELEGRAF_VERSION} ${TELEGRAF_TAGS}`
  )
    return bin;
  console.log(
    `building Telegraf ${TELEGRAF_VERSION} (first time only, ~1-5 min, ~500 MB of Go modules): ${telegrafInstallCommand()}`,
  );
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  const child = spawn(
    'go',
    ['install', '-tags', TELEGRAF_TAGS, `github.com/influxdata/telegraf/cmd/telegraf@${TELEGRAF_VERSION}`],
    {
      env: { ...process.env, GOBIN: path.dirname(bin) },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (err) =>
      reject(new Error(`go is not installed or not on PATH (${err.message}); Telegraf is built with go install`)),
    );
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`go install of Telegraf failed (${code})`);
  fs.writeFileSync(stamp, `${TELEGRAF_VERSION} ${TELEGRAF_TAGS}\n`);
  return bin;
}

export class TelegrafSink implements Sink {
  readonly name = 'telegraf';
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  private lastCpu = 0;

  constructor(private readonly bin: string) {}

  describe(): string {
    return `Telegraf ${TELEGRAF_VERSION} (${telegrafInstallCommand()}): inputs.kafka_consumer (json_v2 parser, max_undelivered_messages 20000) → outputs.postgresql (pgx CopyFrom, pool_max_conns 4, timestamp_column_name observed_at; job_id altered to text, see prepare()), agent metric_batch_size 10000, metric_buffer_limit 100000, flush_interval 1s; config: see bench/lib/sink.ts telegrafConfig()`;
  }

  /**
   * Telegraf's postgresql output writes with binary COPY (pgx CopyFrom) and sends a string field
   * into a uuid column as text bytes: the server answers 22P03 "incorrect binary data format" and
   * Telegraf drops the batch. So for Telegraf job_id is a text column (36 bytes instead of 16);
   * TimescaleDB changes a column's type only with compression off (it does not touch the insert
   * path into the uncompressed chunk the run writes).
   */
  async prepare(pool: Pool): Promise<void> {
    await pool.query(`SELECT remove_compression_policy('follower_counts', if_exists => true)`);
    await pool.query('ALTER TABLE follower_counts SET (timescaledb.compress = false)');
    await pool.query('ALTER TABLE follower_counts ALTER COLUMN job_id TYPE text');
  }

  async start(ctx: { schema: TestSchema; groupId: string; topic: string }): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-telegraf-'));
    const conf = path.join(this.dir, 'telegraf.conf');
    fs.writeFileSync(conf, telegrafConfig({ schema: ctx.schema.schema, groupId: ctx.groupId, topic: ctx.topic }));
    const log = fs.openSync(path.join(this.dir, 'telegraf.log'), 'w');
    this.child = spawn(this.bin, ['--config', conf], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.lastCpu = 0;
    await sleep(500);
    if (this.child.exitCode !== null)
      throw new Error(`telegraf exited at once (${this.child.exitCode}):\n${this.logTail()}`);
  }

  logTail(): string {
    try {
      return fs.readFileSync(path.join(this.dir!, 'telegraf.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child, 10_000);
    const errors = this.logTail()
      .split('\n')
      .filter((l) => / E! /.test(l));
    if (errors.length) console.log(`  telegraf errors:\n${errors.slice(-5).join('\n')}`);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.child = undefined;
    this.lastCpu = 0;
  }

  usage(): { cpuSeconds: number; rssMb: number } {
    const pid = this.child?.pid;
    if (!pid || this.child?.exitCode !== null) return { cpuSeconds: this.lastCpu, rssMb: 0 };
    const u = procUsage(pid);
    if (u) this.lastCpu = u.cpuSeconds;
    return u ?? { cpuSeconds: this.lastCpu, rssMb: 0 };
  }
}

/** CPU seconds (user + system) and RSS of a Linux process, from /proc; undefined if unreadable. */
export function procUsage(pid: number): { cpuSeconds: number; rssMb: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = 100; // USER_HZ on Linux
    return { cpuSeconds: (Number(f[11]) + Number(f[12])) / tick, rssMb: (Number(f[21]) * 4096) / 2 ** 20 };
  } catch {
    return undefined;
  }
}

/**
 * Pid of the local process listening on the database's port, if any: the postmaster of a native
 * server (count its CPU with treeCpuSeconds, which includes its backends), or PGlite's pg-server.
 */
export function databasePid(): number | undefined {
  const u = new URL(databaseUrl());
  if (!['127.0.0.1', 'localhost'].includes(u.hostname)) return undefined;
  const r = spawnSync('ss', ['-ltnpH', `sport = :${u.port || 5432}`], { encoding: 'utf8' });
  const pid = /pid=(\d+)/.exec(r.stdout ?? '')?.[1];
  return pid ? Number(pid) : undefined;
}

/** Which engine the process listening on the database port is: PGlite's pg-server, or a PostgreSQL server. */
export function engineOf(pid: number): 'PGlite' | 'native PostgreSQL' {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('pg-server') ? 'PGlite' : 'native PostgreSQL';
  } catch {
    return 'native PostgreSQL';
  }
}

/** Telegraf's configuration for the benchmark: the same topic into the same table layout. */
export function telegrafConfig(o: { schema: string; groupId: string; topic: string }): string {
  const url = new URL(databaseUrl());
  url.search = '';
  return `# Written by bench/lib/sink.ts for one benchmark run.
[agent]
  interval = "10s"
  round_interval = false
  ## Throughput: larger batches, and a buffer that holds several of them.
  metric_batch_size = 10000
  metric_buffer_limit = 100000
  ## Same worst-case added delay as the result-handler's RESULT_HANDLER_FLUSH_MS default.
  flush_interval = "1s"
  flush_jitter = "0s"
  omit_hostname = true
  quiet = true

[[inputs.kafka_consumer]]
  brokers = ${JSON.stringify(kafkaBrokers())}
  topics = [${JSON.stringify(o.topic)}]
  consumer_group = ${JSON.stringify(o.groupId)}
  offset = "oldest"
  ## The protocol level its client (sarama) speaks: its default, 0.10.2.0, uses request versions
  ## Kafka 4 removed (KIP-896), and every fetch then ends in EOF.
  kafka_version = "4.0.0"
  ## The docs: set it to a multiple of the output's metric_batch_size for throughput (default 1000).
  max_undelivered_messages = 20000
  max_message_len = 1000000
  data_format = "json_v2"
  [[inputs.kafka_consumer.json_v2]]
    measurement_name = "follower_counts"
    timestamp_path = "observedAt"
    timestamp_format = "2006-01-02T15:04:05Z07:00"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "influencerId"
      rename = "influencer_id"
      type = "int"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "followerCount"
      rename = "follower_count"
      type = "int"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "followingCount"
      rename = "following_count"
      type = "int"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "jobId"
      rename = "job_id"
      type = "string"

[[outputs.postgresql]]
  connection = ${JSON.stringify(`${url.toString()}${url.toString().includes('?') ? '&' : '?'}pool_max_conns=4`)}
  schema = ${JSON.stringify(o.schema)}
  timestamp_column_name = "observed_at"
  timestamp_column_type = "timestamp with time zone"
  ## The table exists (the migrations made it): never create or alter it.
  create_templates = []
  add_column_templates = []
`;
}
