/**
 * `kafka_consumer_lag{topic,partition}`: how many messages of each assigned partition this
 * member has not yet committed (the partition's end offset − the group's committed offset),
 * asked of the broker when the gauge is scraped, so it is current whenever it is read.
 *
 * @module
 */
import type { Gauge } from 'prom-client';

/** Lag per partition index, by topic (negative: unknown or not assigned). */
export type LagSource = () => Promise<Map<string, bigint[]>>;

const sources = new WeakMap<Gauge<'topic' | 'partition'>, LagSource>();

export const CONSUMER_LAG_HELP =
  'Messages in the partition not yet committed by this consumer group member (end offset - committed offset), read when scraped';

/**
 * The lag gauge's `collect` (prom-client calls it, with the gauge as `this`, on every scrape):
 * asks the source a {@link Stage} attached; keeps the last values while there is none or it
 * fails (not a member right now). Declare the gauge as
 * `new Gauge({ name: 'kafka_consumer_lag', help: CONSUMER_LAG_HELP, labelNames: ['topic', 'partition'], collect: collectConsumerLag })`.
 */
export async function collectConsumerLag(this: Gauge<'topic' | 'partition'>): Promise<void> {
  const source = sources.get(this);
  if (source === undefined) return;
  const lag = await source().catch(() => undefined);
  if (lag === undefined) return;
  this.reset();
  for (const [topic, partitions] of lag) {
    partitions.forEach((value, partition) => {
      if (value >= 0n) this.set({ topic, partition: String(partition) }, Number(value));
    });
  }
}

/** Makes `gauge` ask `source` when scraped. */
export function attachLagSource(gauge: Gauge<'topic' | 'partition'>, source: LagSource): void {
  sources.set(gauge, source);
}

/** Stops asking (the stage stopped); the gauge keeps its last values. */
export function detachLagSource(gauge: Gauge<'topic' | 'partition'>): void {
  sources.delete(gauge);
}
