/**
 * One fault's verdict: the slots scheduled in its window against the rows stored for them, and
 * the dead letters it caused.
 */
import type { Pool } from '@mockstagram/shared';
import type { DeadLetter, Observer } from './observer';
import { slotKey } from './observer';

export interface Verdict {
  fault: string;
  /** Distinct (influencer, slot) the scheduler emitted jobs for, with a slot time in the window. */
  scheduled: number;
  /** Of those, slots with a row. */
  stored: number;
  /** Slots with no row. */
  lost: number;
  /** Rows beyond the first for one slot, plus rows in the window for no scheduled slot. */
  duplicated: number;
  /** Slots emitted more than once (a second claim or a re-issue), all absorbed when duplicated is 0. */
  emittedTwice: number;
  /** Poison messages dead-lettered with the reason they must carry. */
  poisonDeadLettered: number;
  /** Poison messages produced in the window that are not in the DLQ (or with another reason). */
  poisonMissing: number;
  /** Dead letters that are no poison: each is a failure. */
  otherDeadLettered: DeadLetter[];
  recoverSeconds: number | undefined;
  /** Processes that exited on their own in the window (the suite started them again): each fails the fault. */
  exits: string[];
  /** A few of the lost and duplicated slots, `id|slot`, to look at. */
  examples: string[];
  ok: boolean;
}

export interface Window {
  fromMs: number;
  toMs: number;
}

/** Rows of follower_counts per slot in the window. */
async function storedSlots(pool: Pool, w: Window): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ influencer_id: number; slot_ms: number; n: number }>(
    `SELECT influencer_id, (extract(epoch FROM observed_at) * 1000)::bigint AS slot_ms, count(*)::int AS n
       FROM follower_counts WHERE observed_at >= to_timestamp($1 / 1000.0) AND observed_at < to_timestamp($2 / 1000.0)
      GROUP BY 1, 2`,
    [w.fromMs, w.toMs],
  );
  return new Map(rows.map((r) => [slotKey(r.influencer_id, r.slot_ms), r.n]));
}

/** How many of the window's scheduled slots, dead-lettered ones aside, have no row yet (for waiting until the pipeline drained). */
export async function missing(pool: Pool, observer: Observer, w: Window): Promise<number> {
  const slots = observer.slotsIn(w.fromMs, w.toMs, { live: true });
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM follower_counts WHERE observed_at >= to_timestamp($1 / 1000.0) AND observed_at < to_timestamp($2 / 1000.0)',
    [w.fromMs, w.toMs],
  );
  return slots.length - rows[0].n;
}

export async function audit(
  fault: string,
  pool: Pool,
  observer: Observer,
  w: Window,
  deadLetters: DeadLetter[],
  poison: Map<string, { reason: string; topic: string }>,
  poisonProduced: string[],
  recoverSeconds: number | undefined,
  exits: string[],
): Promise<Verdict> {
  const slots = observer.slotsIn(w.fromMs, w.toMs);
  const stored = await storedSlots(pool, w);
  let storedSlotsCount = 0;
  let duplicated = 0;
  let emittedTwice = 0;
  const scheduledKeys = new Set<string>();
  const examples: string[] = [];
  const example = (what: string, key: string) => {
    if (examples.length < 6)
      examples.push(`${what} ${key.replace(/\|(\d+)$/, (_, ms: string) => `@${new Date(Number(ms)).toISOString()}`)}`);
  };
  for (const s of slots) {
    const key = slotKey(s.influencerId, s.slotMs);
    scheduledKeys.add(key);
    const n = stored.get(key) ?? 0;
    if (n > 0) storedSlotsCount += 1;
    else example('lost', key);
    if (n > 1) {
      duplicated += n - 1;
      example(`${n} rows for`, key);
    }
    if ((observer.emitted.get(key) ?? 0) > 1) emittedTwice += 1;
  }
  for (const [key, n] of stored) {
    if (scheduledKeys.has(key)) continue;
    duplicated += n;
    example('row for an unscheduled slot', key);
  }

  const poisonSeen = new Set<string>();
  const other: DeadLetter[] = [];
  for (const d of deadLetters) {
    const expected = poison.get(d.key);
    if (expected && expected.reason === d.reason && expected.topic === d.sourceTopic) poisonSeen.add(d.key);
    else other.push(d);
  }
  const poisonMissing = poisonProduced.filter((k) => !poisonSeen.has(k)).length;
  const lost = slots.length - storedSlotsCount;
  return {
    fault,
    scheduled: slots.length,
    stored: storedSlotsCount,
    lost,
    duplicated,
    emittedTwice,
    poisonDeadLettered: poisonSeen.size,
    poisonMissing,
    otherDeadLettered: other,
    recoverSeconds,
    exits,
    examples,
    ok:
      lost === 0 &&
      duplicated === 0 &&
      other.length === 0 &&
      poisonMissing === 0 &&
      recoverSeconds !== undefined &&
      exits.length === 0,
  };
}
