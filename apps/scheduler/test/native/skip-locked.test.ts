/**
 * Two schedulers claiming at the same moment on separate sessions of a real server: `FOR UPDATE
 * SKIP LOCKED` skips the rows the other's open transaction holds instead of waiting for it, and
 * no (influencer, slot) is ever claimed twice. (PGlite has one session: there the second claim
 * waits for the first, which is why these run on the native engine only.)
 */
import type { PoolClient } from 'pg';
import { InfluencerRegistry } from '../../src/registry';
import { REGISTRY_DEFAULTS } from '../../src/config';
import { claimDueInfluencers, type ClaimedSlot } from '../../src/sql/claimDueInfluencers';
import { migratedSchema, type RegistryDb } from '../support';

let db: RegistryDb;

beforeAll(async () => {
  db = await migratedSchema('sched_skip');
});
afterAll(async () => {
  await db?.close();
});

/** Fails instead of hanging when the claim waits for another session. */
function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${ms} ms: it waited for the other session's locks`)),
      ms,
    );
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

test('a claim while another session holds claimed rows skips them at once and takes the rest', async () => {
  await db.pool.query('TRUNCATE influencers');
  await new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool: db.pool }).register(
    { range: { from: 1, to: 100 } },
    { spread: false, intervalSeconds: 60 },
  );
  const a = await db.pool.connect();
  const b = await db.pool.connect();
  try {
    await a.query('BEGIN');
    const first = await claimDueInfluencers(a, 60);
    expect(first).toHaveLength(60);

    await b.query('BEGIN');
    const second = await withinMs(claimDueInfluencers(b, 100), 5000, 'the second claim');
    expect(second).toHaveLength(40);
    const ids = new Set(first.map((c) => c.id));
    expect(second.filter((c) => ids.has(c.id))).toEqual([]);

    await Promise.all([a.query('COMMIT'), b.query('COMMIT')]);
    // Every slot moved on by one interval: nothing is due any more.
    expect(await claimDueInfluencers(db.pool, 1000)).toEqual([]);
  } finally {
    a.release();
    b.release();
  }
});

test('two sessions claiming in rounds for 4 s never claim an (influencer, slot) twice', async () => {
  await db.pool.query('TRUNCATE influencers');
  await new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool: db.pool }).register(
    { range: { from: 1, to: 300 } },
    { spread: false, intervalSeconds: 1 },
  );
  const claims: ClaimedSlot[][] = [[], []];
  const until = Date.now() + 4000;
  const worker = async (client: PoolClient, into: ClaimedSlot[]) => {
    while (Date.now() < until) {
      await client.query('BEGIN');
      const claimed = await withinMs(claimDueInfluencers(client, 50), 5000, 'a claim');
      // Hold the rows a moment, as the scheduler does while Kafka acknowledges the jobs.
      await new Promise((r) => setTimeout(r, 10));
      await client.query('COMMIT');
      into.push(...claimed);
    }
  };
  const sessions = [await db.pool.connect(), await db.pool.connect()];
  try {
    await Promise.all(sessions.map((s, i) => worker(s, claims[i])));
  } finally {
    for (const s of sessions) s.release();
  }

  const all = claims.flat();
  const keys = all.map((c) => `${c.id}@${c.slot.toISOString()}`);
  expect(new Set(keys).size).toBe(keys.length);
  // Both sessions really claimed, and each influencer's slots followed one another.
  expect(claims[0].length).toBeGreaterThan(0);
  expect(claims[1].length).toBeGreaterThan(0);
  const byId = new Map<number, number[]>();
  for (const c of all) byId.set(c.id, [...(byId.get(c.id) ?? []), c.slot.getTime()]);
  expect(byId.size).toBe(300);
  for (const slots of byId.values()) {
    slots.sort((x, y) => x - y);
    for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBeGreaterThanOrEqual(1000);
  }
});
