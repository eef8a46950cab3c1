/**
 * `kafka_consumer_lag{topic,partition}`: how many messages of each assigned partition this
 * member has not yet committed (the partition's end offset − the group's committed offset),
 * asked of the broker when the gauge is scraped, so it is current whenever it is read.
 *
 * @module
 */
import { Gauge, type Registry } from 'prom-client';

/** Lag per partition index, by topic (negative: unknown or not assigned). */
export type LagSource = () => Promise<Map<string, bigint[]>>;

const sources = new WeakMap<Gauge<'topic' | 'partition'>, LagSource>();

/** Creates the lag gauge on `registers`; a {@link Stage} given it as `consumerLag` feeds it. */
export function createConsumerLagGauge(registers: Registry[]): Gauge<'topic' | 'partition'> {
  return new Gauge({
    name: 'kafka_consumer_lag',
    help: 'Messages in the partition not yet committed by this consumer group member (end offset - committed offset), read when scraped',
    labelNames: ['topic', 'partition'] as const,
    registers,
    async collect() {
      const source = sources.get(this);
      if (source === undefined) return;
      const lag = await source().catch(() => undefined);
      if (lag === undefined) return; // not a member right now: the last values stay
      this.reset();
      for (const [topic, partitions] of lag) {
        partitions.forEach((value, partition) => {
          if (value >= 0n) this.set({ topic, partition: String(partition) }, Number(value));
        });
      }
    },
  });
}

/** Makes `gauge` ask `source` when scraped. */
export function attachLagSource(gauge: Gauge<'topic' | 'partition'>, source: LagSource): void {
  sources.set(gauge, source);
}

/** Stops asking (the stage stopped); the gauge keeps its last values. */
export function detachLagSource(gauge: Gauge<'topic' | 'partition'>): void {
  sources.delete(gauge);
}
