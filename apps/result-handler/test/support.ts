/**
 * Helpers for the result-handler's tests: a fresh schema with the migrations applied, unique
 * topics, producing results, reading the DLQ, polling with deadlines, an in-process handler.
 */
import {
  createKafka,
  createLogger,
  createPool,
  createProducer,
  encodeFetchResult,
  produceMany,
  Registry,
  type FetchResult,
  type Pool,
} from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import type { IHeaders, Message } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createTopics,
  freshSchema,
  hoursAgo,
  kafkaBrokers,
  testKafka,
  testKafkaClient,
  uniqueName,
  type TestSchema,
} from '@mockstagram/testkit';
import { ResultHandler, type ResultHandlerOptions } from '../src/result-handler';
import { RESULT_HANDLER_DEFAULTS } from '../src/config';

export { uniqueName };

export interface Env {
  db: TestSchema;
  resultsTopic: string;
  dlqTopic: string;
  close: () => Promise<void>;
}

/** Fresh schema (migrated) and fresh results + DLQ topics for one test file. */
export async function setupEnv(prefix: string, partitions = 12): Promise<Env> {
  const db = await freshSchema(prefix);
  const pool = createPool({ connectionString: db.url, max: 1 });
  try {
    await migrate({ pool });
  } finally {
    await pool.end();
  }
  const topics = await createTopics([`${prefix}-results`, `${prefix}-dlq`], partitions);
  const [resultsTopic, dlqTopic] = topics.names as [string, string];
  return {
    db,
    resultsTopic,
    dlqTopic,
    close: async () => {
      await topics.remove().catch(() => undefined);
      await db.drop();
    },
  };
}

/** Where results' observedAt start: 12 hours ago, inside the retention and compression windows. */
export const SAMPLES_FROM = hoursAgo(12);

/** A valid result; `i` makes it distinct and deterministic. */
export function result(i: number, overrides: Partial<FetchResult> = {}): FetchResult {
  return {
    jobId: randomUUID(),
    influencerId: 1_000_000 + (i % 100),
    username: `user_${1_000_000 + (i % 100)}`,
    followerCount: 10_000 + i * 7,
    followingCount: 100 + (i % 50),
    observedAt: new Date(SAMPLES_FROM + i * 1000).toISOString(),
    ...overrides,
  };
}

export function resultMessage(r: FetchResult, headers?: IHeaders): Message {
  return { key: String(r.influencerId), value: encodeFetchResult(r), headers };
}

/** Produces messages (acks=all), in slices the broker accepts. */
export async function produce(topic: string, messages: Message[]): Promise<void> {
  const producer = createProducer(testKafkaClient());
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 2000) {
      await produceMany(producer, { topic, messages: messages.slice(i, i + 2000) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query(sql, params);
  return Number(rows[0].n);
}

/**
 * Every result stored exactly once: as many rows as results, one per (influencer, observed_at),
 * and the followers add up to the results' own values.
 */
export async function expectStoredExactlyOnce(pool: Pool, results: FetchResult[]): Promise<void> {
  const { rows } = await pool.query(
    'SELECT count(*) AS n, count(DISTINCT (influencer_id, observed_at)) AS d, sum(follower_count) AS s FROM follower_counts',
  );
  expect(Number(rows[0].n)).toBe(results.length);
  expect(Number(rows[0].d)).toBe(results.length);
  expect(Number(rows[0].s)).toBe(results.reduce((sum, r) => sum + r.followerCount, 0));
}

/** Current value of a counter/gauge (sum over labels, or the one with `labels`). */
export async function metricValue(
  metric: { get(): Promise<{ values: Array<{ value: number; labels: Partial<Record<string, string | number>> }> }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

export interface ConsumedMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders;
}

/** Reads `topic` from the beginning until `n` messages arrived (or the deadline), with a throwaway group. */
export async function readTopic(topic: string, n: number, timeoutMs = 30_000): Promise<ConsumedMessage[]> {
  const consumer = testKafka().consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 200 });
  const seen: ConsumedMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: message.headers ?? {},
        });
      },
    });
    await waitFor(`${n} messages on ${topic} (have ${seen.length})`, () => seen.length >= n, timeoutMs);
    return seen;
  } finally {
    await consumer.disconnect();
  }
}

/** Committed offsets of `groupId` on `topic`, summed over partitions (-1 / unset counts 0). */
export async function committedTotal(groupId: string, topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (entry?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface RunningHandler {
  handler: ResultHandler;
  pool: Pool;
  registry: Registry;
  stop: () => Promise<void>;
}

/** Starts a ResultHandler in this process against `env` (quiet logs unless TEST_LOG_LEVEL is set). */
export async function startHandler(
  env: Env,
  options: Partial<ResultHandlerOptions> & { databaseUrl?: string } = {},
): Promise<RunningHandler> {
  const logger = createLogger('result-handler', (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent');
  const pool = createPool({
    connectionString: options.databaseUrl ?? env.db.url,
    max: 4,
    logger,
    connectionTimeoutMs: 3000,
  });
  const registry = new Registry();
  const handler = new ResultHandler({
    kafka: createKafka({ brokers: kafkaBrokers(), clientId: uniqueName('rh'), logger }),
    pool,
    logger,
    registry,
    resultsTopic: env.resultsTopic,
    dlqTopic: env.dlqTopic,
    ...RESULT_HANDLER_DEFAULTS,
    groupId: uniqueName('rh-group'),
    flushMs: 200,
    ...options,
  });
  await handler.start();
  let stopped: Promise<void> | undefined;
  return {
    handler,
    pool,
    registry,
    stop: () => (stopped ??= handler.stop().finally(() => pool.end())),
  };
}

/**
 * A TCP proxy in front of the database, to cut it off: `stop()` closes the listener and destroys
 * every open connection (clients see resets / refused connects), `start()` listens again on the
 * same port.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    if (this.server) return this.port;
    const server = net.createServer((client) => {
      client.setNoDelay(true);
      const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
      upstream.setNoDelay(true);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** `url` with host and port replaced by the proxy's. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}

/** `[host, port]` of a postgres:// URL. */
export function hostPort(url: string): [string, number] {
  const u = new URL(url);
  return [u.hostname || '127.0.0.1', Number(u.port || 5432)];
}

/** The repository root (where `node_modules/.bin/tsx` is). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/**
 * Runs a TypeScript file as its own process. `mode: 'tsx'` runs it like `npx tsx file` does
 * (the tsx CLI, which relays SIGTERM to the program and exits with its code; npx itself does not
 * relay signals); `mode: 'node'` runs `node --import tsx file` (one process, so SIGKILL hits it).
 */
export function spawnTs(file: string, env: Record<string, string>, mode: 'tsx' | 'node' = 'tsx'): Child {
  const [command, args] =
    mode === 'tsx'
      ? [path.join(ROOT, 'node_modules', '.bin', 'tsx'), [file]]
      : [process.execPath, ['--import', 'tsx', file]];
  const proc = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { proc, stdout: () => out, stderr: () => err, exited };
}
