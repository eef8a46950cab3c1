/**
 * What the suite watches while the pipeline runs, from outside the services:
 * - every job the scheduler emitted (its own consumer group on the jobs topic, from the start):
 *   the scheduled slots, and how often each was emitted;
 * - every dead-lettered message, with its `x-dlq-*` headers;
 * - which Kafka node leads the pipeline's partitions.
 */
import { decodeFetchJob, readDlqHeaders } from '@mockstagram/shared';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { uniqueName } from '@mockstagram/testkit';

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
  /** Slots whose job was dead-lettered: never stored, counted as lost, not waited for. */
  readonly deadSlots = new Set<SlotKey>();
  /** Messages on the jobs topic that are no job (the suite's poison). */
  notJobs = 0;
  private readonly kafka: Kafka;
  private consumers: Consumer[] = [];
  private admin?: Admin;
  /** Next offset to read, per `${topic}:${partition}`. */
  private readonly next = new Map<string, number>();

  constructor(
    brokers: string,
    private readonly topics: { jobs: string; results: string; dlq: string },
  ) {
    this.kafka = new Kafka({ brokers: brokers.split(','), clientId: 'fault-suite', logLevel: logLevel.NOTHING });
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
        const last = batch.messages[batch.messages.length - 1];
        if (last) this.next.set(`${batch.topic}:${batch.partition}`, Number(last.offset) + 1);
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
      eachMessage: async ({ topic, partition, message }) => {
        this.next.set(`${topic}:${partition}`, Number(message.offset) + 1);
        const info = readDlqHeaders(message.headers);
        const job = info.sourceTopic === this.topics.jobs ? decodeFetchJob(message.value) : undefined;
        if (job?.ok) this.deadSlots.add(slotKey(job.value.influencerId, Date.parse(job.value.scheduledFor)));
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

  /** Resolves once the suite has read the jobs and DLQ topics up to where they ended when called. */
  async catchUp(timeoutMs = 120_000): Promise<void> {
    const ends = await Promise.all(
      [this.topics.jobs, this.topics.dlq].map(async (topic) => ({
        topic,
        offsets: await this.admin!.fetchTopicOffsets(topic),
      })),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = ends.flatMap(({ topic, offsets }) =>
        offsets
          .filter(
            (p) =>
              Number(p.high) > Number(p.low) &&
              (this.next.get(`${topic}:${p.partition}`) ?? Number(p.low)) < Number(p.high),
          )
          .map((p) => `${topic}/${p.partition}`),
      );
      if (behind.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `the suite's own consumers did not read ${behind.join(', ')} to the end within ${timeoutMs / 1000} s`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The slots scheduled with a slot time in [fromMs, toMs); `live`: without those whose job was dead-lettered. */
  slotsIn(fromMs: number, toMs: number, { live = false } = {}): { influencerId: number; slotMs: number }[] {
    const out: { influencerId: number; slotMs: number }[] = [];
    for (const [slotMs, ids] of this.bySlotTime) {
      if (slotMs < fromMs || slotMs >= toMs) continue;
      for (const id of ids)
        if (!live || !this.deadSlots.has(slotKey(id, slotMs))) out.push({ influencerId: id, slotMs });
    }
    return out;
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
