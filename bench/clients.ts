/**
 * `yarn bench clients`: the Node Kafka clients beside Kafka's own tools, same broker, one run,
 * runs interleaved (reference, kafkajs, @platformatic/kafka, then again).
 *
 * - producer: --kafka-messages keyed records of --record-size bytes into a fresh 12-partition
 *   topic, idempotent and acks=all in every case: (a) 12,000 records per call, one call at a time;
 *   (b) 500 per call, 12 callers at once on one producer (as the fetcher's chunks). After every
 *   run the topic's end offsets must add up to exactly the records sent (a client that drops or
 *   duplicates records fails the run instead of reporting a rate). Reference:
 *   org.apache.kafka.tools.ProducerPerformance with acks=all and enable.idempotence=true.
 * - consumer: the (a) topic from the start by a fresh group, all 12 partitions, no work per
 *   message, first message → last. Reference: org.apache.kafka.tools.ConsumerPerformance.
 *
 * CPU per message is the process's (user + system) CPU over the run divided by the records: the
 * bench process for the Node clients (nothing else runs in it meanwhile), the JVM for the tools
 * (start-up and JIT included).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  Consumer as PlatformaticConsumer,
  MessagesStreamModes,
  ProduceAcks,
  Producer as PlatformaticProducer,
  compatibilityPartitioner,
} from '@platformatic/kafka';
import { CompressionTypes, Partitioners, type Message } from 'kafkajs';
import { createTopics, kafkaBrokers, testKafka, uniqueName } from '@mockstagram/testkit';
import { consumerPerformance, kafkaClasspath, kafkajsConsumeRate, producerPerformance, topicEnd } from './lib/kafka';
import type { Report } from './lib/report';

export interface ClientOptions {
  runs: number;
  kafkaMessages: number;
  recordSize: number;
}

interface Rate {
  msgPerSec: number;
  cpuUsPerMsg: number;
}

/** A client under test: produce `count` records through `callers` concurrent callers of `perCall` each; consume a topic. */
interface Client {
  name: string;
  produce(topic: string, keys: Buffer[], value: Buffer, callers: number, perCall: number): Promise<void>;
  consume(topic: string, count: number): Promise<number>;
}

/** Runs `fn` and returns its wall time and this process's CPU time, in seconds. */
async function timed(fn: () => Promise<void>): Promise<{ seconds: number; cpuSeconds: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** Hands out [from, to) slices of `total` to `callers` concurrent loops of `perCall`. */
async function callersOver(
  total: number,
  callers: number,
  perCall: number,
  send: (from: number, to: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (;;) {
        const from = next;
        if (from >= total) return;
        next += perCall;
        await send(from, Math.min(total, from + perCall));
      }
    }),
  );
}

const kafkajsClient = (version: string): Client => ({
  name: `kafkajs ${version}`,
  async produce(topic, keys, value, callers, perCall) {
    // As the services' producer was configured on kafkajs: idempotent, one request in flight, murmur2.
    const producer = testKafka('bench-clients-kafkajs').producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    try {
      await callersOver(keys.length, callers, perCall, async (from, to) => {
        const messages: Message[] = [];
        for (let i = from; i < to; i++) messages.push({ key: keys[i], value });
        await producer.sendBatch({
          topicMessages: [{ topic, messages }],
          acks: -1,
          timeout: 30_000,
          compression: CompressionTypes.None,
        });
      });
    } finally {
      await producer.disconnect();
    }
  },
  consume: kafkajsConsumeRate,
});

