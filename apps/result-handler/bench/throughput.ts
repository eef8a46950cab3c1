/**
 * Result-handler throughput: rows/s from a pre-filled results topic into the hypertable.
 *
 *   yarn workspace @mockstagram/result-handler bench                      # defaults below
 *   yarn workspace @mockstagram/result-handler bench --messages 200000 --batch-sizes 2500,5000,10000 \
 *        --concurrency 12 --max-bytes-per-partition 1048576
 *
 * Against the engines named by KAFKA_BROKERS / DATABASE_URL (default: the devstack's). The topic
 * (12 partitions) is filled once with `--messages` valid results (`--influencers` distinct ids,
 * several samples each, a few hours of observed_at), then each configuration runs in its own
 * fresh schema (migrated) with its own consumer group, from the first offset to the last row
 * stored. Topic and schemas are removed at the end.
 *
 * Prints, per configuration: rows/s (first message consumed → last offset committed), flushes,
 * mean rows per flush and mean flush time, and the handler process's CPU time.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  createKafka,
  createLogger,
  createPool,
  createProducer,
  encodeFetchResult,
  produceMany,
  Registry,
} from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import type { Message } from 'kafkajs';
import { createTopics, freshSchema, kafkaBrokers, uniqueName } from '../../../test/support/engines';
import { ResultHandler } from '../src/result-handler';
import { RESULT_HANDLER_DEFAULTS } from '../src/config';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    influencers: { type: 'string', default: '50000' },
    partitions: { type: 'string', default: '12' },
    'batch-sizes': { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '' },
    'max-bytes-per-partition': { type: 'string', default: String(1024 * 1024) },
    'max-bytes': { type: 'string', default: String(10 * 1024 * 1024) },
    'flush-ms': { type: 'string', default: '1000' },
    'max-pending': { type: 'string', default: '' },
    /** Runs the first configuration once more first, unreported (cold broker and database caches). */
    warmup: { type: 'boolean', default: true },
  },
});

const messages = Number(args.messages);
const influencers = Number(args.influencers);
const partitions = Number(args.partitions);
const batchSizes = args['batch-sizes'].split(',').map(Number);
const concurrencies = args.concurrency ? args.concurrency.split(',').map(Number) : [partitions];
const maxBytesPerPartitionList = args['max-bytes-per-partition'].split(',').map(Number);
const maxBytesList = args['max-bytes'].split(',').map(Number);
let maxBytes = maxBytesList[0];
const flushMs = Number(args['flush-ms']);
const maxPendingList = args['max-pending'] ? args['max-pending'].split(',').map(Number) : [undefined];

const logger = createLogger('result-handler-bench', (process.env.LOG_LEVEL as 'info' | undefined) ?? 'warn');

async function prefill(topic: string): Promise<number> {
  const kafka = createKafka({ brokers: kafkaBrokers(), clientId: 'rh-bench-prefill', logger });
  const producer = createProducer(kafka);
  await producer.connect();
  const t0 = performance.now();
  const start = Date.now() - 6 * 3600_000;
  try {
    const chunk = 12_000;
    for (let i = 0; i < messages; i += chunk) {
      const batch: Message[] = [];
      for (let j = i; j < Math.min(messages, i + chunk); j++) {
        const influencerId = 1_000_000 + (j % influencers);
        const sample = Math.floor(j / influencers);
        batch.push({
          key: String(influencerId),
          value: encodeFetchResult({
            jobId: randomUUID(),
            influencerId,
            username: `user_${influencerId}`,
            followerCount: 10_000 + ((j * 7919) % 1_000_000),
            followingCount: 100 + (j % 500),
            observedAt: new Date(start + sample * 60_000 + (j % 1000)).toISOString(),
          }),
        });
      }
      await produceMany(producer, { topic, messages: batch });
    }
  } finally {
    await producer.disconnect();
  }
  return (performance.now() - t0) / 1000;
}

interface RunResult {
  batchSize: number;
  concurrency: number;
  maxBytesPerPartition: number;
  maxPending: number | undefined;
  seconds: number;
  rowsPerSecond: number;
  flushes: number;
  meanBatch: number;
  meanFlushMs: number;
  cpuSeconds: number;
}

