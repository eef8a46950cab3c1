import { bucketOf, countsAt, countsAtBucket, DEFAULT_COUNTS_OPTIONS, profileOf, usernameFor } from '../../src/counts';

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0); // 2026-11-01T12:00:00Z
const DAY = 86_400_000;
const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('countsAt', () => {
  test('is deterministic for the same (id, time, seed)', () => {
    for (const id of [1_000_000, 1_234_567, 1_999_999]) {
      expect(countsAt(id, T0)).toEqual(countsAt(id, T0));
      expect(countsAt(id, new Date(T0), { seed: 7 })).toEqual(countsAt(id, T0, { seed: 7 }));
    }
  });

  test('defaults are seed 42, 1-second buckets, 2% suspicious', () => {
    expect(DEFAULT_COUNTS_OPTIONS).toEqual({ seed: 42, bucketSeconds: 1, suspiciousShare: 0.02 });
    expect(countsAt(1_234_567, T0)).toEqual(
      countsAt(1_234_567, T0, { seed: 42, bucketSeconds: 1, suspiciousShare: 0.02 }),
    );
  });

  test('differs across seeds', () => {
    let differ = 0;
    for (const id of ids(1_000_000, 200)) {
      if (countsAt(id, T0, { seed: 1 }).followerCount !== countsAt(id, T0, { seed: 2 }).followerCount) differ++;
    }
    expect(differ).toBeGreaterThan(190);
  });

  test('is constant within a bucket and equals countsAtBucket', () => {
    const opts = { bucketSeconds: 5 };
    const start = bucketOf(T0, 5) * 5000;
    for (const id of ids(1_500_000, 50)) {
      const first = countsAt(id, start, opts);
      expect(countsAt(id, start + 2_500, opts)).toEqual(first);
      expect(countsAt(id, start + 4_999, opts)).toEqual(first);
      expect(countsAtBucket(id, bucketOf(start, 5), opts)).toEqual(first);
    }
    // ...and moves between buckets far enough apart
    let moved = 0;
    for (const id of ids(1_500_000, 50))
      if (countsAt(id, start).followerCount !== countsAt(id, start + DAY).followerCount) moved++;
    expect(moved).toBeGreaterThan(45);
  });

  test('never negative, always integers, for times from 1970 to far in the future', () => {
    const times = [0, Date.UTC(2000, 0, 1), T0, T0 + 10 * 365 * DAY, T0 + 1000 * 365 * DAY, 8.64e15];
    const bad: unknown[] = [];
    for (const id of ids(1_000_000, 500)) {
      for (const t of times) {
        const c = countsAt(id, t);
        const ok = (n: number) => Number.isSafeInteger(n) && n >= 0;
        if (!ok(c.followerCount) || !ok(c.followingCount)) bad.push({ id, t, c });
      }
    }
    expect(bad).toEqual([]);
  });

  test('is O(1): ten years ahead costs one call (no iteration over buckets)', () => {
    // Constant time by construction: the model uses closed forms (logistic trend, hashed
    // knots and jump windows). This only checks that far times give sane answers.
    const c = countsAt(1_234_567, T0 + 10 * 365 * DAY);
    expect(c.followerCount).toBeGreaterThan(0);
    expect(c.followerCount).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });

  test('spreads base follower counts from hundreds to millions', () => {
    const counts = ids(1_000_000, 5000)
      .map((id) => countsAt(id, T0).followerCount)
      .sort((a, b) => a - b);
    expect(counts[0]).toBeLessThan(1_000);
    expect(counts[counts.length - 1]).toBeGreaterThan(1_000_000);
    const median = counts[counts.length >> 1];
    expect(median).toBeGreaterThan(5_000);
    expect(median).toBeLessThan(100_000);
  });

  test('over a month most influencers grow and some shrink', () => {
    let grew = 0;
    let shrank = 0;
    const population = ids(1_000_000, 2000);
    for (const id of population) {
      const a = countsAt(id, T0).followerCount;
      const b = countsAt(id, T0 + 30 * DAY).followerCount;
      if (b > a) grew++;
      else if (b < a) shrank++;
    }
    expect(grew / population.length).toBeGreaterThan(0.65);
    expect(shrank / population.length).toBeGreaterThan(0.1);
    expect(shrank / population.length).toBeLessThan(0.35);
  });

  test('suspicious influencers jump; the others drift smoothly', () => {
    const population = ids(1_000_000, 3000);
    const suspicious = population.filter((id) => profileOf(id).suspicious).slice(0, 15);
    const normal = population
      .filter((id) => !profileOf(id).suspicious && countsAt(id, T0).followerCount > 2000)
      .slice(0, 15);
    expect(suspicious.length).toBe(15); // ~2% of 3000 ≈ 60
    const step = 5 * 60_000; // sample every 5 minutes for 30 days
    const maxRise = (id: number) => {
      let prev = countsAt(id, T0).followerCount;
      let max = 0;
      for (let t = T0 + step; t <= T0 + 30 * DAY; t += step) {
        const cur = countsAt(id, t).followerCount;
        max = Math.max(max, (cur - prev) / prev);
        prev = cur;
      }
      return max;
    };
    for (const id of suspicious) expect(maxRise(id)).toBeGreaterThan(0.05);
    for (const id of normal) expect(maxRise(id)).toBeLessThan(0.01);
  });

  test('a higher suspicious share only adds suspicious influencers', () => {
    const population = ids(1_000_000, 1000);
    const low = population.filter((id) => profileOf(id, { suspiciousShare: 0.02 }).suspicious);
    const high = new Set(population.filter((id) => profileOf(id, { suspiciousShare: 0.2 }).suspicious));
    expect(low.every((id) => high.has(id))).toBe(true);
    expect(high.size).toBeGreaterThan(150);
    expect(population.filter((id) => profileOf(id, { suspiciousShare: 0 }).suspicious)).toEqual([]);
  });

  test('following counts are small and drift slowly', () => {
    for (const id of ids(1_200_000, 200)) {
      const a = countsAt(id, T0).followingCount;
      const b = countsAt(id, T0 + DAY).followingCount;
      expect(a).toBeGreaterThanOrEqual(40);
      expect(a).toBeLessThanOrEqual(6000);
      expect(Math.abs(b - a)).toBeLessThanOrEqual(Math.max(3, a * 0.03)); // ±8% over a 20+ day cycle
    }
  });

  test('usernames are deterministic, seed-independent and carry the id', () => {
    expect(usernameFor(1_234_567)).toBe(usernameFor(1_234_567));
    expect(usernameFor(1_234_567)).toMatch(/^[a-z]+_1234567$/);
    expect(countsAt(1_234_567, T0, { seed: 1 }).username).toBe(countsAt(1_234_567, T0, { seed: 2 }).username);
    expect(new Set(ids(1_000_000, 1000).map(usernameFor)).size).toBe(1000);
  });

  test('rejects invalid input', () => {
    expect(() => countsAt(0, T0)).toThrow(/positive integer/);
    expect(() => countsAt(1.5, T0)).toThrow(/positive integer/);
    expect(() => countsAt(1, NaN)).toThrow(/finite/);
    expect(() => countsAt(1, T0, { bucketSeconds: 0 })).toThrow(/bucketSeconds/);
    expect(() => countsAt(1, T0, { suspiciousShare: 2 })).toThrow(/suspiciousShare/);
  });
});