function platformaticClient(version: string): Client {
  const base = { bootstrapBrokers: kafkaBrokers(), clientId: 'bench-clients-platformatic' };
  return {
    name: `@platformatic/kafka ${version}`,
    async produce(topic, keys, value, callers, perCall) {
      const producer = new PlatformaticProducer({
        ...base,
        idempotent: true,
        acks: ProduceAcks.ALL,
        partitioner: compatibilityPartitioner,
        autocreateTopics: false,
      });
      try {
        await callersOver(keys.length, callers, perCall, async (from, to) => {
          const messages = [];
          for (let i = from; i < to; i++) messages.push({ topic, key: keys[i], value });
          await producer.send({ messages });
        });
      } finally {
        await producer.close();
      }
    },
    async consume(topic, count) {
      const consumer = new PlatformaticConsumer({ ...base, groupId: uniqueName('bench-clients') });
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: MessagesStreamModes.EARLIEST,
          autocommit: false,
        });
        let seen = 0;
        let first = 0;
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        stream.on('data', () => {
          if (first === 0) first = performance.now();
          if (++seen >= count) done();
        });
        await withTimeout(finished, () => `@platformatic/kafka consumed ${seen} of ${count}`);
        const rate = count / ((performance.now() - first) / 1000);
        await stream.close();
        return rate;
      } finally {
        await consumer.close(true);
      }
    },
  };
}