async function run(
  topic: string,
  dlqTopic: string,
  batchSize: number,
  concurrency: number,
  maxBytesPerPartition: number,
  maxPending: number | undefined,
): Promise<RunResult> {
  const db = await freshSchema('rh_bench');
  const pool = createPool({ connectionString: db.url, max: 4, logger });
  try {
    await migrate({ pool });
    const registry = new Registry();
    const handler = new ResultHandler({
      kafka: createKafka({ brokers: kafkaBrokers(), clientId: uniqueName('rh-bench'), logger }),
      pool,
      logger,
      registry,
      resultsTopic: topic,
      dlqTopic,
      ...RESULT_HANDLER_DEFAULTS,
      groupId: uniqueName('rh-bench'),
      batchSize,
      flushMs,
      maxBytesPerPartition,
      maxBytes,
      maxPendingMessages: maxPending,
    });
    const cpu0 = process.cpuUsage();
    await handler.start();
    let first: number | undefined;
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const consumed = (await handler.metrics.messagesConsumed.get()).values[0]?.value ?? 0;
      if (consumed > 0 && first === undefined) first = performance.now();
      const written = (await handler.metrics.rowsWritten.get()).values[0]?.value ?? 0;
      if (written >= messages) break;
      if (Date.now() > deadline) throw new Error(`only ${written} of ${messages} rows after 15 minutes`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - (first ?? 0)) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const flushHist = (await handler.metrics.flushDuration.get()).values;
    const batchHist = (await handler.metrics.batchSize.get()).values;
    const flushes = flushHist.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const flushSum = flushHist.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const batchSum = batchHist.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    await handler.stop();
    const { rows } = await pool.query('SELECT count(*) AS n FROM follower_counts');
    if (Number(rows[0].n) !== messages) throw new Error(`expected ${messages} rows, found ${rows[0].n}`);
    return {
      batchSize,
      concurrency,
      maxBytesPerPartition,
      maxPending,
      seconds,
      rowsPerSecond: messages / seconds,
      flushes,
      meanBatch: flushes ? batchSum / flushes : 0,
      meanFlushMs: flushes ? (flushSum / flushes) * 1000 : 0,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  } finally {
    await pool.end();
    await db.drop();
  }
}

async function main(): Promise<void> {
  const command = `yarn workspace @mockstagram/result-handler bench ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`command: ${command}`);
  console.log(
    `kafka ${kafkaBrokers().join(',')}, database ${(process.env.DATABASE_URL ?? 'devstack default').replace(/:[^:@/]*@/, ':***@')}`,
  );
  const topics = await createTopics(['rh-bench-results', 'rh-bench-dlq'], partitions);
  const [topic, dlqTopic] = topics.names as [string, string];
  try {
    const prefillSeconds = await prefill(topic);
    console.log(
      `prefilled ${messages} results (${influencers} influencers, ${partitions} partitions) in ${prefillSeconds.toFixed(1)} s`,
    );
    if (args.warmup) {
      await run(topic, dlqTopic, batchSizes[0], concurrencies[0], maxBytesPerPartitionList[0], maxPendingList[0]);
      console.log('(warm-up run done, not reported)');
    }
    console.log(
      'batch  concurrency  maxBytes/partition  maxPending  seconds    rows/s  flushes  rows/flush  ms/flush  handler CPU s  maxBytes',
    );
    for (const mb of maxBytesList) {
      maxBytes = mb;
      for (const maxBytesPerPartition of maxBytesPerPartitionList) {
        for (const concurrency of concurrencies) {
          for (const maxPending of maxPendingList) {
            for (const batchSize of batchSizes) {
              const r = await run(topic, dlqTopic, batchSize, concurrency, maxBytesPerPartition, maxPending);
              console.log(
                [
                  String(r.batchSize).padStart(5),
                  String(r.concurrency).padStart(12),
                  String(r.maxBytesPerPartition).padStart(19),
                  String(r.maxPending ?? 2 * r.batchSize).padStart(11),
                  r.seconds.toFixed(1).padStart(8),
                  Math.round(r.rowsPerSecond).toString().padStart(9),
                  String(r.flushes).padStart(8),
                  r.meanBatch.toFixed(0).padStart(11),
                  r.meanFlushMs.toFixed(0).padStart(9),
                  r.cpuSeconds.toFixed(1).padStart(14),
                  String(maxBytes).padStart(9),
                ].join(' '),
              );
            }
          }
        }
      }
    }
  } finally {
    await topics.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
