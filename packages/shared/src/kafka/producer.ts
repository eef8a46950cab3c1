/**
 * The idempotent producer and batch produce.
 *
 * Delivery: `idempotent: true` and acks = all (every in-sync replica), always: a send that
 * resolved is durably stored, and a retried send is not written twice (the broker drops a batch
 * it already has by its per-partition sequence numbers).
 *
 * Concurrent `send` calls on one producer are allowed: the client takes each send's
 * per-partition sequence numbers when the send is dispatched, and sends one produce request at a
 * time per broker connection, in order. When the broker lost the producer's state
 * (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID) the client takes a new producer id and
 * sends the batch again: that resend is at least once, which the consumers absorb (unique keys;
 * a DLQ copy names its source offset). See docs/performance.md, "The Kafka client".
 *
 * Partitioner: the client's `compatibilityPartitioner` (murmur2 of the key, positive, modulo the
 * partition count: the Java client's), so a key lands on the same partition whichever client
 * produced it. Its own default partitioner differs.
 *
 * @module
 */
import {
  CompressionAlgorithms,
  ProduceAcks,
  Producer,
  compatibilityPartitioner,
  type MessageToProduce,
} from '@platformatic/kafka';
import { baseOptions, logConnections, type KafkaClient } from './client';
import { toBuffer, toHeaderMap, type TopicMessages } from './messages';

export const CompressionTypes = { None: 'none', GZIP: 'gzip', Snappy: 'snappy', LZ4: 'lz4', ZSTD: 'zstd' } as const;
export type CompressionType = (typeof CompressionTypes)[keyof typeof CompressionTypes];

export interface ProduceManyOptions {
  /** Default none (CPU is scarcer than bandwidth on the dev machines). */
  compression?: CompressionType;
}

/** Where an acknowledged batch landed: one entry per partition written. */
export interface ProducedOffset {
  topic: string;
  partition: number;
  /** The offset of the first message written to that partition by this send. */
  baseOffset: string;
}

/** An idempotent, acks = all producer. Connects on first use; {@link KafkaProducer.connect} checks the brokers answer. */
export class KafkaProducer {
  private readonly client: Producer<Buffer, Buffer, Buffer, Buffer>;

  constructor(kafka: KafkaClient) {
    this.client = new Producer({
      ...baseOptions(kafka),
      idempotent: true,
      acks: ProduceAcks.ALL,
      partitioner: compatibilityPartitioner,
      autocreateTopics: false,
      compression: CompressionAlgorithms.NONE,
    });
    logConnections(kafka, this.client, 'producer');
  }

  /** Resolves once the cluster's metadata was read (the brokers answer). */
  async connect(): Promise<void> {
    await this.client.metadata({ topics: [] });
  }

  /**
   * Produces messages to one or several topics in one send (one produce request per broker
   * leading a partition of them). Resolves when every message is acknowledged by all in-sync
   * replicas, so committing the consumed offsets afterwards is safe.
   */
  async send(topicMessages: TopicMessages[], options: ProduceManyOptions = {}): Promise<ProducedOffset[]> {
    const messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = [];
    for (const { topic, messages: list } of topicMessages) {
      for (const m of list) {
        messages.push({
          topic,
          key: toBuffer(m.key),
          value: toBuffer(m.value),
          headers: toHeaderMap(m.headers),
          partition: m.partition,
        });
      }
    }
    if (messages.length === 0) return [];
    const compression =
      options.compression === undefined || options.compression === 'none' ? undefined : options.compression;
    const result = await this.client.send(compression === undefined ? { messages } : { messages, compression });
    return (result.offsets ?? []).map((o) => ({
      topic: o.topic,
      partition: o.partition,
      baseOffset: o.offset.toString(),
    }));
  }

  /** True while a connection to a broker is open (for /readyz). */
  get connected(): boolean {
    return this.client.isConnected();
  }

  /** Waits for sends under way, then closes the connections. */
  async disconnect(): Promise<void> {
    await this.client.close();
  }
}

/** Creates an idempotent, acks = all producer (see the module comment). */
export function createProducer(kafka: KafkaClient): KafkaProducer {
  return new KafkaProducer(kafka);
}

/**
 * Produces many messages, to one or several topics, in ONE send, acks = all. Resolves when every
 * message is acknowledged. Each partition's share must fit the broker's `message.max.bytes`
 * (1 MiB by default), about 5,000 of our ~200-byte messages: split larger batches.
 */
export async function produceMany(
  producer: KafkaProducer,
  topicMessages: TopicMessages | TopicMessages[],
  options: ProduceManyOptions = {},
): Promise<ProducedOffset[]> {
  const list = (Array.isArray(topicMessages) ? topicMessages : [topicMessages]).filter((t) => t.messages.length > 0);
  if (list.length === 0) return [];
  return producer.send(list, options);
}
