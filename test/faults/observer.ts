/**
 * What the suite watches while the pipeline runs, from outside the services:
 * - every job the scheduler emitted (its own consumer group on the jobs topic, from the start):
 *   the scheduled slots, and how often each was emitted;
 * - every dead-lettered message, with its `x-dlq-*` headers;
 * - the consumer lag of the fetchers' and the result-handler's groups.
 */
import { createKafka, createLogger, decodeFetchJob, readDlqHeaders } from '@mockstagram/shared';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { uniqueName } from '../support/engines';

/** `${influencerId}|${slot in epoch ms}` */
export type SlotKey = string;
export const slotKey = (influencerId: number, slotMs: number): SlotKey => `${influencerId}|${slotMs}`;

export interface DeadLetter {
  key: string;
  value: string;
  reason: string;
  stage: string;
  sourceTopic: string;
  error: string;
  /** When the suite read it (ms). */
  seenAt: number;
}

export class Observer {
  /** Slot → how many jobs were emitted for it. */
  readonly emitted = new Map<SlotKey, number>();
  /** Slots by slot time, for windows: slot ms → influencer ids. */
  private readonly bySlotTime = new Map<number, number[]>();
  readonly deadLetters: DeadLetter[] = [];
  /** Messages on the jobs topic that are no job (the suite's poison). */
  notJobs = 0;
  private readonly kafka: Kafka;
  private consumers: Consumer[] = [];
  private admin?: Admin;

  constructor(
    brokers: string,
    private readonly topics: { jobs: string; results: string; dlq: string },
    private readonly groups: { fetchers: string; handlers: string },
  ) {
    this.kafka = createKafka({ brokers: brokers.split(','), clientId: 'fault-suite', logger: createLogger('fault-suite', 'silent') });
  }

  async start(): Promise<void> {
    const jobs = this.kafka.consumer({ groupId: uniqueName('faults-observer-jobs'), maxBytes: 4 << 20 });
    const dlq = this.kafka.consumer({ groupId: uniqueName('faults-observer-dlq') });
    this.consumers = [jobs, dlq];
    await Promise.all([jobs.connect(), dlq.connect()]);
    await jobs.subscribe({ topic: this.topics.jobs, fromBeginning: true });
    await dlq.subscribe({ topic: this.topics.dlq, fromBeginning: true });
    await jobs.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const job = decodeFetchJob(m.value);
          if (!job.ok) {
            this.notJobs += 1;
            continue;
          }
          const slotMs = Date.parse(job.value.scheduledFor);
          const key = slotKey(job.value.influencerId, slotMs);
          const n = this.emitted.get(key) ?? 0;
          this.emitted.set(key, n + 1);
          if (n === 0) {
            const ids = this.bySlotTime.get(slotMs);
            if (ids) ids.push(job.value.influencerId);
            else this.bySlotTime.set(slotMs, [job.value.influencerId]);
          }
        }
      },
    });
    await dlq.run({
      eachMessage: async ({ message }) => {
        const info = readDlqHeaders(message.headers);
        this.deadLetters.push({
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          reason: info.reason ?? '',
          stage: info.stage ?? '',
          sourceTopic: info.sourceTopic ?? '',
          error: info.error ?? '',
          seenAt: Date.now(),
        });
      },
    });
    this.admin = this.kafka.admin();
    await this.admin.connect();
  }

  /** The slots scheduled with a slot time in [fromMs, toMs). */
  slotsIn(fromMs: number, toMs: number): { influencerId: number; slotMs: number }[] {
    const out: { influencerId: number; slotMs: number }[] = [];
    for (const [slotMs, ids] of this.bySlotTime) {
      if (slotMs >= fromMs && slotMs < toMs) for (const id of ids) out.push({ influencerId: id, slotMs });
    }
    return out;
  }

  /** Consumer lag (end offset − committed offset, summed over partitions) of the fetchers and the result-handler; undefined while Kafka does not answer. */
  async lag(): Promise<{ fetchers: number; handlers: number } | undefined> {
    const admin = this.admin;
    if (!admin) return undefined;
    try {
      const [fetchers, handlers] = await Promise.all([
        this.groupLag(admin, this.groups.fetchers, this.topics.jobs),
        this.groupLag(admin, this.groups.handlers, this.topics.results),
      ]);
      return { fetchers, handlers };
    } catch {
      return undefined;
    }
  }

  private async groupLag(admin: Admin, groupId: string, topic: string): Promise<number> {
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    let lag = 0;
    for (const p of ends) {
      const c = done.get(p.partition) ?? -1;
      lag += Number(p.high) - (c < 0 ? Number(p.low) : c);
    }
    return lag;
  }

  /** The partition leaders of the pipeline's topics: node id → partitions led. */
  async leaders(): Promise<Map<number, number>> {
    const { topics } = await this.admin!.fetchTopicMetadata({ topics: [this.topics.jobs, this.topics.results] });
    const count = new Map<number, number>();
    for (const t of topics) for (const p of t.partitions) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
    return count;
  }

  async stop(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.disconnect().catch(() => undefined)));
    await this.admin?.disconnect().catch(() => undefined);
  }
}