async function withTimeout(p: Promise<void>, what: () => string, ms = 10 * 60_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what()} within ${ms / 1000} s`)), ms)),
  );
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An installed package's version (read from its package.json, which not every package exports). */
function packageVersion(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The records the end offsets of `topic` add up to. */
async function recordsIn(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return [...(await topicEnd(admin, topic)).values()].reduce((s, n) => s + n, 0);
  } finally {
    await admin.disconnect();
  }
}

export async function clients(o: ClientOptions, report: Report): Promise<void> {
  const { classpath, version } = await kafkaClasspath();
  report.versions.kafka = version;
  const platformaticVersion = packageVersion('@platformatic/kafka');
  report.versions['@platformatic/kafka'] = platformaticVersion;
  report.versions.kafkajs = packageVersion('kafkajs');
  const all = [kafkajsClient(report.versions.kafkajs), platformaticClient(platformaticVersion)];
  const keys = Array.from({ length: o.kafkaMessages }, (_, i) => Buffer.from(String(1_000_000 + (i % 1_000_000))));
  const value = Buffer.alloc(o.recordSize, 'x');
  const shapes = [
    { key: 'bulk', callers: 1, perCall: 12_000, label: '1 caller × 12,000/call' },
    { key: 'callers12', callers: 12, perCall: 500, label: '12 callers × 500/call' },
  ];
  const produced = new Map<string, Rate[]>();
  const consumed = new Map<string, Rate[]>();
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
  const reference = { produce: [] as Rate[], consume: [] as number[] };

  console.log(
    `kafka ${version}; ${o.kafkaMessages} keyed records of ${o.recordSize} B, 12 partitions, idempotent, acks=all`,
  );
  for (let run = 1; run <= o.runs; run++) {
    // Kafka's own tools first, on a topic of their own.
    {
      const topics = await createTopics(['bench-clients-ref'], 12);
      try {
        const p = await producerPerformance(classpath, topics.names[0], o.kafkaMessages, o.recordSize);
        report.command(p.command.replace(topics.names[0], '<fresh 12-partition topic>'));
        const landed = await recordsIn(topics.names[0]);
        if (landed !== o.kafkaMessages)
          throw new Error(`ProducerPerformance: ${landed} records landed, ${o.kafkaMessages} sent`);
        reference.produce.push({ msgPerSec: p.recordsPerSec, cpuUsPerMsg: (p.cpuSeconds / o.kafkaMessages) * 1e6 });
        const c = await consumerPerformance(classpath, topics.names[0], o.kafkaMessages);
        report.command(
          c.command.replace(topics.names[0], '<the same topic>').replace(/bench-cperf-\w+/, '<fresh group>'),
        );
        reference.consume.push(c.fetchMsgPerSec);
        console.log(
          `  run ${run} ProducerPerformance ${Math.round(p.recordsPerSec)} msg/s (${((p.cpuSeconds / o.kafkaMessages) * 1e6).toFixed(1)} µs/msg), ConsumerPerformance ${Math.round(c.fetchMsgPerSec)} msg/s`,
        );
      } finally {
        await topics.remove();
      }
    }
    for (const client of all) {
      const topics = await createTopics(
        shapes.map((s) => `bench-clients-${s.key}`),
        12,
      );
      try {
        for (const [i, shape] of shapes.entries()) {
          const topic = topics.names[i];
          const key = `${client.name} | ${shape.key}`;
          try {
            const t = await timed(() => client.produce(topic, keys, value, shape.callers, shape.perCall));
            const landed = await recordsIn(topic);
            if (landed !== o.kafkaMessages) throw new Error(`${landed} records landed, ${o.kafkaMessages} sent`);
            const rate = {
              msgPerSec: o.kafkaMessages / t.seconds,
              cpuUsPerMsg: (t.cpuSeconds / o.kafkaMessages) * 1e6,
            };
            push(produced, key, rate);
            console.log(
              `  run ${run} ${client.name} ${shape.label}: ${Math.round(rate.msgPerSec)} msg/s, ${rate.cpuUsPerMsg.toFixed(1)} µs CPU/msg`,
            );
          } catch (err) {
            report.fail(`${client.name} producer ${shape.label}, run ${run}`, err);
          }
        }
        try {
          if ((await recordsIn(topics.names[0])) === o.kafkaMessages) {
            let rate = 0;
            const t = await timed(async () => {
              rate = await client.consume(topics.names[0], o.kafkaMessages);
            });
            const cpuUsPerMsg = (t.cpuSeconds / o.kafkaMessages) * 1e6;
            push(consumed, client.name, { msgPerSec: rate, cpuUsPerMsg });
            console.log(
              `  run ${run} ${client.name} consumer: ${Math.round(rate)} msg/s, ${cpuUsPerMsg.toFixed(1)} µs CPU/msg (group join included)`,
            );
          }
        } catch (err) {
          report.fail(`${client.name} consumer, run ${run}`, err);
        }
      } finally {
        await topics.remove();
      }
    }
  }

  report.command(
    `ProducerPerformance / ConsumerPerformance: the devstack's Kafka ${version} tools (bench/lib/kafka.ts), CPU of the JVM from bash's \`times\``,
  );
  report.command(
    `kafkajs: producer({ idempotent: true, maxInFlightRequests: 1, DefaultPartitioner }) + sendBatch (acks -1, no compression); consumer eachBatch, partitionsConsumedConcurrently 12. ` +
      `@platformatic/kafka: new Producer({ idempotent: true, acks: ProduceAcks.ALL, partitioner: compatibilityPartitioner }) + send({ messages }); consumer.consume({ mode: EARLIEST, autocommit: false }), 'data' events. ` +
      `${o.kafkaMessages} records per run, end offsets checked after every producer run.`,
  );
  const add = (key: string, label: string, rates: Rate[]) => {
    if (rates.length === 0) return;
    report.add({
      key: `clients.${key}`,
      label,
      unit: 'msg/s',
      runs: rates.map((r) => r.msgPerSec),
      ceilingKey: key === 'ref.produce' ? undefined : 'clients.ref.produce',
    });
    report.add({
      key: `clients.${key}.cpu`,
      label: `${label}: CPU per message`,
      unit: 'µs',
      runs: rates.map((r) => r.cpuUsPerMsg),
    });
  };
  add('ref.produce', 'ProducerPerformance (idempotent, acks=all)', reference.produce);
  for (const client of all) {
    for (const shape of shapes)
      add(
        `${client.name}.${shape.key}`,
        `${client.name} producer, ${shape.label}`,
        produced.get(`${client.name} | ${shape.key}`) ?? [],
      );
  }
  if (reference.consume.length)
    report.add({
      key: 'clients.ref.consume',
      label: 'ConsumerPerformance (fetch time)',
      unit: 'msg/s',
      runs: reference.consume,
    });
  for (const client of all) {
    const r = consumed.get(client.name) ?? [];
    if (r.length === 0) continue;
    report.add({
      key: `clients.${client.name}.consume`,
      label: `${client.name} consumer`,
      unit: 'msg/s',
      runs: r.map((x) => x.msgPerSec),
      ceilingKey: 'clients.ref.consume',
    });
    report.add({
      key: `clients.${client.name}.consume.cpu`,
      label: `${client.name} consumer: CPU per message (group join included)`,
      unit: 'µs',
      runs: r.map((x) => x.cpuUsPerMsg),
    });
  }
  const medians = new Map(report.measurements.map((m) => [m.key, m.median]));
  report.relateTo(medians);
}
